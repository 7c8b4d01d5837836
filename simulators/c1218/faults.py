"""Fault injection on the simulated wire: corrupted and dropped packets.

Decisions come from a seeded :class:`random.Random`, so a run with ``--seed`` is repeatable.
Busy answers, slow answers and a meter that stops answering are service-level faults and live
in the meter itself; this module only touches packets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fieldkit.drivers.c1218.packet import HEADER_SIZE

__all__ = ["FaultCounters", "FaultInjector"]


@dataclass(slots=True)
class FaultCounters:
    """How many packets the injector spoiled."""

    corrupted_in: int = 0
    corrupted_out: int = 0
    dropped_out: int = 0


class FaultInjector:
    """Decides, packet by packet, whether the wire corrupts or loses it."""

    def __init__(
        self,
        *,
        corrupt_rate: float = 0.0,
        drop_rate: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.corrupt_rate = corrupt_rate
        self.drop_rate = drop_rate
        # Not security: a repeatable stream of coin flips for fault injection.
        self.rng = rng if rng is not None else random.Random()  # noqa: S311
        self.counters = FaultCounters()

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def spoil_incoming(self) -> bool:
        """True when a packet from the client should count as corrupted (the meter NAKs)."""
        if self._hit(self.corrupt_rate):
            self.counters.corrupted_in += 1
            return True
        return False

    def outgoing(self, raw: bytes) -> bytes | None:
        """What actually goes on the wire for one packet: None when it is lost.

        A corrupted packet keeps its header, so the client sees a whole frame with a bad
        CRC and NAKs it, rather than losing sync until its inter-character timeout.
        """
        if self._hit(self.drop_rate):
            self.counters.dropped_out += 1
            return None
        if self._hit(self.corrupt_rate) and len(raw) > HEADER_SIZE:
            self.counters.corrupted_out += 1
            spoiled = bytearray(raw)
            at = self.rng.randrange(HEADER_SIZE, len(raw))
            spoiled[at] ^= 1 << self.rng.randrange(8)
            return bytes(spoiled)
        return raw
