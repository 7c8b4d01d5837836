"""The interface every meter driver implements, and the one factory that builds drivers.

Everything above the drivers (the visit workflow, the CLI, the demo, the app) depends on this
module and on :mod:`fieldkit.model`, never on a protocol package. A driver is built by
:func:`create_driver` from a protocol name, a port URL and the protocol's settings (a plain
mapping, validated by the driver: a bad value is a :class:`DriverSettingsError` naming the
setting). It then opens :class:`MeterSession`\\ s::

    driver = create_driver("c1218", "socket://127.0.0.1:5000", {"password": "secret"})
    session = driver.session(progress=show, cancel=token)
    try:
        with session:                        # opens the port and logs on
            snapshot = session.read_snapshot()
            session.run_procedure(SetClock(reference))
    except DriverError as exc:
        ...                                  # session.frames and session.stats still hold

or, for a read and nothing else, :func:`read_once` returns a :class:`ReadOutcome` that keeps
the frames and link statistics whether the read succeeded or not.

Progress reaches the caller through a callback on the driver's thread; cancel is a
:class:`CancelToken` set from any thread and checked between packets and through every wait
of the driver's own (back-off, poll, restart), so a cancelled read ends within half a
second with :class:`~fieldkit.drivers.errors.ReadCancelled` and the port closed. A driver
owns its transport: the C12.18 driver opens a pyserial port, the Modbus driver its pymodbus
client.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from fieldkit.drivers.errors import DriverError, DriverSettingsError, KitFault, ReadCancelled
from fieldkit.model import FrameRecord, MeterProtocol, MeterSnapshot

LOG = logging.getLogger(__name__)

__all__ = [
    "PROTOCOLS",
    "CancelToken",
    "DemandReset",
    "LinkStats",
    "MeterDriver",
    "MeterSession",
    "Procedure",
    "ProcedureResult",
    "Progress",
    "ProgressCallback",
    "ReadOutcome",
    "SetClock",
    "Stage",
    "create_driver",
    "read_once",
]


class Stage(StrEnum):
    """Where a session is, as the technician sees it."""

    CONNECT = "connect"  # opening the port
    IDENTIFY = "identify"
    NEGOTIATE = "negotiate"
    LOGON = "logon"  # logon and security (the password)
    READ = "read"
    PROCEDURE = "procedure"  # an adjustment: set clock, demand reset
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a session: the stage, the item at hand, and what the link has cost so far.

    ``item`` names what is being read in the protocol's words ("ST23 current register
    data", "registers 0-79"); ``items_done``/``items_total`` count the reads planned for the
    snapshot (the total is None until the driver knows it). ``baud`` is the line's speed now:
    for C12.18 the speed the meter granted in Negotiate (9600 before it, or if it declined),
    for Modbus the configured one; None on a link without one.
    """

    stage: Stage
    item: str | None = None
    bytes_tx: int = 0
    bytes_rx: int = 0
    round_trips: int = 0
    items_done: int = 0
    items_total: int | None = None
    baud: int | None = None


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Asks a running session to stop; safe to set from any thread (a key, a signal handler).

    Drivers call :meth:`check` between packets; it raises
    :class:`~fieldkit.drivers.errors.ReadCancelled` once :meth:`cancel` has been called.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason = "the read was cancelled"

    def cancel(self, reason: str | None = None) -> None:
        """Stop the session at the next packet boundary."""
        if reason:
            self._reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` has been called."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise ReadCancelled if the session should stop."""
        if self._event.is_set():
            raise ReadCancelled(self._reason)


@dataclass(frozen=True, slots=True)
class LinkStats:
    """What a session cost on the wire (counted over every restart within it)."""

    bytes_tx: int = 0
    bytes_rx: int = 0
    round_trips: int = 0
    retransmissions: int = 0
    naks_sent: int = 0
    restarts: int = 0
    busy_retries: int = 0
    # From the first byte to the end of the session: port open and close excluded.
    session_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class SetClock:
    """Set the meter's clock to ``reference`` (the laptop's trusted time, timezone-aware)."""

    reference: datetime
    name: Literal["set_clock"] = "set_clock"


@dataclass(frozen=True, slots=True)
class DemandReset:
    """Reset maximum demand: closes the billing period on the meter."""

    name: Literal["demand_reset"] = "demand_reset"


Procedure = SetClock | DemandReset


@dataclass(frozen=True, slots=True)
class ProcedureResult:
    """What the meter said to a procedure: its result code, in numbers and in words."""

    procedure: str  # "set_clock", "demand_reset"
    code: int  # the meter's result code (C12.19 ST8: 0 = completed)
    message: str
    response: bytes = b""  # data the meter returned with the result, kept raw for audit

    @property
    def ok(self) -> bool:
        """True when the meter completed the procedure."""
        return self.code == 0


Result = Literal["complete", "incomplete", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class ReadOutcome:
    """One read, whatever happened: the snapshot (or what was read), the error, the frames.

    ``snapshot`` is None only when nothing identifying was read; a read that ended early
    keeps what it had, marked ``incomplete``.
    """

    protocol: str
    port: str
    started_at: datetime
    snapshot: MeterSnapshot | None
    error: DriverError | None
    frames: tuple[FrameRecord, ...] = ()
    stats: LinkStats = field(default_factory=LinkStats)

    @property
    def ok(self) -> bool:
        """True when the read completed."""
        return self.error is None and self.snapshot is not None

    @property
    def result(self) -> Result:
        """complete, incomplete (a partial snapshot), failed (nothing) or cancelled."""
        if self.ok:
            return "complete"
        if isinstance(self.error, ReadCancelled):
            return "cancelled"
        return "failed" if self.snapshot is None else "incomplete"


class MeterSession(Protocol):
    """One conversation with a meter: opened by ``with``, closed on leaving it.

    ``frames`` and ``stats`` grow as the session runs and stay readable after it failed.
    """

    @property
    def frames(self) -> tuple[FrameRecord, ...]:
        """Every frame so far, passwords redacted."""
        ...

    @property
    def stats(self) -> LinkStats:
        """What the session has cost so far."""
        ...

    def __enter__(self) -> Self:
        """Open the port and the session (identify, log on); raises DriverError."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the session politely where the meter still listens, and close the port."""
        ...

    def read_snapshot(self) -> MeterSnapshot:
        """Read everything a site visit needs; raises DriverError when the read cannot end."""
        ...

    def partial_snapshot(self, reason: str) -> MeterSnapshot | None:
        """What was read before a failure, marked incomplete with ``reason``.

        None when not even the meter's identity was read.
        """
        ...

    def run_procedure(self, procedure: Procedure) -> ProcedureResult:
        """Run a procedure in this session; raises DriverError when the meter refuses it."""
        ...


class MeterDriver(Protocol):
    """A configured way to reach one meter; makes sessions, touches nothing until opened."""

    @property
    def protocol(self) -> MeterProtocol:
        """The protocol this driver speaks."""
        ...

    @property
    def port(self) -> str:
        """The port URL the driver opens."""
        ...

    def session(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> MeterSession:
        """A new, unopened session."""
        ...


def read_once(
    driver: MeterDriver,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReadOutcome:
    """Open a session, read the snapshot, close; never raises a DriverError.

    The outcome carries the frames and statistics in every case, and what was read before
    a failure as an incomplete snapshot. A bug in the kit (a decoder tripping over bytes no
    one foresaw) is kept as a :class:`KitFault` outcome too: those frames are exactly what
    whoever fixes it needs, so they must not be lost with a traceback.
    """
    started = clock()
    session = driver.session(progress=progress, cancel=cancel)
    snapshot: MeterSnapshot | None = None
    error: DriverError | None = None
    try:
        with session:
            snapshot = session.read_snapshot()
    except DriverError as exc:
        error = exc
        snapshot = session.partial_snapshot(str(exc))
    except Exception as exc:
        LOG.exception("the read failed inside the kit")
        error = KitFault(
            f"the kit failed while reading ({type(exc).__name__}: {exc}); "
            "the frames are kept: report it with the capture"
        )
    return ReadOutcome(
        protocol=str(driver.protocol),
        port=driver.port,
        started_at=started,
        snapshot=snapshot,
        error=error,
        frames=session.frames,
        stats=session.stats,
    )


# Each protocol's package exposes ``create(port, settings, **runtime) -> MeterDriver``.
# Imported on first use: the CLI pays only for the protocol it reads.
_FACTORIES: dict[MeterProtocol, str] = {
    MeterProtocol.C1218: "fieldkit.drivers.c1218",
    MeterProtocol.MODBUS: "fieldkit.drivers.modbus",
}

PROTOCOLS: tuple[str, ...] = tuple(p.value for p in _FACTORIES)


def create_driver(
    protocol: str,
    port: str,
    settings: Mapping[str, Any] | None = None,
    **runtime: Any,
) -> MeterDriver:
    """The driver for ``protocol`` on ``port``, configured by ``settings``.

    ``settings`` are the protocol's options by name (``password``, ``baud``, ...); an
    unknown name or a bad value raises :class:`DriverSettingsError` naming it. ``runtime``
    keywords every driver accepts: ``on_warning`` (a callable given one line for the
    technician that does not stop the read, such as a broken user profile) and
    ``wall_clock`` (the laptop's UTC time; tests pass a fixed one).
    """
    try:
        kind = MeterProtocol(protocol.lower())
        module_name = _FACTORIES[kind]
    except (ValueError, KeyError):
        known = ", ".join(PROTOCOLS)
        raise DriverSettingsError(
            "protocol", f"'{protocol}' is not a protocol this kit speaks ({known})"
        ) from None
    if not port or not port.strip():
        raise DriverSettingsError("port", "give the probe's port: a device or a URL")
    from fieldkit.drivers.transport import url_problem  # pyserial only when a URL is checked

    problem = url_problem(port)
    if problem is not None:
        raise DriverSettingsError("port", problem)
    module = importlib.import_module(module_name)
    create: Callable[..., MeterDriver] = module.create
    return create(port, dict(settings or {}), **runtime)
