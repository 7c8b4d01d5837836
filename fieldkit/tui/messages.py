"""Messages the workers post to the screens (post_message is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from fieldkit.drivers.base import ProcedureResult, Progress, Stage
from fieldkit.visit import VisitResult

__all__ = ["AdjustFinished", "DriverWarning", "ReadFinished", "ReadProgressed", "ReadRefused"]


@dataclass
class ReadProgressed(Message):
    """Where the read is; ``items`` are the tables (or blocks) started so far, in order.

    Each message carries everything so far, so a queued older one may be dropped.
    """

    progress: Progress
    items: tuple[str, ...]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ReadProgressed)


@dataclass
class ReadFinished(Message):
    """The read ended (complete, incomplete, failed or cancelled) and was judged.

    ``stopped_at``: the last stage the session reached (where a failed read failed).
    """

    result: VisitResult
    stopped_at: Stage | None = None


@dataclass
class ReadRefused(Message):
    """The read could not start: a setting the driver refused (nothing touched the port)."""

    message: str


@dataclass
class AdjustFinished(Message):
    """A procedure ended: the meter's result, or why it could not run (``error``)."""

    procedure: str
    result: ProcedureResult | None
    error: str | None


@dataclass
class DriverWarning(Message):
    """A line from the driver that does not stop the read (a broken user profile...)."""

    text: str
