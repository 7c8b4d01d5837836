"""The ANSI C12.18 driver: one optical-port session that reads the site table set.

It opens the port, runs the session (Identify → Negotiate → Logon → [Security]), reads ST0
first and then only the tables ST0 lists as used, and hands the bytes to
:func:`~fieldkit.drivers.c1218.snapshot.build_snapshot`. When no meter profile matches the
meter, it also reads the standard source tables (ST11, ST12, ST15, ST16) so the snapshot can
name per-phase values and registers from the meter's own description. A table the meter refuses
(``onp``, ``iar``, ``sns``, ``isc``) becomes an ``unavailable`` item with the reason and the
read carries on; a dead link, a silent port or a wrong password ends the read with a typed
error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from types import TracebackType
from typing import Self, TypeVar

from fieldkit.drivers.base import (
    CancelToken,
    LinkStats,
    Procedure,
    ProcedureResult,
    Progress,
    ProgressCallback,
    SetClock,
    Stage,
)
from fieldkit.drivers.c1218 import procedures
from fieldkit.drivers.c1218 import tables as t
from fieldkit.drivers.c1218.client import C1218Client, ClientStats, SessionConfig
from fieldkit.drivers.c1218.link import LinkConfig
from fieldkit.drivers.c1218.profile import MeterProfile, ProfileRegistry
from fieldkit.drivers.c1218.services import MalformedResponse, ResponseCode
from fieldkit.drivers.c1218.session import Request, Service, declines_partial_reads
from fieldkit.drivers.c1218.snapshot import STANDARD_ROUTE_TABLES, TableSet, build_snapshot
from fieldkit.drivers.errors import (
    DecodeError,
    DriverError,
    LinkError,
    MeterRefused,
    NoResponse,
    ReadCancelled,
    SecurityDenied,
    SessionLost,
)
from fieldkit.drivers.transport import Transport, open_transport
from fieldkit.model import FrameDirection, FrameRecord, MeterProtocol, MeterSnapshot, as_utc

__all__ = ["SITE_TABLES", "STANDARD_ROUTE_READS", "C1218Driver", "C1218Options", "C1218Session"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# What a site visit reads, in order (reference §2.10). Item names are the snapshot's.
SITE_TABLES: tuple[tuple[int, str], ...] = (
    (3, "status"),
    (5, "meter_id"),
    (52, "clock"),
    (21, "registers"),
    (22, "registers"),
    (23, "registers"),
    (27, "phases"),
    (28, "phases"),
    (71, "events"),
    (74, "events"),
    (76, "events"),
)

# Read only without a profile, and only when ST0 lists ST11, ST12 and ST16; ST15 is optional.
STANDARD_ROUTE_READS: tuple[tuple[int, str], ...] = (
    (11, "phases"),
    (12, "phases"),
    (15, "phases"),
    (16, "phases"),
)


# ST8 is read again while the procedure is still running (result 1) or answers an older
# request; 500 ms apart keeps the session alive (the meter's traffic timeout is 6 s).
_PROCEDURE_POLLS = 20
_PROCEDURE_POLL_SECONDS = 0.5

# Services as the technician sees them in the progress line.
_STAGES: dict[Service, Stage] = {
    Service.IDENTIFY: Stage.IDENTIFY,
    Service.NEGOTIATE: Stage.NEGOTIATE,
    Service.LOGON: Stage.LOGON,
    Service.SECURITY: Stage.LOGON,
    Service.READ: Stage.READ,
    Service.READ_PARTIAL: Stage.READ,
}

# Tables that only help build another table's item (ST15 constants, ST22/ST27 source
# selections, the ST74 history beside the ST76 event log). When the meter does not list one,
# or refuses it, the item is still built from the tables that carry it, or explained by
# what is missing from those.
_COMPANIONS = frozenset({15, 22, 27, 74})


@dataclass(frozen=True, slots=True)
class C1218Options:
    """How to talk to the meter; the defaults follow C12.18."""

    link: LinkConfig = field(default_factory=LinkConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    meter_tz: tzinfo | None = None  # None: the meter keeps the laptop's local time
    read_events: bool = True
    rts: bool = True
    dtr: bool = False


class C1218Driver:
    """A C12.18 meter on one port: makes :class:`C1218Session`\\ s (the MeterDriver protocol)."""

    def __init__(
        self,
        url: str,
        options: C1218Options | None = None,
        *,
        profiles: ProfileRegistry | None = None,
        transport_factory: Callable[[str], Transport] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.options = options or C1218Options()
        self.profiles = profiles or ProfileRegistry.default()
        self._transport_factory = transport_factory or self._open_port
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._sleep = sleep
        self.last_stats: LinkStats | None = None

    @property
    def protocol(self) -> MeterProtocol:
        """Always C12.18."""
        return MeterProtocol.C1218

    @property
    def port(self) -> str:
        """The port URL sessions open."""
        return self.url

    @property
    def last_session_seconds(self) -> float | None:
        """Identify to Terminate of the last read (port open and close excluded)."""
        return None if self.last_stats is None else self.last_stats.session_seconds

    def _open_port(self, url: str) -> Transport:
        return open_transport(url, rts=self.options.rts, dtr=self.options.dtr)

    def session(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> C1218Session:
        """A new, unopened session on the port."""
        return C1218Session(self, progress=progress, cancel=cancel)

    def read_snapshot(self) -> MeterSnapshot:
        """One session that reads the snapshot; raises DriverError (tests, benchmarks)."""
        session = self.session()
        try:
            with session:
                return session.read_snapshot()
        finally:
            self.last_stats = session.stats


class C1218Session:
    """One optical-port session: open with ``with``, then read and run procedures in it."""

    def __init__(
        self,
        driver: C1218Driver,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self._driver = driver
        self._options = driver.options
        self._progress = progress
        self._cancel = cancel
        self._frames: list[FrameRecord] = []
        self._transport: Transport | None = None
        self._client: C1218Client | None = None
        self._start = driver._monotonic()
        self._session_start: float | None = None
        self._session_seconds: float | None = None
        self._tables = TableSet()
        self._profile: MeterProfile | None = None
        self._cfg: t.GeneralConfig | None = None
        self._item: str | None = None
        self._items_done = 0
        self._items_total: int | None = None
        self._procedure_seq = 0
        self._plan: list[tuple[int, str]] = []
        self._last_read: int | None = None  # the last table that came in whole
        self._clock_uncertainty: float | None = None

    # --- the MeterSession protocol ---------------------------------------------------------

    @property
    def frames(self) -> tuple[FrameRecord, ...]:
        """Every frame so far, passwords redacted."""
        return tuple(self._frames)

    @property
    def stats(self) -> LinkStats:
        """What the session has cost so far."""
        cs = ClientStats() if self._client is None else self._client.stats
        seconds = self._session_seconds
        if seconds is None and self._session_start is not None:
            seconds = self._driver._monotonic() - self._session_start
        return LinkStats(
            bytes_tx=cs.bytes_tx,
            bytes_rx=cs.bytes_rx,
            round_trips=cs.round_trips,
            retransmissions=cs.retransmissions,
            naks_sent=cs.naks_sent,
            restarts=cs.restarts,
            busy_retries=cs.busy_retries,
            session_seconds=seconds,
        )

    def __enter__(self) -> Self:
        if self._cancel is not None:
            self._cancel.check()
        self._report(Stage.CONNECT, self._driver.url)
        self._transport = self._driver._transport_factory(self._driver.url)
        self._client = C1218Client(
            self._transport,
            self._options.link,
            self._options.session,
            clock=self._driver._monotonic,
            sleep=self._sleep,
            on_frame=self._record,
            on_request=self._on_request,
            cancel=None if self._cancel is None else self._cancel.check,
        )
        self._session_start = self._driver._monotonic()
        try:
            self._client.open()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def read_snapshot(self) -> MeterSnapshot:
        """Read the site table set and return the snapshot (raw frames included).

        A link or session lost mid-read raises the same error type with a message that says
        where the read stopped and how much of it was done; :meth:`partial_snapshot` then
        holds every item read so far.
        """
        client = self._require_client()
        self._tables = TableSet()
        self._plan = []
        self._last_read = None
        try:
            self._read_tables(client)
        except (NoResponse, SessionLost, LinkError, ReadCancelled) as exc:
            raise self._stopped(exc) from None
        return self._build(incomplete=None)

    def partial_snapshot(self, reason: str) -> MeterSnapshot | None:
        """What was read before a failure; None until ST0 and ST1 are both in.

        Every planned item that was not read is listed as unavailable with ``reason``.
        """
        ts = self._tables
        if 0 not in ts.tables or 1 not in ts.tables:
            return None
        for table_id, item in self._plan:
            if table_id not in ts.tables and table_id not in _COMPANIONS:
                ts.missing(item, f"not read: {reason}")
        try:
            return self._build(incomplete=reason)
        except DecodeError:
            return None

    def _stopped(self, exc: DriverError) -> DriverError:
        """``exc`` again, saying in plain words where the read stopped and what it has."""
        if self._items_total is None or 0 not in self._tables.tables:
            return exc  # nothing of the snapshot yet: the error says it all
        read = sum(1 for n in self._tables.tables if n in self._planned_ids())
        total = self._items_total
        after = "" if self._last_read is None else f" after ST{self._last_read}"
        counted = f"{read} of {total} items read"
        if isinstance(exc, ReadCancelled):
            return ReadCancelled(f"{exc.message}{after}; {counted}", hint=exc.hint)
        if isinstance(exc, SessionLost | NoResponse):
            what = f"the meter stopped answering{after}"
        else:
            what = f"the link to the meter failed{after}"
        return type(exc)(f"{what}; {counted}: {exc.message}", hint=exc.hint)

    def _planned_ids(self) -> set[int]:
        return {0, 1} | {n for n, _ in self._plan}

    def run_procedure(self, procedure: Procedure) -> ProcedureResult:
        """SP10 (set clock) or SP9 (demand reset) through ST7/ST8, in this session."""
        client = self._require_client()
        cfg = self._config(client)
        number = (
            procedures.SP_SET_DATE_TIME
            if isinstance(procedure, SetClock)
            else procedures.SP_REMOTE_RESET
        )
        if not cfg.runs_procedure(number):
            raise MeterRefused(
                f"the meter does not list standard procedure {number} "
                f"({procedure.name.replace('_', ' ')}) in ST0",
                code=int(ResponseCode.ONP),
                service="procedure",
                table=7,
            )
        if isinstance(procedure, SetClock):
            parameters = self._clock_parameters(client, cfg, procedure.reference)
        else:
            parameters = procedures.demand_reset_parameters()
        self._report(Stage.PROCEDURE, procedure.name.replace("_", " "))
        sequence = self._next_sequence(client, cfg, number)
        request = procedures.encode_st7(number, sequence, parameters, cfg)
        client.write_table(7, request)
        answer = self._procedure_answer(client, cfg, number, sequence)
        return ProcedureResult(
            procedure=procedure.name,
            code=answer.result_code,
            message=answer.meaning,
            response=answer.data,
        )

    # --- inside -------------------------------------------------------------------------

    @property
    def _sleep(self) -> Callable[[float], None]:
        return self._driver._sleep

    def _require_client(self) -> C1218Client:
        if self._client is None:
            raise RuntimeError("open the session first: with driver.session() as session")
        return self._client

    def _record(self, direction: FrameDirection, data: bytes, at: float) -> None:
        self._frames.append(FrameRecord(direction, data, at - self._start))

    def _on_request(self, request: Request) -> None:
        stage = _STAGES.get(request.service)
        if stage is None:
            return
        item = self._item if stage is Stage.READ else None
        self._report(stage, item)

    def _report(self, stage: Stage, item: str | None) -> None:
        if self._progress is None:
            return
        cs = ClientStats() if self._client is None else self._client.stats
        self._progress(
            Progress(
                stage=stage,
                item=item,
                bytes_tx=cs.bytes_tx,
                bytes_rx=cs.bytes_rx,
                round_trips=cs.round_trips,
                items_done=self._items_done,
                items_total=self._items_total,
                baud=None if self._client is None else self._client.port_baud,
            )
        )

    def _close(self) -> None:
        client, transport = self._client, self._transport
        cancelled = self._cancel is not None and self._cancel.cancelled
        try:
            if client is not None and not cancelled:
                self._report(Stage.CLOSE, None)
                client.close()
        finally:
            # Whatever interrupts the goodbye (a second Ctrl-C, a failing progress display),
            # the port is let go: otherwise the next read cannot open it.
            if self._session_start is not None and self._session_seconds is None:
                self._session_seconds = self._driver._monotonic() - self._session_start
            if transport is not None:
                self._transport = None
                transport.close()

    def _build(self, *, incomplete: str | None) -> MeterSnapshot:
        ts = self._tables
        return build_snapshot(
            ts,
            profile=self._profile,
            read_at=self._driver._wall_clock(),
            meter_tz=self._options.meter_tz,
            frames=tuple(self._frames),
            incomplete=incomplete,
        )

    def _config(self, client: C1218Client) -> t.GeneralConfig:
        if self._cfg is None:
            self._item = t.table_label(0)
            raw, cfg = self._essential(client, 0, lambda: self._read_st0(client), t.decode_st0)
            self._tables.tables[0] = raw
            self._last_read = 0
            self._cfg = cfg
        return self._cfg

    def _essential(
        self,
        client: C1218Client,
        table_id: int,
        read: Callable[[], bytes],
        decode: Callable[[bytes], T],
    ) -> tuple[bytes, T]:
        """An identity table: asked for once more when malformed, then the read ends."""
        try:
            raw = read()
            return raw, decode(raw)
        except (MalformedResponse, DecodeError) as first:
            LOG.info("%s malformed (%s): asking once more", t.table_label(table_id), first)
            try:
                raw = read()
                return raw, decode(raw)
            except (MalformedResponse, DecodeError) as exc:
                raise DecodeError(
                    f"{t.table_label(table_id)} came back malformed twice ({exc}): without "
                    "it nothing else can be read",
                    table=table_id,
                ) from None

    def _read_st0(self, client: C1218Client) -> bytes:
        """ST0 whole, or in parts when it does not fit the granted packets.

        Before a Negotiate (or when the meter declines it) one 64-byte packet carries 52
        bytes of table data; a meter with many tables has a longer ST0 and refuses the full
        read. Its first 19 bytes give its length; the rest follows in partial reads.
        """
        try:
            return client.read_table(0)
        except MeterRefused as refused:
            if isinstance(refused, SecurityDenied):
                raise
            LOG.info("full read of ST0 refused (%s): reading it in parts", refused)
            try:
                header = client.read_partial(0, 0, t.ST0_FIXED_SIZE)
                size = t.st0_size(header)
                if size <= len(header):
                    return header[:size]
                return header + client.read_partial(0, len(header), size - len(header))
            except MeterRefused:
                raise refused from None

    def _start_item(self, table_id: int) -> None:
        self._item = t.table_label(table_id)

    def _read_tables(self, client: C1218Client) -> None:
        ts = self._tables
        self._cfg = None
        self._items_done = 0
        self._items_total = None
        cfg = self._config(client)  # without ST0 nothing else can be decoded
        self._items_done = 1
        self._start_item(1)
        ts.tables[1], st1 = self._essential(
            client, 1, lambda: client.read_table(1), lambda raw: t.decode_st1(raw, cfg)
        )
        self._last_read = 1
        self._items_done = 2
        profile = self._driver.profiles.find(st1.manufacturer, st1.model)
        self._profile = profile
        # Manufacturer tables a profile points at are read after the standard set; without a
        # profile, the meter's own source description is the next best thing.
        if profile is None:
            extra = _standard_route_reads(cfg)
        else:
            extra = tuple((n, "phases") for n in sorted(profile.tables))
        plan = [
            (table_id, item)
            for table_id, item in SITE_TABLES + extra
            if self._options.read_events or table_id not in (74, 76)
        ]
        self._items_total = 2 + len(plan)
        self._plan = plan
        denied: list[SecurityDenied] = []
        read_ok = 0
        st21: t.ActualRegisters | None = None
        st71: t.ActualLog | None = None
        st11: t.ActualSources | None = None
        for table_id, item in plan:
            self._items_done += 1
            if not cfg.uses(table_id):
                if table_id == 52 and cfg.uses(55):
                    table_id = 55
                else:
                    if table_id not in _COMPANIONS:
                        ts.missing(
                            item, f"the meter does not list {t.table_label(table_id)} as used"
                        )
                    continue
            self._start_item(table_id)
            data: bytes | None
            try:
                table_id, data = self._read_checked(client, ts, table_id, cfg, st21, st71, st11)
            except _Unusable as exc:
                self._give_up(ts, item, exc)
                continue
            except SecurityDenied as exc:
                denied.append(exc)
                ts.missing(item, str(exc))
                continue
            except MeterRefused as exc:
                if table_id in _COMPANIONS:
                    LOG.info("ST%d refused, reading on without it: %s", table_id, exc)
                else:
                    ts.missing(item, f"ST{table_id}: {exc}")
                continue
            except DecodeError as exc:
                ts.missing(item, str(exc))
                continue
            if data is None:
                continue
            read_ok += 1
            ts.tables[table_id] = data
            self._last_read = table_id
            if table_id == 21:
                st21 = _try(t.decode_st21, data, cfg)
            elif table_id == 71:
                st71 = _try(t.decode_st71, data, cfg)
            elif table_id == 11:
                st11 = _try(t.decode_st11, data, cfg)
        if denied and not read_ok:
            raise SecurityDenied(
                "the meter allows only its identity without a password: "
                "read again with --password (or --password-hex)",
                code=denied[0].code,
                service=denied[0].service,
                table=denied[0].table,
            )

    def _read_checked(
        self,
        client: C1218Client,
        ts: TableSet,
        table_id: int,
        cfg: t.GeneralConfig,
        st21: t.ActualRegisters | None,
        st71: t.ActualLog | None,
        st11: t.ActualSources | None,
    ) -> tuple[int, bytes | None]:
        """One table, checked against what ST0/ST11/ST21/ST71 imply; asked twice at most.

        A malformed answer (CRC good, contents not: a count that disagrees with the bytes,
        a body cut short, a wrong table checksum, a length the other tables rule out) is
        asked for once more; the second time it is :class:`_Unusable`.
        """
        first: DriverError | None = None
        for _ in range(2):
            read_id = table_id
            data: bytes | None
            try:
                if table_id == 52:
                    read_id, data = self._read_clock_table(client, ts, cfg)
                else:
                    data = self._read_one(client, ts, table_id, cfg, st21, st71, st11)
                if data is not None:
                    _validate(read_id, data, cfg, st21, st71, st11)
                return read_id, data
            except (MalformedResponse, DecodeError) as exc:
                if first is not None:
                    raise _Unusable(read_id, exc) from None
                first = exc
                LOG.info("%s malformed (%s): asking once more", t.table_label(read_id), exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _give_up(self, ts: TableSet, item: str, exc: _Unusable) -> None:
        reason = (
            f"{t.table_label(exc.table)}: the meter's answer was malformed twice "
            f"({exc.cause}); the read went on without it"
        )
        LOG.info("%s", reason)
        # A companion table only helps build another item: name the table itself.
        ts.missing(f"ST{exc.table}" if exc.table in _COMPANIONS else item, reason)

    def _clock_parameters(
        self, client: C1218Client, cfg: t.GeneralConfig, reference: datetime
    ) -> bytes:
        """SP10 parameters for ``reference`` in the meter's own time base (ST52 says which)."""
        self._start_item(52)
        clock = t.decode_st52(client.read_table(52), cfg)
        moment = as_utc(reference).astimezone(UTC)
        dst = False
        if not clock.gmt:
            zone = self._options.meter_tz
            local = moment.astimezone(zone) if zone is not None else moment.astimezone()
            dst = bool(local.dst())
            moment = local
        return procedures.set_date_time_parameters(
            moment.replace(tzinfo=None), cfg, clock.raw_qualifier, dst=dst
        )

    def _next_sequence(self, client: C1218Client, cfg: t.GeneralConfig, number: int) -> int:
        """A SEQ_NBR (1-254) that the answer ST8 holds now cannot be taken for.

        ST8 keeps the last answer, possibly one an earlier session (or another tool) got with
        the same procedure and sequence number; until the meter posts the new answer that old
        one would pass for it. So ST8 is read first and its sequence number skipped.
        """
        held: int | None = None
        try:
            before = procedures.decode_st8(client.read_table(8), cfg)
        except (MeterRefused, DecodeError) as exc:
            if isinstance(exc, SecurityDenied):
                raise
            LOG.debug("ST8 before the procedure: %s", exc)
        else:
            if before.procedure == number:
                held = before.sequence
        sequence = self._procedure_seq % 0xFE + 1
        if sequence == held:
            sequence = sequence % 0xFE + 1
        self._procedure_seq = sequence
        return sequence

    def _procedure_answer(
        self, client: C1218Client, cfg: t.GeneralConfig, number: int, sequence: int
    ) -> procedures.ProcedureResponse:
        """Read ST8 until it answers this request with a final result (about 10 s at most)."""
        self._start_item(8)
        for _ in range(_PROCEDURE_POLLS):
            answer = procedures.decode_st8(client.read_table(8), cfg)
            mine = answer.procedure == number and answer.sequence == sequence
            if mine and answer.result_code != procedures.RESULT_PENDING:
                return answer
            LOG.debug("ST8 not final yet (%s); asking again", answer)
            client.pause(_PROCEDURE_POLL_SECONDS)  # a cancel still ends it within 50 ms
        raise MeterRefused(
            f"the meter did not finish procedure {number} within "
            f"{_PROCEDURE_POLLS * _PROCEDURE_POLL_SECONDS:g} s",
            code=int(ResponseCode.BSY),
            service="procedure",
            table=8,
        )

    def _read_one(
        self,
        client: C1218Client,
        ts: TableSet,
        table_id: int,
        cfg: t.GeneralConfig,
        st21: t.ActualRegisters | None,
        st71: t.ActualLog | None,
        st11: t.ActualSources | None,
    ) -> bytes | None:
        if table_id == 55:  # standing in for an ST52 the meter does not list
            return self._read_clock(client, ts, table_id)
        if table_id == 23 and st21 is not None:
            return client.read_table(23, size=t.st23_size(cfg, st21))
        if table_id == 28 and st21 is not None:
            return client.read_table(28, size=t.st28_size(cfg, st21))
        if table_id in (74, 76):
            if st71 is None:
                return None
            return self._read_log(client, table_id, cfg, st71)
        if table_id == 12 and st11 is not None:
            return client.read_table(12, size=t.st12_size(st11))
        if table_id == 16 and st11 is not None:
            return client.read_table(16, size=t.st16_size(st11))
        if table_id == 15 and st11 is not None:
            return self._read_st15(client, cfg, st11)
        return client.read_table(table_id)

    def _read_clock(self, client: C1218Client, ts: TableSet, table_id: int) -> bytes:
        before = self._driver._wall_clock()
        started = self._driver._monotonic()
        data = client.read_table(table_id)
        elapsed = max(self._driver._monotonic() - started, 0.0)
        # The meter samples its clock somewhere between the request and its answer (every
        # retransmission in between included): take the midpoint, give or take half of it.
        ts.clock_reference = before + timedelta(seconds=elapsed / 2)
        ts.clock_uncertainty = round(elapsed / 2, 3)
        return data

    def _read_clock_table(
        self, client: C1218Client, ts: TableSet, cfg: t.GeneralConfig
    ) -> tuple[int, bytes]:
        """ST52, or ST55 when the meter lists ST52 but refuses it.

        ST55 holds the same LTIME_DATE and qualifier (plus the TOU state word); when both are
        refused, the ST52 refusal is the one reported.
        """
        try:
            return 52, self._read_clock(client, ts, 52)
        except MeterRefused as refused:
            if not cfg.uses(55):
                raise
            LOG.info("ST52 refused (%s): reading the clock from ST55", refused)
            try:
                return 55, self._read_clock(client, ts, 55)
            except MeterRefused:
                raise refused from None

    def _read_st15(self, client: C1218Client, cfg: t.GeneralConfig, st11: t.ActualSources) -> bytes:
        """ST15 has one of two sizes (with or without OFFSET) and only the meter knows which."""
        short, full = t.st15_sizes(cfg, st11)
        if full <= client.max_read_size:
            return client.read_table(15)
        data = client.read_partial(15, 0, short)
        if len(data) < short or full == short:
            return data
        try:
            rest = client.read_partial(15, short, full - short)
        except MeterRefused as exc:
            if isinstance(exc, SecurityDenied):
                raise
            # Asking past the end of a table is refused: the records have no OFFSET.
            return data
        return data + rest

    def _read_log(
        self, client: C1218Client, table_id: int, cfg: t.GeneralConfig, st71: t.ActualLog
    ) -> bytes:
        """A log is read in partial chunks: the header, then only the slots in use."""
        try:
            header_raw = client.read_partial(table_id, 0, t.LOG_HEADER_SIZE)
        except MeterRefused as exc:
            if not declines_partial_reads(exc):
                raise
            # A meter without partial reads: the whole log in one read (the meter segments it).
            return client.read_table(table_id)
        log: t.LogKind = "history" if table_id == 74 else "event"
        header = t.decode_log_header(header_raw, cfg, log=log)
        entry_size, slots = t.log_dimensions(cfg, st71, log)
        valid = t.valid_entry_slots(header, slots)
        used = max(valid) + 1 if valid else 0  # slots are read from slot 0 up
        if used == 0 or entry_size == 0:
            return header_raw
        per_read = max(1, client.max_read_size // entry_size)
        parts = [header_raw]
        for first in range(0, used, per_read):
            count = min(per_read, used - first)
            offset = t.LOG_HEADER_SIZE + first * entry_size
            parts.append(client.read_partial(table_id, offset, count * entry_size))
        return b"".join(parts)


class _Unusable(Exception):
    """Internal: a table came back malformed twice; its item becomes unavailable."""

    def __init__(self, table: int, cause: DriverError) -> None:
        super().__init__(f"ST{table}: {cause}")
        self.table = table
        self.cause = cause


def _validate(
    table_id: int,
    data: bytes,
    cfg: t.GeneralConfig,
    st21: t.ActualRegisters | None,
    st71: t.ActualLog | None,
    st11: t.ActualSources | None,
) -> None:
    """Raise DecodeError when ``data`` cannot be the table ST0 and its companions describe."""
    if table_id == 3:
        t.decode_st3(data, cfg)
    elif table_id == 5:
        t.decode_st5(data, cfg)
    elif table_id == 52:
        t.decode_st52(data, cfg)
    elif table_id == 55:
        t.decode_st55(data, cfg)
    elif table_id == 21:
        t.decode_st21(data, cfg)
    elif table_id == 71:
        t.decode_st71(data, cfg)
    elif table_id == 11:
        t.decode_st11(data, cfg)
    elif st21 is not None and table_id in (22, 23, 27, 28):
        decoders = {22: t.decode_st22, 23: t.decode_st23, 27: t.decode_st27, 28: t.decode_st28}
        decoders[table_id](data, cfg, st21)
    elif st11 is not None and table_id in (12, 15, 16):
        source_decoders = {12: t.decode_st12, 15: t.decode_st15, 16: t.decode_st16}
        source_decoders[table_id](data, cfg, st11)
    elif st71 is not None and table_id in (74, 76):
        log: t.LogKind = "history" if table_id == 74 else "event"
        t.decode_log_header(data[: t.LOG_HEADER_SIZE], cfg, log=log)
        t.decode_log_entries(data[t.LOG_HEADER_SIZE :], cfg, st71, log=log)


def _standard_route_reads(cfg: t.GeneralConfig) -> tuple[tuple[int, str], ...]:
    """The source tables to read for the standard route, if the meter has what it needs."""
    if not all(cfg.uses(n) for n in STANDARD_ROUTE_TABLES):
        return ()
    return tuple((n, item) for n, item in STANDARD_ROUTE_READS if cfg.uses(n))


def _try(fn: Callable[[bytes, t.GeneralConfig], T], data: bytes, cfg: t.GeneralConfig) -> T | None:
    try:
        return fn(data, cfg)
    except DecodeError:
        return None
