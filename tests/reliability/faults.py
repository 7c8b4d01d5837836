"""A faulty serial link between a driver and a simulated meter: the field's optical port.

:class:`FaultyTransport` wraps any :class:`~fieldkit.drivers.transport.Transport` (the one
every driver's I/O loop talks to) and, from a seeded random source, corrupts, drops,
duplicates and delays bytes in both directions, stalls past the timeouts, and disconnects
mid-frame at a scheduled byte count — a glove on the probe, sunlight on the port, a cable
pulled. Every fault is counted so a campaign can say what it injected.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from fieldkit.drivers.errors import PortError
from fieldkit.drivers.transport import Transport

__all__ = ["FaultCounts", "FaultPlan", "FaultyTransport"]


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Rates per byte, and the scheduled events of one session."""

    byte_error_rate: float = 0.0  # a bit flipped in the byte
    drop_rate: float = 0.0  # the byte never arrives
    duplicate_rate: float = 0.0  # the byte arrives twice
    delay_rate: float = 0.0  # a read is held back this often ...
    delay_seconds: float = 0.0  # ... for this long
    stall_after: int | None = None  # bytes received, then silence for stall_seconds
    stall_seconds: float = 0.0
    disconnect_after: int | None = None  # bytes through, then the cable is pulled


@dataclass(slots=True)
class FaultCounts:
    """What was injected, over every transport made from one plan's counter."""

    bytes: int = 0
    corrupted: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    stalls: int = 0
    disconnects: int = 0

    def total(self) -> int:
        """Every fault injected."""
        return (
            self.corrupted
            + self.dropped
            + self.duplicated
            + self.delayed
            + self.stalls
            + self.disconnects
        )


@dataclass
class FaultyTransport:
    """A Transport that passes bytes through the faults of ``plan``."""

    inner: Transport
    plan: FaultPlan
    rng: random.Random
    counts: FaultCounts = field(default_factory=FaultCounts)
    _through: int = 0
    _stalled: bool = False
    _gone: bool = False

    @property
    def url(self) -> str:
        return self.inner.url

    def _mangle(self, data: bytes) -> bytes:
        plan, rng, out = self.plan, self.rng, bytearray()
        for byte in data:
            self.counts.bytes += 1
            if plan.drop_rate and rng.random() < plan.drop_rate:
                self.counts.dropped += 1
                continue
            if plan.byte_error_rate and rng.random() < plan.byte_error_rate:
                byte ^= 1 << rng.randrange(8)
                self.counts.corrupted += 1
            out.append(byte)
            if plan.duplicate_rate and rng.random() < plan.duplicate_rate:
                out.append(byte)
                self.counts.duplicated += 1
        return bytes(out)

    def _count_through(self, n: int) -> None:
        self._through += n
        limit = self.plan.disconnect_after
        if limit is not None and self._through >= limit and not self._gone:
            self._gone = True
            self.counts.disconnects += 1
            self.inner.close()
        if self._gone:
            raise PortError(f"lost the port {self.url}: the probe was disconnected")

    def write(self, data: bytes) -> None:
        if self._gone:
            raise PortError(f"lost the port {self.url}: the probe was disconnected")
        self.inner.write(self._mangle(data))
        self._count_through(len(data))

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self._gone:
            raise PortError(f"lost the port {self.url}: the probe was disconnected")
        plan = self.plan
        if plan.stall_after is not None and not self._stalled and self._through >= plan.stall_after:
            self._stalled = True
            self.counts.stalls += 1
            time.sleep(plan.stall_seconds)
        if plan.delay_rate and self.rng.random() < plan.delay_rate:
            self.counts.delayed += 1
            time.sleep(plan.delay_seconds)
        data = self.inner.read(max_bytes, timeout)
        if data:
            self._count_through(len(data))
        return self._mangle(data)

    def set_baudrate(self, baudrate: int) -> None:
        self.inner.set_baudrate(baudrate)

    def flush_input(self) -> None:
        self.inner.flush_input()

    def close(self) -> None:
        self.inner.close()
