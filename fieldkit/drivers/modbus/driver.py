"""The Modbus driver: reads a meter through its register map, block by block.

``tcp://HOST[:PORT]`` is Modbus TCP (MBAP framing, port 502 by default); any other URL is a
pyserial port carrying RTU frames (``/dev/ttyUSB0``, ``COM3``, ``socket://HOST:PORT`` for an
RTU-over-TCP gateway or the simulator, ``rfc2217://``). Modbus has no session to open: the
port is opened on ``with`` and the first request is the first block of the map.

A block the meter refuses (an exception response) becomes ``unavailable`` items for its
points and the read goes on; a refusal of every block, silence, or answers that cannot be
used end the read with a typed error, and :meth:`ModbusSession.partial_snapshot` keeps what
was read before it once a block is in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from fieldkit.drivers.base import (
    CancelToken,
    LinkStats,
    Procedure,
    ProcedureResult,
    Progress,
    ProgressCallback,
    Stage,
)
from fieldkit.drivers.errors import MeterRefused, PortError
from fieldkit.drivers.modbus.client import Framing, ModbusLink
from fieldkit.drivers.modbus.codec import ExceptionCode, ReadRequest
from fieldkit.drivers.modbus.maps import IDENTITY_QUANTITIES, Block, MeterMap, plan_blocks
from fieldkit.drivers.modbus.settings import DEFAULT_RETRIES
from fieldkit.drivers.modbus.snapshot import Values, build_snapshot, decode_block
from fieldkit.drivers.transport import Transport, open_transport
from fieldkit.model import FrameDirection, FrameRecord, MeterProtocol, MeterSnapshot, Unavailable

__all__ = ["ModbusDriver", "ModbusOptions", "ModbusSession", "split_port"]

MODBUS_TCP_PORT = 502


@dataclass(frozen=True, slots=True)
class ModbusOptions:
    """How to reach the meter (the validated settings with the map's defaults applied)."""

    device_id: int = 1
    baud: int = 9600
    parity: str = "N"
    stop_bits: int = 1
    response_timeout: float = 1.0
    retries: int = DEFAULT_RETRIES
    rotation: str = "ABC"


def split_port(url: str) -> tuple[Framing, str]:
    """(framing, the URL pyserial opens): ``tcp://`` is Modbus TCP, anything else RTU."""
    if not url.lower().startswith("tcp://"):
        return "rtu", url
    rest = url[len("tcp://") :].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or "]" in port:
        host, port = rest, str(MODBUS_TCP_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PortError(f"cannot open {url}: write a Modbus TCP port as tcp://HOST:PORT")
    return "tcp", f"socket://{host}:{port}"


class ModbusDriver:
    """A Modbus meter on one port with one map: makes :class:`ModbusSession`\\ s."""

    def __init__(
        self,
        url: str,
        meter_map: MeterMap,
        options: ModbusOptions | None = None,
        *,
        transport_factory: Callable[[str], Transport] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.map = meter_map
        self.options = options or ModbusOptions(
            baud=meter_map.serial.baud,
            parity=meter_map.serial.parity,
            stop_bits=meter_map.serial.stop_bits,
        )
        self.framing, self._open_url = split_port(url)
        self._transport_factory = transport_factory or self._open_port
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._sleep = sleep
        self.blocks: tuple[Block, ...] = tuple(_identity_first(plan_blocks(meter_map)))
        self.last_stats: LinkStats | None = None

    @property
    def protocol(self) -> MeterProtocol:
        """Always Modbus."""
        return MeterProtocol.MODBUS

    @property
    def port(self) -> str:
        """The port URL sessions open."""
        return self.url

    def _open_port(self, url: str) -> Transport:
        o = self.options
        return open_transport(
            self._open_url,
            baudrate=o.baud,
            parity=o.parity,
            stop_bits=o.stop_bits,
            rts=False,
            power_delay=0.0,
        )

    def session(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ModbusSession:
        """A new, unopened session."""
        return ModbusSession(self, progress=progress, cancel=cancel)

    def read_snapshot(self) -> MeterSnapshot:
        """One session that reads the snapshot; raises DriverError (tests, benchmarks)."""
        session = self.session()
        try:
            with session:
                return session.read_snapshot()
        finally:
            self.last_stats = session.stats


def _identity_first(blocks: list[Block]) -> list[Block]:
    """Blocks carrying identity registers go first: the meter says who it is, then reads."""

    def has_identity(block: Block) -> bool:
        return any(p.quantity in IDENTITY_QUANTITIES for p in block.points)

    return [b for b in blocks if has_identity(b)] + [b for b in blocks if not has_identity(b)]


class ModbusSession:
    """One read of a Modbus meter: open with ``with``, then :meth:`read_snapshot`."""

    def __init__(
        self,
        driver: ModbusDriver,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self._driver = driver
        self._progress = progress
        self._cancel = cancel
        self._frames: list[FrameRecord] = []
        self._transport: Transport | None = None
        self._link: ModbusLink | None = None
        self._start = driver._monotonic()
        self._session_start: float | None = None
        self._session_seconds: float | None = None
        self._values: Values = {}
        self._unavailable: list[Unavailable] = []
        self._blocks_read = 0
        self._items_done = 0

    # --- the MeterSession protocol ---------------------------------------------------------

    @property
    def frames(self) -> tuple[FrameRecord, ...]:
        """Every frame so far (Modbus reads carry no password)."""
        return tuple(self._frames)

    @property
    def stats(self) -> LinkStats:
        """What the session has cost so far."""
        seconds = self._session_seconds
        if seconds is None and self._session_start is not None:
            seconds = self._driver._monotonic() - self._session_start
        if self._link is None:
            return LinkStats(session_seconds=seconds)
        c = self._link.counters
        return LinkStats(
            bytes_tx=c.bytes_tx,
            bytes_rx=c.bytes_rx,
            round_trips=c.round_trips,
            retransmissions=c.retransmissions,
            busy_retries=c.busy_retries,
            session_seconds=seconds,
        )

    def __enter__(self) -> Self:
        if self._cancel is not None:
            self._cancel.check()
        self._report(Stage.CONNECT, self._driver.url)
        self._transport = self._driver._transport_factory(self._driver.url)
        o = self._driver.options
        self._link = ModbusLink(
            self._transport,
            framing=self._driver.framing,
            baud=o.baud,
            response_timeout=o.response_timeout,
            retries=o.retries,
            clock=self._driver._monotonic,
            sleep=self._driver._sleep,
            on_frame=self._record,
            cancel=None if self._cancel is None else self._cancel.check,
        )
        self._session_start = self._driver._monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._report(Stage.CLOSE, None)
        if self._session_start is not None and self._session_seconds is None:
            self._session_seconds = self._driver._monotonic() - self._session_start
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def read_snapshot(self) -> MeterSnapshot:
        """Read every block of the map and return the snapshot (raw frames included)."""
        link = self._require_link()
        driver = self._driver
        self._values = {}
        self._unavailable = []
        self._blocks_read = 0
        refused: list[MeterRefused] = []
        for index, block in enumerate(driver.blocks):
            self._items_done = index
            identity = any(p.quantity in IDENTITY_QUANTITIES for p in block.points)
            self._report(Stage.IDENTIFY if identity else Stage.READ, block.label)
            request = ReadRequest(
                driver.options.device_id, block.function, block.address, block.count
            )
            try:
                registers = link.read(request, where=driver.url)
            except MeterRefused as exc:
                if exc.code != ExceptionCode.ILLEGAL_DATA_ADDRESS and exc.code not in (
                    ExceptionCode.ILLEGAL_DATA_VALUE,
                ):
                    raise  # busy to the end, device failure: the read cannot go on
                refused.append(exc)
                for p in block.points:
                    self._unavailable.append(Unavailable(p.name, str(exc)))
                continue
            self._values.update(decode_block(driver.map, block, registers))
            self._blocks_read += 1
        self._items_done = len(driver.blocks)
        if refused and self._blocks_read == 0:
            first = refused[0]
            raise MeterRefused(
                f"the meter refused every register of the {driver.map.name} map",
                code=first.code,
                service=first.service,
                hint="is it a " + driver.map.spec.model + "? pick the map for this meter",
            )
        return self._build(incomplete=None)

    def partial_snapshot(self, reason: str) -> MeterSnapshot | None:
        """What was read before a failure; None until the first block is in."""
        if self._blocks_read == 0:
            return None
        unread = [
            Unavailable(p.name, f"not read: {reason}")
            for b in self._driver.blocks
            for p in b.points
            if (p.quantity, p.element) not in self._values
            and not any(u.item == p.name for u in self._unavailable)
        ]
        return self._build(incomplete=reason, extra=unread)

    def run_procedure(self, procedure: Procedure) -> ProcedureResult:
        """Refused: the kit sets no clock and resets no demand on a Modbus meter."""
        what = procedure.name.replace("_", " ")
        raise MeterRefused(
            f"{what} is not available on Modbus meters in this kit",
            code=int(ExceptionCode.ILLEGAL_FUNCTION),
            service="procedure",
            hint="use the meter's front panel or the manufacturer's tool",
        )

    # --- inside -------------------------------------------------------------------------

    def _require_link(self) -> ModbusLink:
        if self._link is None:
            raise RuntimeError("open the session first: with driver.session() as session")
        return self._link

    def _record(self, direction: FrameDirection, data: bytes, at: float) -> None:
        self._frames.append(FrameRecord(direction, data, at - self._start))

    def _report(self, stage: Stage, item: str | None) -> None:
        if self._progress is None:
            return
        c = None if self._link is None else self._link.counters
        self._progress(
            Progress(
                stage=stage,
                item=item,
                bytes_tx=0 if c is None else c.bytes_tx,
                bytes_rx=0 if c is None else c.bytes_rx,
                round_trips=0 if c is None else c.round_trips,
                items_done=self._items_done,
                items_total=len(self._driver.blocks),
                baud=self._driver.options.baud,
            )
        )

    def _build(
        self, *, incomplete: str | None, extra: list[Unavailable] | None = None
    ) -> MeterSnapshot:
        return build_snapshot(
            self._driver.map,
            self._values,
            read_at=self._driver._wall_clock(),
            unavailable=self._unavailable + (extra or []),
            frames=tuple(self._frames),
            incomplete=incomplete,
            rotation=self._driver.options.rotation,
        )
