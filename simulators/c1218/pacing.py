"""A serial line's speed, modelled over a socket or pty that has none (``--baud-pace``).

Sans-I/O: bytes and times go in, bytes come out when a real line at the meter's current baud
rate (8N1: 10 bits per byte) would have carried them. Both directions are paced: client bytes
reach the meter only once their last byte would have finished arriving, and meter bytes are
released no faster than the line allows. Disabled, it passes bytes straight through and only
counts the wire time.
"""

from __future__ import annotations

from collections import deque

__all__ = ["BITS_PER_BYTE", "WirePacer"]

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit


class WirePacer:
    """Paces both directions of one serial line."""

    def __init__(self, *, enabled: bool, bits_per_byte: int = BITS_PER_BYTE) -> None:
        self.enabled = enabled
        # 10 for 8N1; 11 for a Modbus RTU character (8E1, 8O1 or 8N2).
        self.bits_per_byte = bits_per_byte
        self._rx: deque[tuple[float, bytes]] = deque()
        self._rx_free = 0.0
        self._tx: deque[tuple[float, bytes]] = deque()
        self._tx_free = 0.0
        self.wire_seconds = 0.0

    def reset(self) -> None:
        """Forget bytes in flight (the connection closed)."""
        self._rx.clear()
        self._tx.clear()
        self._rx_free = self._tx_free = 0.0

    # --- client -> meter --------------------------------------------------------------------

    def inbound(self, data: bytes, now: float, baud: int) -> None:
        """Bytes the client wrote at ``now`` onto a line running at ``baud``."""
        if not data:
            return
        duration = len(data) * self.bits_per_byte / baud
        self.wire_seconds += duration
        if not self.enabled:
            self._rx.append((now, data))
            return
        ready = max(now, self._rx_free) + duration
        self._rx_free = ready
        self._rx.append((ready, data))

    def take_inbound(self, now: float) -> list[bytes]:
        """Chunks that have completely arrived by ``now``, oldest first."""
        out = []
        while self._rx and self._rx[0][0] <= now:
            out.append(self._rx.popleft()[1])
        return out

    # --- meter -> client --------------------------------------------------------------------

    def outbound(self, data: bytes, now: float) -> None:
        """Bytes the meter queued for the wire at ``now``."""
        if data:
            self._tx.append((now, data))

    def take_outbound(self, now: float, baud: int) -> bytes:
        """The bytes whose transmission at ``baud`` has finished by ``now``."""
        byte_time = self.bits_per_byte / baud
        out = bytearray()
        while self._tx:
            queued_at, chunk = self._tx[0]
            if not self.enabled:
                self._tx.popleft()
                self.wire_seconds += len(chunk) * byte_time
                out += chunk
                continue
            start = max(self._tx_free, queued_at)
            # A small epsilon so float rounding does not hold back a byte that is due.
            done = int((now - start) / byte_time + 1e-9)
            if done <= 0:
                break
            take = min(done, len(chunk))
            out += chunk[:take]
            self._tx_free = start + take * byte_time
            self.wire_seconds += take * byte_time
            if take < len(chunk):
                self._tx[0] = (queued_at, chunk[take:])
                break
            self._tx.popleft()
        return bytes(out)

    def next_deadline(self, baud: int) -> float | None:
        """When more bytes become due in either direction, or None."""
        deadlines = []
        if self._rx:
            deadlines.append(self._rx[0][0])
        if self._tx:
            queued_at = self._tx[0][0]
            if not self.enabled:
                deadlines.append(queued_at)
            else:
                deadlines.append(max(self._tx_free, queued_at) + self.bits_per_byte / baud)
        return min(deadlines) if deadlines else None
