"""Typed errors with one-line messages; the API turns :class:`ApiError` into a JSON 4xx."""

from __future__ import annotations

__all__ = [
    "ApiError",
    "Conflict",
    "ImportFileError",
    "NotFound",
    "ServerError",
    "Unauthorized",
    "UsageError",
]


class ServerError(Exception):
    """Anything the server refuses; ``str()`` is one line meant for a person."""


class UsageError(ServerError):
    """A command given something it cannot use (unknown user, wrong role, bad option)."""


class ImportFileError(ServerError):
    """A CSV file refused as a whole: the message names the file, the row and the column."""


class ApiError(ServerError):
    """An HTTP answer other than 2xx: status, a stable machine ``code`` and the message."""

    status = 400

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        if status is not None:
            self.status = status

    def __reduce__(self) -> tuple[type[ApiError], tuple[str, str, int]]:
        # Raised in a push helper process and re-raised in the server: it must pickle.
        return (type(self), (self.code, str(self), self.status))


class NotFound(ApiError):
    """Absent, or outside the caller's scope: the two are never told apart (404, not 403)."""

    status = 404


class Unauthorized(ApiError):
    """No token, an unknown one, or one that was revoked."""

    status = 401


class Conflict(ApiError):
    """The request is well formed but the state does not allow it."""

    status = 409
