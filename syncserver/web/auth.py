"""Who is looking at a page: the session cookie, the CSRF check, the role dependencies.

Pages never take bearer tokens: a device token or a personal API token sent to a page is
treated as no login at all (redirect to ``/login``). Only office and admin users can sign in.
Every POST carries the session's CSRF token as the form field ``csrf_token``; a POST
without it, or with another session's, is refused 403 before the route runs.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request

from syncserver.api.deps import DatabaseDep
from syncserver.services.users import ADMIN, Principal
from syncserver.services.web_sessions import SignedIn, find_session

__all__ = [
    "COOKIE",
    "MAX_FORM_BYTES",
    "AdminPage",
    "CheckedForm",
    "Forbidden",
    "LoginRequired",
    "LoginThrottle",
    "PageUser",
    "StaffPage",
    "form_fields",
    "local_path",
    "require_csrf",
]

COOKIE = "fk_session"
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No live session: the app answers with a redirect to ``/login?next=<path>``."""

    def __init__(self, next_path: str) -> None:
        super().__init__("log in to see this page")
        self.next_path = next_path


class Forbidden(Exception):
    """Signed in, but not allowed (a 403 page with the reason)."""


@dataclass(frozen=True, slots=True)
class PageUser:
    """The signed-in user of a page request, with what its forms must post back."""

    principal: Principal
    csrf_token: str
    cookie: str

    @property
    def is_admin(self) -> bool:
        """Whether the Admin pages are theirs."""
        return self.principal.role == ADMIN


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this server (``/…``, not ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target) or len(target) > 2000:
        return None
    return target


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def signed_in(request: Request, database: DatabaseDep) -> SignedIn | None:
    """The live session behind the request's cookie, if any."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    with database.read() as session:
        return find_session(session, token)


def get_page_user(request: Request, database: DatabaseDep) -> PageUser:
    """An office or admin user with a live session; anyone else is sent to log in."""
    found = signed_in(request, database)
    if found is None:
        raise LoginRequired(_here(request))
    return PageUser(found.principal, found.csrf_token, request.cookies[COOKIE])


StaffPage = Annotated[PageUser, Depends(get_page_user)]


def get_admin_page_user(user: StaffPage) -> PageUser:
    """An admin; an office user gets the 403 page."""
    if not user.is_admin:
        raise Forbidden("only admin users can open the Admin pages")
    return user


AdminPage = Annotated[PageUser, Depends(get_admin_page_user)]


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as {name: first value} (the pages'
    forms are small and never upload files)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden("the form is too large")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def require_csrf(user: PageUser, fields: dict[str, str]) -> None:
    """Refuse (403) a POST whose ``csrf_token`` is not this session's."""
    sent = fields.get("csrf_token", "")
    if not sent or not secrets.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise Forbidden("the form is out of date or did not come from this site: reload it")


async def checked_form(request: Request, user: StaffPage) -> dict[str, str]:
    """The POSTed form of a signed-in user, after its CSRF token was checked (403 if not)."""
    fields = await form_fields(request)
    require_csrf(user, fields)
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
"""Take this in every page route that POSTs: the form is read and its CSRF token checked."""


def login_url(next_path: str | None) -> str:
    """``/login``, with ``next`` when it is a local path."""
    target = local_path(next_path)
    return "/login" if target is None else f"/login?next={quote(target, safe='/')}"


class LoginThrottle:
    """Failed logins per user name and per client address in a sliding window: past the
    limit, logins from them are refused until the window has moved on (per process)."""

    def __init__(self, limit: int = 5, window_seconds: float = 300.0) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, at: float) -> deque[float]:
        entries = self._failures.setdefault(key, deque())
        while entries and entries[0] <= at - self.window:
            entries.popleft()
        return entries

    def blocked(self, keys: list[str]) -> bool:
        """Whether any of ``keys`` (``user:NAME``, ``ip:ADDR``) failed too often lately."""
        at = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, at)) >= self.limit for k in keys)

    def failed(self, keys: list[str]) -> None:
        """Count a failed attempt against each key."""
        at = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, at).append(at)
            if len(self._failures) > 10_000:  # forget idle keys rather than grow for ever
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, keys: list[str]) -> None:
        """A good login clears its user name's count."""
        with self._lock:
            for key in keys:
                if key.startswith("user:"):
                    self._failures.pop(key, None)
