"""Browser sessions of office and admin users: a random cookie, kept as its SHA-256.

A session holds its own CSRF token (every form posts it back). Logging out deletes the row,
so a copied cookie stops working at once; an expired row is refused and removed.

A session also holds one-time notices ("flashes") for the page a form redirects to, when
what it says must not go in the URL (an enrolment code, shown once): sealed with AES-GCM
under a key taken from the cookie, which the server does not keep, so the database alone
cannot read them; the first page that shows one deletes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from syncserver.core.security import hash_secret
from syncserver.db.engine import Database
from syncserver.db.models import User, WebFlash, WebSession
from syncserver.services.journal import Actor, Work, canonical, now, unit_of_work
from syncserver.services.users import ADMIN, OFFICE, Principal

__all__ = [
    "FLASH_MINUTES",
    "STAFF_ROLES",
    "SignedIn",
    "end_session",
    "find_session",
    "put_flash",
    "start_session",
    "take_flashes",
]

FLASH_MINUTES = 10
"""A notice not shown within this long (the redirect never followed) is dropped unseen."""

STAFF_ROLES = (OFFICE, ADMIN)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The person behind a session cookie, and the session's CSRF token."""

    principal: Principal
    csrf_token: str
    expires_at: datetime


def start_session(work: Work, user: User, hours: int) -> tuple[str, str]:
    """A new session for ``user``: the cookie value (shown once) and its CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    work.session.execute(  # the user's expired sessions go when they log in again
        delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= work.at)
    )
    work.session.add(
        WebSession(
            token_hash=hash_secret(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=work.at,
            expires_at=work.at + timedelta(hours=hours),
        )
    )
    work.audit("session.start", "user", user.name)
    return token, csrf


def find_session(session: Session, token: str) -> SignedIn | None:
    """Who a session cookie belongs to, if it is live and its user may use the pages."""
    if not 20 <= len(token) <= 100:
        return None
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == hash_secret(token))
    ).one_or_none()
    if row is None:
        return None
    entry, user = row
    if entry.expires_at <= now() or not user.active or user.role not in STAFF_ROLES:
        return None
    return SignedIn(Principal(user.id, user.name, user.role), entry.csrf_token, entry.expires_at)


def end_session(work: Work, token: str) -> None:
    """Log out: the cookie's session is deleted (and any expired ones with it)."""
    work.session.execute(
        delete(WebSession).where(
            (WebSession.token_hash == hash_secret(token)) | (WebSession.expires_at <= work.at)
        )
    )
    work.audit("session.end", "user", work.actor.id)


def _flash_key(token: str) -> bytes:
    # Not the cookie's SHA-256 (that is stored as token_hash): a keyed hash of it.
    return hmac.new(token.encode("utf-8"), b"fieldkit web flash v1", hashlib.sha256).digest()


def _session_id(token: str) -> Any:
    return select(WebSession.id).where(WebSession.token_hash == hash_secret(token))


def put_flash(work: Work, token: str, kind: str, data: dict[str, Any]) -> None:
    """Keep ``data`` for the next page of the session of cookie ``token`` (shown once)."""
    session_id = work.session.execute(_session_id(token)).scalar_one()
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_flash_key(token)).encrypt(
        nonce, canonical(data).encode("utf-8"), f"{session_id}:{kind}".encode()
    )
    work.session.add(
        WebFlash(
            session_id=session_id,
            kind=kind,
            sealed=base64.urlsafe_b64encode(nonce + sealed).decode("ascii"),
            created_at=work.at,
        )
    )


def take_flashes(database: Database, actor: Actor, token: str, kind: str) -> list[dict[str, Any]]:
    """The session's waiting notices of ``kind``, oldest first, deleted as they are read: a
    reload, or a second tab, finds none. Most pages have none: that costs one read and no
    write lock."""
    with database.read() as session:
        waiting = list(
            session.execute(
                select(WebFlash.id).where(
                    WebFlash.session_id == _session_id(token).scalar_subquery(),
                    WebFlash.kind == kind,
                )
            ).scalars()
        )
    if not waiting:
        return []
    with unit_of_work(database, actor) as work:
        # DELETE … RETURNING: of two pages loading at once, only one gets each notice.
        taken = work.session.execute(
            delete(WebFlash)
            .where(WebFlash.id.in_(waiting))
            .returning(WebFlash.id, WebFlash.session_id, WebFlash.sealed, WebFlash.created_at)
        ).all()
    fresh_since = now() - timedelta(minutes=FLASH_MINUTES)
    shown = []
    for _, session_id, sealed, created_at in sorted(taken):
        if created_at < fresh_since:
            continue
        raw = base64.urlsafe_b64decode(sealed)
        try:
            opened = AESGCM(_flash_key(token)).decrypt(
                raw[:12], raw[12:], f"{session_id}:{kind}".encode()
            )
        except InvalidTag:  # not sealed for this cookie: nothing to show
            continue
        shown.append(json.loads(opened))
    return shown
