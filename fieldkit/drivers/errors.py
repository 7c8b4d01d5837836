"""Typed errors every driver raises.

Each carries a one-line message a technician can act on; ``str(error)`` is what the CLI
prints on stderr and what the app shows. Nothing else escapes a driver.
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "DriverError",
    "DriverSettingsError",
    "KitFault",
    "LinkError",
    "MeterRefused",
    "NoResponse",
    "PortError",
    "ReadCancelled",
    "SecurityDenied",
    "SessionLost",
]


class DriverError(Exception):
    """Base of every error a driver raises; the message is one line for the technician."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class PortError(DriverError):
    """The port could not be opened or used (unplugged probe, wrong path, port in use)."""


class NoResponse(DriverError):
    """The meter did not answer at all within the response timeout."""


class LinkError(DriverError):
    """The meter answered but the link failed: corrupt frames, retries exhausted."""


class SessionLost(DriverError):
    """The meter dropped the session (traffic timeout, isss, rno) and it could not be resumed."""


class MeterRefused(DriverError):
    """The meter answered a request with a response code other than ok."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        service: str,
        table: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.service = service
        self.table = table


class SecurityDenied(MeterRefused):
    """Wrong password, or a table or procedure needs a higher password level."""


class DecodeError(DriverError):
    """A table's bytes do not match what its definition implies (length, format)."""

    def __init__(self, message: str, *, table: int | None = None) -> None:
        super().__init__(message)
        self.table = table


class DriverSettingsError(DriverError):
    """A setting the driver cannot use; a usage error, raised before the port is touched.

    ``setting`` is the setting's name as the driver knows it (``password_hex``); the CLI
    shows it as its option (``--password-hex``).
    """

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class ReadCancelled(DriverError):
    """The technician (or the app) cancelled the session; the port is closed."""


class KitFault(DriverError):
    """A bug in the kit met during a read; the read's frames are kept for the report."""
