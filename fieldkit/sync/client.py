"""The laptop's sync client (httpx): enrol once, then push the outbox and pull the feed.

It is given what it works on — a :class:`TokenStore` for the device token, an
:class:`Outbox` of pending ops and a :class:`FeedStore` for the work orders — so the store,
the keyring and the tests each supply their own. Every batch's answers are recorded (one
``Outbox.mark`` call, one local transaction) before the next batch goes, and every pulled
page is applied with its cursor (one ``FeedStore.apply`` call), so an interrupted sync
resumes where it stopped; re-sent ops are answered ``duplicate`` by the server.

Network errors, timeouts, 5xx and 429 are retried with full-jitter back-off (a random wait
in ``[0, min(cap, base · 2^attempt)]``, or the server's ``Retry-After``), a bounded number of
times. Any other refusal stops the sync with one line saying why, and nothing pending is
lost. The server's clock (the ``server_time`` field, else the ``Date`` header) comes back as
:class:`TrustedTime`, a reference for the laptop's clock check.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
import pydantic_core

from fieldkit.sync.schema import (
    MAX_PUSH_OPS,
    SCHEMA_VERSION,
    EnrollmentDocument,
    EnrollRequestDocument,
    SchemaError,
    SyncOpResultDoc,
    SyncPullDocument,
    SyncPushResultDocument,
    load_document,
)

__all__ = [
    "Credentials",
    "FeedStore",
    "Outbox",
    "PendingOp",
    "Rejection",
    "ServerUnreachable",
    "SyncClient",
    "SyncError",
    "SyncRefused",
    "SyncResult",
    "TokenStore",
    "TrustedTime",
    "enroll",
]

API = "/api/v1"
MAX_BODY_BYTES = 1_000_000  # the server takes 1 MiB; keep a margin for the envelope


class SyncError(Exception):
    """Sync could not go on (no server, revoked device, version mismatch); one line.

    ``result``, when set, is what the sync had done before it stopped (all of it kept)."""

    result: SyncResult | None = None


class ServerUnreachable(SyncError):
    """No answer from the server (refused, cut, timed out, or 5xx/429 every attempt)."""


class SyncRefused(SyncError):
    """The server answered and refused (revoked token, version mismatch, bad request)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What enrolment gives a laptop: the server, its device id and its (secret) token."""

    server_url: str
    device_id: str
    token: str
    technician: str

    def __repr__(self) -> str:  # never print the token
        return (
            f"Credentials({self.server_url!r}, {self.device_id!r}, technician={self.technician!r})"
        )


class TokenStore(Protocol):
    """Where the device token lives (the OS keyring; a file on a headless machine)."""

    def save(self, credentials: Credentials) -> None:
        """Keep the credentials (replacing any earlier ones)."""

    def load(self) -> Credentials | None:
        """The kept credentials, if the laptop is enrolled."""


@dataclass(frozen=True, slots=True)
class PendingOp:
    """One outbox op as stored: its id, kind and document (a JSON object)."""

    op_id: str
    kind: str
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """An op the server will never take, and why (show it; do not re-send it)."""

    op_id: str
    code: str | None
    reason: str | None


class Outbox(Protocol):
    """The laptop's outbox."""

    def pending(self, limit: int) -> Sequence[PendingOp]:
        """Up to ``limit`` pending ops, oldest first."""

    def mark(self, acknowledged: Sequence[str], rejected: Sequence[Rejection]) -> None:
        """Record one batch's answers in one transaction (``retry`` ops stay pending)."""

    def count_pending(self) -> int:
        """How many ops are still pending."""


class FeedStore(Protocol):
    """The laptop's copy of the technician's work orders, and the feed cursor."""

    def cursor(self) -> int:
        """The cursor saved with the last applied page (0 before the first pull)."""

    def apply(self, page: SyncPullDocument) -> None:
        """Upsert the page's work orders, accounts and meters, drop its removals, and save
        ``page.cursor`` — all in one transaction."""

    def reset(self) -> None:
        """Forget every pulled work order and set the cursor to 0 (never touches the outbox)."""


@dataclass(frozen=True, slots=True)
class TrustedTime:
    """The server's clock when it answered, and the laptop's at the same moment."""

    server_time: datetime
    local_time: datetime

    @property
    def offset_seconds(self) -> float:
        """``local − server``: positive when the laptop's clock is fast."""
        return (self.local_time - self.server_time).total_seconds()


@dataclass
class SyncResult:
    """What one sync did."""

    sent: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    retry: list[Rejection] = field(default_factory=list)
    pending: int = 0
    flagged: dict[str, list[str]] = field(default_factory=dict)
    work_orders: int = 0
    removals: int = 0
    cursor: int = 0
    batches: int = 0
    attempts: int = 0
    trusted_time: TrustedTime | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the sync ran to its end (rejected ops do not make it fail)."""
        return self.error is None


def _now() -> datetime:
    return datetime.now(UTC)


class SyncClient:
    """Push and pull for one enrolled device.

    ``http`` may be any ``httpx.Client`` (tests pass one with a faulting transport);
    ``sleep`` and ``rng`` make the back-off testable.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 600.0,
        max_ops: int = MAX_PUSH_OPS,
        max_body_bytes: int = MAX_BODY_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.credentials = credentials
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_ops = max_ops
        self.max_body_bytes = max_body_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._clock = clock
        self._base = credentials.server_url.rstrip("/") + API

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- one request, retried -------------------------------------------------------

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (after := response.headers.get("retry-after")):
            try:
                return min(self.backoff_cap, max(0.0, float(after)))
            except ValueError:
                pass
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    def _request(self, result: SyncResult, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer to one request, retrying what may succeed later; SyncError otherwise."""
        headers = {"Authorization": f"Bearer {self.credentials.token}", **kwargs.pop("headers", {})}
        last = "no attempt"
        for attempt in range(self.max_attempts):
            response: httpx.Response | None = None
            result.attempts += 1
            try:
                response = self._http.request(method, self._base + path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                last = f"cannot reach {self.credentials.server_url}: {type(exc).__name__}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    raise SyncRefused(_refusal(response))
                last = f"the server answered {response.status_code}"
            if attempt + 1 < self.max_attempts:
                self._sleep(self._backoff(attempt, response))
        raise ServerUnreachable(
            f"{last} (gave up after {self.max_attempts} attempts; nothing is lost)"
        )

    def _keep_time(
        self, result: SyncResult, response: httpx.Response, server_time: datetime | None
    ) -> None:
        moment = server_time
        if moment is None and (header := response.headers.get("date")):
            try:
                moment = parsedate_to_datetime(header)
            except (TypeError, ValueError):
                moment = None
        if moment is not None:
            result.trusted_time = TrustedTime(moment.astimezone(UTC), self._clock())

    # --- push -----------------------------------------------------------------------

    def _batch(
        self, ops: Sequence[PendingOp]
    ) -> tuple[list[bytes], list[PendingOp], list[PendingOp]]:
        """The encoded ops that fit one request, those ops, and any too large ever to fit."""
        encoded: list[bytes] = []
        taken: list[PendingOp] = []
        too_large: list[PendingOp] = []
        size = 200
        for op in ops:
            body = pydantic_core.to_json(
                {"op_id": op.op_id, "kind": op.kind, "document": op.document}
            )
            if len(body) + 200 > self.max_body_bytes:
                if not taken:
                    too_large.append(op)
                    continue
                break
            if size + len(body) + 1 > self.max_body_bytes or len(taken) >= self.max_ops:
                break
            encoded.append(body)
            taken.append(op)
            size += len(body) + 1
        return encoded, taken, too_large

    def push(self, outbox: Outbox, result: SyncResult | None = None) -> SyncResult:
        """Send every pending op, batch by batch, recording each batch's answers."""
        result = result or SyncResult()
        while True:
            ops = outbox.pending(self.max_ops)
            if not ops:
                break
            encoded, taken, too_large = self._batch(ops)
            if too_large:
                refused = [
                    Rejection(op.op_id, "too_large", "the op is larger than a push may be")
                    for op in too_large
                ]
                outbox.mark([], refused)
                result.rejected.extend(refused)
                continue
            body = b'{"schema_version":%d,"document":"sync_push","device_id":%s,"ops":[%s]}' % (
                SCHEMA_VERSION,
                json.dumps(self.credentials.device_id).encode(),
                b",".join(encoded),
            )
            response = self._request(
                result,
                "POST",
                "/sync/push",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            result.sent += len(taken)
            answer = _document(response, SyncPushResultDocument)
            self._keep_time(result, response, answer.server_time)
            result.batches += 1
            acknowledged, rejected, retry = _sort(answer.results, taken)
            outbox.mark(acknowledged, rejected)
            result.acknowledged += len(acknowledged)
            result.duplicates += sum(1 for r in answer.results if r.status == "duplicate")
            result.rejected.extend(rejected)
            for item in answer.results:
                if item.flags and item.status in ("applied", "duplicate"):
                    result.flagged[item.op_id] = list(item.flags)
            if retry:
                result.retry.extend(retry)
                break  # the server asked for these later: stop here, keep the order
        result.pending = outbox.count_pending()
        return result

    # --- pull -----------------------------------------------------------------------

    def pull(self, feed: FeedStore, result: SyncResult | None = None) -> SyncResult:
        """Apply the technician's feed page by page from the saved cursor."""
        result = result or SyncResult()
        reset_once = False
        while True:
            cursor = feed.cursor()
            try:
                response = self._request(result, "GET", "/sync/pull", params={"cursor": cursor})
            except _CursorAhead:
                if reset_once:
                    raise SyncError(
                        "the server's feed is behind this laptop twice in a row"
                    ) from None
                feed.reset()
                reset_once = True
                continue
            page = _document(response, SyncPullDocument)
            self._keep_time(result, response, page.server_time)
            feed.apply(page)
            result.work_orders += len(page.work_orders)
            result.removals += len(page.removals)
            result.cursor = page.cursor
            if not page.more:
                return result

    def sync(self, outbox: Outbox, feed: FeedStore) -> SyncResult:
        """Push, then pull (so the pulled orders show the server's verdict on the pushes).

        A failure is reported in ``SyncResult.error``, not raised: what was done is kept.
        """
        result = SyncResult()
        try:
            self.push(outbox, result)
            self.pull(feed, result)
        except SyncError as exc:
            result.error = str(exc)
            result.pending = outbox.count_pending()
        return result


class _CursorAhead(SyncRefused):
    """409 cursor_ahead: the server was restored; start the feed again."""


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(response: httpx.Response) -> str | None:
    detail = _body(response).get("detail")
    return detail if isinstance(detail, str) else None


def _refusal(response: httpx.Response) -> str:
    body = _body(response)
    code = body.get("code")
    detail = body.get("detail")
    if response.status_code == 409 and code == "cursor_ahead":
        raise _CursorAhead(str(detail))
    if response.status_code == 401:
        return f"the server refused this device's token ({detail or 'unauthorized'}): enrol again"
    text = detail if isinstance(detail, str) else response.reason_phrase
    return f"the server refused the sync ({response.status_code} {code or ''}): {text}".replace(
        " )", ")"
    )


def _document(response: httpx.Response, kind: type[Any]) -> Any:
    try:
        data = response.json()
    except ValueError:
        raise SyncError("the server's answer is not JSON") from None
    try:
        document = load_document(data, source="the server's answer")
    except SchemaError as exc:
        raise SyncError(str(exc)) from None
    if not isinstance(document, kind):
        raise SyncError(f"the server answered a {type(document).__name__}, not a {kind.__name__}")
    return document


def _sort(
    results: Sequence[SyncOpResultDoc], sent: Sequence[PendingOp]
) -> tuple[list[str], list[Rejection], list[Rejection]]:
    """Acknowledged op ids, rejections and retries; every op sent must have its answer."""
    by_id = {r.op_id: r for r in results}
    acknowledged: list[str] = []
    rejected: list[Rejection] = []
    retry: list[Rejection] = []
    for op in sent:
        answer = by_id.get(op.op_id)
        if answer is None:
            retry.append(Rejection(op.op_id, "no_answer", "the server did not answer this op"))
        elif answer.status in ("applied", "duplicate"):
            acknowledged.append(op.op_id)
        elif answer.status == "rejected":
            rejected.append(Rejection(op.op_id, answer.code, answer.reason))
        else:
            retry.append(Rejection(op.op_id, answer.code, answer.reason))
    return acknowledged, rejected, retry


def enroll(
    server_url: str,
    code: str,
    device_name: str,
    store: TokenStore,
    *,
    http: httpx.Client | None = None,
    timeout: float = 30.0,
) -> Credentials:
    """Spend a one-time code on this laptop: its device token, saved in ``store``."""
    request = EnrollRequestDocument(code=code.strip(), device_name=device_name)
    client = http or httpx.Client(timeout=timeout)
    try:
        response = client.post(
            server_url.rstrip("/") + API + "/devices/enroll",
            content=request.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )
    except httpx.TransportError as exc:
        raise ServerUnreachable(f"cannot reach {server_url}: {type(exc).__name__}") from None
    finally:
        if http is None:
            client.close()
    if response.status_code == 401:
        # The code, not a token, is what enrolment sends: the way out is a new code.
        detail = _detail(response) or "the enrolment code was refused"
        raise SyncRefused(f"{detail}: ask the office for a new code")
    if response.status_code >= 400:
        raise SyncRefused(_refusal(response))
    answer: EnrollmentDocument = _document(response, EnrollmentDocument)
    credentials = Credentials(
        server_url.rstrip("/"), answer.device_id, answer.token, answer.technician
    )
    store.save(credentials)
    return credentials
