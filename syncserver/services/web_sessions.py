"""Browser sessions of office and admin users: a random cookie, kept as its SHA-256.

A session holds its own CSRF token (every form posts it back). Logging out deletes the row,
so a copied cookie stops working at once; an expired row is refused and removed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from syncserver.core.security import hash_secret
from syncserver.db.models import User, WebSession
from syncserver.services.journal import Work, now
from syncserver.services.users import ADMIN, OFFICE, Principal

__all__ = ["STAFF_ROLES", "SignedIn", "end_session", "find_session", "start_session"]

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
