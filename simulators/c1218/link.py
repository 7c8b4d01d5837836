"""The meter's side of the C12.18 link layer, sans-I/O.

Bytes in (:meth:`MeterLink.receive`), bytes out (:meth:`MeterLink.data_to_send`), time passed
in as POSIX seconds; nothing here sleeps or reads a clock. What the link does on its own:

- ACK every good packet, NAK a bad CRC or a frame left incomplete for 500 ms;
- drop a duplicate (same toggle bit and CRC as the last accepted packet) after ACKing it again;
  from a client that never flips its toggle bit, the same packet after the answer to it was
  acknowledged is a new request (the client can only have lost our ACK before that);
- reassemble multi-packet requests (first packet ctrl 0xC0, seq-nbr counting down to 0);
- send a message as one or more packets, each a new packet with its toggle bit flipped and
  the identity byte the client used, and wait for the client's ACK of each; on NAK or 2 s
  without ACK resend the identical packet, at most 3 times, then give the message up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fieldkit.drivers.c1218.packet import (
    ACK,
    NAK,
    OVERHEAD,
    BadFrame,
    ControlByte,
    Frame,
    FrameScanner,
    Packet,
    split_message,
)
from simulators.c1218.faults import FaultInjector

__all__ = [
    "ACK_TIMEOUT",
    "DEFAULT_MAX_PACKETS",
    "DEFAULT_PACKET_SIZE",
    "INTER_CHAR_TIMEOUT",
    "RETRIES",
    "LinkCounters",
    "LinkEvent",
    "MessageAbandoned",
    "MessageDelivered",
    "MessageReceived",
    "MeterLink",
]

DEFAULT_PACKET_SIZE = 64  # before Negotiate (EPRI SE-240, MeteringSDK)
DEFAULT_MAX_PACKETS = 1
INTER_CHAR_TIMEOUT = 0.5
ACK_TIMEOUT = 2.0
RETRIES = 3


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A whole request arrived (all its packets, each ACKed)."""

    data: bytes
    packets: int


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    """The client ACKed every packet of the message the meter sent."""


@dataclass(frozen=True, slots=True)
class MessageAbandoned:
    """The meter gave up sending: retries exhausted, or the client moved on."""

    reason: str


LinkEvent = MessageReceived | MessageDelivered | MessageAbandoned


@dataclass(slots=True)
class LinkCounters:
    """Link-level happenings, for the simulator's statistics."""

    packets_in: int = 0
    packets_out: int = 0
    naks_sent: int = 0
    duplicates: int = 0
    retransmissions: int = 0


class MeterLink:
    """One end of the optical link, as a meter runs it."""

    def __init__(
        self,
        *,
        faults: FaultInjector | None = None,
        inter_char_timeout: float = INTER_CHAR_TIMEOUT,
        ack_timeout: float = ACK_TIMEOUT,
        retries: int = RETRIES,
    ) -> None:
        self.faults = faults if faults is not None else FaultInjector()
        self.inter_char_timeout = inter_char_timeout
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.counters = LinkCounters()
        self._scanner = FrameScanner()
        self._out = bytearray()
        self._last_byte_at: float | None = None
        self.reset()

    # --- session state ----------------------------------------------------------------------

    def reset(self, *, keep_partial_frame: bool = False) -> None:
        """Back to how a link starts: default packet size, toggle and duplicate memory cleared.

        Bytes already queued for the wire stay queued: they have left the meter. A partial
        frame being received is kept when ``keep_partial_frame`` (the session ended, the
        wire did not).
        """
        self.packet_size = DEFAULT_PACKET_SIZE
        self.max_packets = DEFAULT_MAX_PACKETS
        # The next packet the meter sends carries toggle 0 (MeteringSDK and termineter reset
        # to 0 after Terminate; the published trace starts with 0).
        self._last_toggle = True
        self._last_accepted: tuple[bool, bytes, int] | None = None
        # Whether the client flips its toggle bit between new packets (None: not seen yet),
        # and whether our answer to its last packet has been acknowledged.
        self._client_flips: bool | None = None
        self._last_answered = False
        self._client_identity = 0
        if not keep_partial_frame:
            self._scanner.reset()
            self._last_byte_at = None
        self._partial: bytearray | None = None
        self._partial_packets = 0
        self._expected_seq = 0
        self._queue: deque[Packet] = deque()
        self._current: bytes | None = None
        self._attempts = 0
        self._ack_deadline: float | None = None
        self.last_activity: float | None = None

    @property
    def sending(self) -> bool:
        """True while a message is going out (a packet waits for its ACK)."""
        return self._current is not None

    @property
    def room(self) -> int:
        """Largest application message the link can send with the current grant."""
        return (self.packet_size - OVERHEAD) * self.max_packets

    # --- bytes in ---------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> list[LinkEvent]:
        """Feed bytes from the wire; return what they completed."""
        events: list[LinkEvent] = []
        if not data:
            return events
        self._expire_partial_frame(now)
        self._last_byte_at = now
        for item in self._scanner.feed(data):
            if isinstance(item, Frame):
                self._on_frame(item, now, events)
            elif isinstance(item, BadFrame):
                self._nak()
            elif isinstance(item, ControlByte):
                self._on_control(item.value, now, events)
            # Junk (noise, echo fragments) is ignored: only a whole frame earns an answer.
        return events

    def _nak(self) -> None:
        self.counters.naks_sent += 1
        self._out.append(NAK)

    def _on_frame(self, frame: Frame, now: float, events: list[LinkEvent]) -> None:
        if self.faults.spoil_incoming():
            self._nak()
            return
        packet = frame.packet
        crc = frame.raw[-2:]
        key = (packet.toggle, crc, packet.identity)
        if key == self._last_accepted and not self._repeats_as_new_request():
            # Our ACK was lost and the client sent the packet again.
            self.counters.duplicates += 1
            self._out.append(ACK)
            return
        if self._last_accepted is not None:
            self._client_flips = packet.toggle != self._last_accepted[0]
        self._last_accepted = key
        self._last_answered = False
        self._client_identity = packet.identity
        self.counters.packets_in += 1
        self._out.append(ACK)
        self.last_activity = now
        if self._current is not None:
            # A new packet instead of the ACK we wait for: the client has moved on.
            self._stop_sending()
            events.append(MessageAbandoned("the client sent a new packet instead of ACK"))
        self._reassemble(packet, events)

    def _repeats_as_new_request(self) -> bool:
        # A client that keeps one toggle bit (esp-idf-ansic1218 always sends 0) repeats a
        # request byte for byte: after a bsy, or to read a table again. Its retransmissions
        # come before it ACKs our answer; once it has, the same bytes ask anew.
        return self._last_answered and self._client_flips is False

    def _reassemble(self, packet: Packet, events: list[LinkEvent]) -> None:
        if not packet.multi or (packet.first and packet.sequence == 0):
            self._partial = None
            events.append(MessageReceived(packet.data, 1))
            return
        if packet.first:
            self._partial = bytearray(packet.data)
            self._partial_packets = 1
            self._expected_seq = packet.sequence - 1
            return
        if self._partial is None or packet.sequence != self._expected_seq:
            # A gap in the sequence: discard; the client has to redo the request.
            self._partial = None
            return
        self._partial += packet.data
        self._partial_packets += 1
        if packet.sequence == 0:
            message, count = bytes(self._partial), self._partial_packets
            self._partial = None
            events.append(MessageReceived(message, count))
        else:
            self._expected_seq -= 1

    def _on_control(self, value: int, now: float, events: list[LinkEvent]) -> None:
        if self._current is None:
            return  # a stray ACK/NAK: nothing of ours is waiting for it
        self.last_activity = now
        if value == ACK:
            self._attempts = 0
            if self._queue:
                self._send_next(now)
            else:
                self._stop_sending()
                self._last_answered = True
                events.append(MessageDelivered())
        else:
            self._retry(now, events)

    # --- bytes out --------------------------------------------------------------------------

    def send_message(self, payload: bytes, now: float) -> None:
        """Start sending one application message (split into packets as granted)."""
        packets = split_message(
            payload,
            packet_size=self.packet_size,
            toggle=not self._last_toggle,
            identity=self._client_identity,
        )
        self._queue = deque(packets)
        self._send_next(now)

    def _send_next(self, now: float) -> None:
        packet = self._queue.popleft()
        self._last_toggle = packet.toggle
        self._current = packet.encode()
        self._attempts = 0
        self.counters.packets_out += 1
        self._transmit(now)

    def _transmit(self, now: float) -> None:
        assert self._current is not None
        wire = self.faults.outgoing(self._current)
        if wire is not None:
            self._out += wire
        self._ack_deadline = now + self.ack_timeout

    def _retry(self, now: float, events: list[LinkEvent]) -> None:
        if self._attempts >= self.retries:
            self._stop_sending()
            events.append(MessageAbandoned(f"no ACK after {self.retries} retransmissions"))
            return
        self._attempts += 1
        self.counters.retransmissions += 1
        self._transmit(now)

    def _stop_sending(self) -> None:
        self._queue.clear()
        self._current = None
        self._attempts = 0
        self._ack_deadline = None

    def data_to_send(self) -> bytes:
        """Bytes for the wire, oldest first; the buffer is emptied."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- time -------------------------------------------------------------------------------

    def _expire_partial_frame(self, now: float) -> None:
        if (
            self._scanner.in_frame
            and self._last_byte_at is not None
            and now - self._last_byte_at >= self.inter_char_timeout
        ):
            self._scanner.reset()
            self._nak()

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` has work to do, or None."""
        deadlines = []
        if self._scanner.in_frame and self._last_byte_at is not None:
            deadlines.append(self._last_byte_at + self.inter_char_timeout)
        if self._ack_deadline is not None:
            deadlines.append(self._ack_deadline)
        return min(deadlines) if deadlines else None

    def handle_timeout(self, now: float) -> list[LinkEvent]:
        """Run the inter-character and ACK timers."""
        events: list[LinkEvent] = []
        self._expire_partial_frame(now)
        if self._ack_deadline is not None and now >= self._ack_deadline:
            self._retry(now, events)
        return events
