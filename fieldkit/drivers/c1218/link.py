"""ANSI C12.18 link layer, sans-I/O (the h11 pattern): bytes in, events out, time passed in.

The I/O layer feeds what it read to :meth:`LinkConnection.receive_data`, writes whatever
:meth:`LinkConnection.data_to_send` returns, calls :meth:`LinkConnection.handle_timeout`
when :meth:`LinkConnection.next_deadline` has passed, and takes events from
:meth:`LinkConnection.next_event` until it gets :data:`NEED_DATA`.

What the link does (c12-protocols.md §1.3, §1.5, §1.6):

* Sending: a message is cut into packets; one packet is in flight at a time, and the next
  goes only after the ACK of the previous one. A NAK or no ACK within the response timeout
  retransmits the identical packet; after ``retries`` retransmissions the link fails. Each
  new packet flips this side's toggle bit, a retransmission keeps it.
* Receiving: a good frame is ACKed, a bad CRC or a frame cut short by the inter-character
  timeout is NAKed. A frame with the same toggle bit and CRC as the last accepted one is a
  duplicate (our ACK was lost): it is ACKed again and dropped. Multi-packet messages are
  reassembled by sequence number, and one announcing more packets than ``max_packets``
  (the count Negotiate granted) is discarded as broken.
* PSEM is request/response: once a message is fully acknowledged the link expects the reply
  within the channel traffic timeout.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from fieldkit.drivers.c1218.packet import (
    ACK,
    MAX_PACKET_SIZE,
    NAK,
    OVERHEAD,
    BadFrame,
    ControlByte,
    Frame,
    FrameError,
    FrameScanner,
    Junk,
    Packet,
    split_message,
)
from fieldkit.drivers.errors import LinkError
from fieldkit.model import FrameDirection

__all__ = [
    "NEED_DATA",
    "FrameObserver",
    "LinkConfig",
    "LinkConnection",
    "LinkEvent",
    "LinkFailed",
    "MessageBroken",
    "MessageReceived",
    "MessageSent",
    "NeedData",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Link timing and behaviour; the defaults are the C12.18 optical-port values."""

    response_timeout: float = 2.0  # wait for the ACK of a packet
    inter_char_timeout: float = 0.5  # silence inside a frame that ends it
    traffic_timeout: float = 6.0  # silence after which the meter drops the session
    retries: int = 3  # retransmissions of one packet before the link fails
    duplicate_detection: bool = True  # off for meters that mis-set their toggle bit
    identity: int = 0  # identity byte of outgoing packets


class NeedData(Enum):
    """Type of the :data:`NEED_DATA` sentinel."""

    NEED_DATA = "NEED_DATA"


#: Returned by :meth:`LinkConnection.next_event` when more bytes (or time) are needed.
NEED_DATA: Final = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A complete application message from the peer (multi-packet messages reassembled)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class MessageSent:
    """The peer acknowledged the last packet of the message being sent."""


@dataclass(frozen=True, slots=True)
class LinkFailed:
    """The link gave up: retries exhausted, or no reply within the traffic timeout."""

    reason: str


@dataclass(frozen=True, slots=True)
class MessageBroken(LinkFailed):
    """A multi-packet message arrived with a gap or out of order and was discarded.

    The link itself still works: the request should be sent again.
    """


LinkEvent = MessageReceived | MessageSent | LinkFailed

#: Called with ("tx" | "rx", raw frame) for every packet that crosses the wire.
FrameObserver = Callable[[FrameDirection, bytes], None]


class LinkConnection:
    """One end of a C12.18 link (the client's: every message sent expects a reply)."""

    def __init__(
        self, config: LinkConfig = LinkConfig(), *, on_frame: FrameObserver | None = None
    ) -> None:
        self.config = config
        self._on_frame = on_frame
        self._scanner = FrameScanner()
        self._out = bytearray()
        self._events: deque[LinkEvent] = deque()
        self._now: float | None = None  # the latest time the caller gave us
        self._last_rx = 0.0
        # sending
        self._next_toggle = False
        self._queue: deque[Packet] = deque()
        self._in_flight: bytes | None = None
        self._attempts = 0
        self._ack_deadline: float | None = None
        self._last_tx: bytes | None = None
        self._reply_deadline: float | None = None
        # receiving
        self._last_accepted: tuple[bool, int] | None = None  # (toggle, CRC)
        self._partial: bytearray | None = None
        self._expected_seq = 0
        self._discarding = False
        # counters, kept across reset() so the client can report a whole visit
        self.retransmissions = 0
        self.naks_sent = 0
        self.bytes_received = 0
        # The most packets one message from the peer may have: the count Negotiate granted
        # (1 before it), set by the session's owner; None: no limit. A longer message
        # breaks the grant and is discarded.
        self.max_packets: int | None = None

    # --- the I/O layer's side -----------------------------------------------------------

    def send_message(self, app_data: bytes, packet_size: int, now: float | None = None) -> None:
        """Queue one application message, cut into packets of at most ``packet_size``.

        ``now`` starts the ACK timer; when omitted the latest time seen is used, or the
        timer starts at the next call that passes the time.
        """
        if self._in_flight is not None:
            raise LinkError("the previous message is still being sent: wait for its ACK")
        if not OVERHEAD < packet_size <= MAX_PACKET_SIZE:
            raise LinkError(f"packet size {packet_size} is out of range 9..{MAX_PACKET_SIZE}")
        try:
            packets = split_message(
                app_data,
                packet_size=packet_size,
                toggle=self._next_toggle,
                identity=self.config.identity,
            )
        except FrameError as exc:
            raise LinkError(f"cannot send this message: {exc}") from None
        self._next_toggle = not packets[-1].toggle
        self._reply_deadline = None
        self._queue.extend(packets)
        self._send_next(self._now if now is None else now)

    def data_to_send(self) -> bytes:
        """Bytes to write now (packets, ACK, NAK); empties the outgoing buffer."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the port at time ``now``."""
        self._see_time(now)
        if not data:
            return
        # A late read can bring the rest of a frame the meter abandoned together with what it
        # sent after the silence: the stale part must go before the new bytes are scanned.
        self._drop_cut_frame(now)
        self.bytes_received += len(data)
        self._last_rx = now
        for event in self._scanner.feed(data):
            if isinstance(event, Frame):
                self._frame_received(event, now)
            elif isinstance(event, ControlByte):
                self._control_received(event.value, now)
            elif isinstance(event, BadFrame):
                self._notify("rx", event.raw)
                self._nak("bad CRC")
            elif isinstance(event, Junk):
                log.debug("ignored %d bytes of line noise", len(event.raw))

    def handle_timeout(self, now: float) -> None:
        """Act on every timer that has expired at ``now``; harmless to call early."""
        self._see_time(now)
        if self._scanner.in_frame and not self._drop_cut_frame(now):
            return  # a frame is arriving: the other timers wait for it
        if self._in_flight is not None:
            if self._ack_deadline is not None and now >= self._ack_deadline:
                self._retransmit(now, "no ACK")
        elif self._reply_deadline is not None and now >= self._reply_deadline:
            self._fail(
                f"the meter acknowledged the request but sent no answer within "
                f"{self.config.traffic_timeout:g} s"
            )

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must be called next; None when nothing is pending."""
        if self._scanner.in_frame:
            return self._last_rx + self.config.inter_char_timeout
        if self._in_flight is not None:
            return self._ack_deadline
        return self._reply_deadline

    def next_event(self) -> LinkEvent | NeedData:
        """The next event, or :data:`NEED_DATA`."""
        return self._events.popleft() if self._events else NEED_DATA

    def expect_reply(self, now: float) -> None:
        """Keep waiting for a reply: the message just received was not it."""
        self._see_time(now)
        if self._in_flight is None:
            self._reply_deadline = now + self.config.traffic_timeout

    def reset(self, *, keep_toggle: bool = False) -> None:
        """Start afresh (after Terminate or a session restart): buffers empty, toggles to 0.

        ``keep_toggle`` carries on with this side's toggle instead: a meter that was not
        terminated may still hold our last packet, and a new packet equal to it would be
        taken for a duplicate and dropped (c12-protocols.md §1.6).
        """
        self._scanner.reset()
        self._out.clear()
        self._events.clear()
        if not keep_toggle:
            self._next_toggle = False
        self._clear_sending()
        self._last_tx = None
        self._last_accepted = None
        self._partial = None
        self._discarding = False

    # --- sending --------------------------------------------------------------------------

    def _send_next(self, now: float | None) -> None:
        packet = self._queue.popleft()
        self._in_flight = packet.encode()
        self._attempts = 0
        self._transmit(now)

    def _transmit(self, now: float | None) -> None:
        raw = self._in_flight
        assert raw is not None
        self._out += raw
        self._last_tx = raw
        self._notify("tx", raw)
        self._ack_deadline = None if now is None else now + self.config.response_timeout

    def _retransmit(self, now: float, why: str) -> None:
        if self._attempts >= self.config.retries:
            self._fail(f"a packet was not acknowledged after {self.config.retries} retries ({why})")
            return
        self._attempts += 1
        self.retransmissions += 1
        log.debug("retransmission %d of a packet (%s)", self._attempts, why)
        self._transmit(now)

    def _acknowledged(self, now: float) -> None:
        self._in_flight = None
        self._ack_deadline = None
        if self._queue:
            self._send_next(now)
        else:
            self._message_sent(now)

    def _message_sent(self, now: float) -> None:
        self._events.append(MessageSent())
        self._reply_deadline = now + self.config.traffic_timeout

    def _clear_sending(self) -> None:
        self._queue.clear()
        self._in_flight = None
        self._ack_deadline = None
        self._reply_deadline = None

    def _fail(self, reason: str) -> None:
        log.debug("link failed: %s", reason)
        self._clear_sending()
        self._partial = None
        self._events.append(LinkFailed(reason))

    # --- receiving ------------------------------------------------------------------------

    def _control_received(self, value: int, now: float) -> None:
        if self._in_flight is None:
            log.debug("ignored a stray 0x%02X", value)
        elif value == ACK:
            self._acknowledged(now)
        else:
            self._retransmit(now, "NAK")

    def _frame_received(self, frame: Frame, now: float) -> None:
        raw, packet = frame.raw, frame.packet
        if raw == self._last_tx:
            log.debug("ignored the echo of our own packet")
            return
        self._notify("rx", raw)
        key = (packet.toggle, int.from_bytes(raw[-2:], "little"))
        if self.config.duplicate_detection and key == self._last_accepted:
            log.debug("duplicate packet (our ACK was lost): acknowledged again and dropped")
            self._out.append(ACK)
            return
        continuation = packet.multi and not packet.first
        if self._in_flight is not None:
            if continuation:
                # The tail of an earlier answer: it cannot be the reply to this request.
                log.debug("acknowledged and dropped the tail of an earlier message")
                self._out.append(ACK)
                return
            self._replied_before_ack(now)
        if self._last_accepted is not None and packet.toggle == self._last_accepted[0]:
            log.debug("the meter did not flip its toggle bit; packet accepted anyway")
        self._last_accepted = key
        self._out.append(ACK)
        self._assemble(packet, now)

    def _replied_before_ack(self, now: float) -> None:
        """The meter's ACK was lost but its reply arrived: the reply is the ACK."""
        log.debug("reply arrived instead of the ACK: taken as the ACK")
        whole_message = not self._queue
        self._clear_sending()
        if whole_message:
            self._message_sent(now)
        # Otherwise the meter answered before our last packet: it gave up on the message.

    def _assemble(self, packet: Packet, now: float) -> None:
        if not packet.multi:
            if self._partial is not None:
                log.debug("a single packet interrupted a multi-packet message")
            self._partial = None
            self._discarding = False
            self._deliver(packet.data)
            return
        if packet.first:
            if self._partial is not None:
                log.debug("a new first packet restarted a multi-packet message")
            self._discarding = False
            if packet.sequence == 0:
                self._deliver(packet.data)
                return
            if self.max_packets is not None and packet.sequence + 1 > self.max_packets:
                self._partial = None
                self._broken(
                    f"the meter announced a {packet.sequence + 1}-packet answer where "
                    f"{self.max_packets} per message were negotiated"
                )
                return
            self._partial = bytearray(packet.data)
            self._expected_seq = packet.sequence - 1
            self._more_to_come(now)
            return
        if self._partial is None:
            if self._discarding:
                self._discarding = packet.sequence != 0
                log.debug("dropped a packet of a discarded message")
            else:
                self._broken("a continuation packet arrived without its first packet")
            return
        if packet.sequence != self._expected_seq:
            self._broken(
                f"packet sequence jumped from {self._expected_seq + 1} to {packet.sequence}"
            )
            return
        self._partial += packet.data
        if packet.sequence == 0:
            data = bytes(self._partial)
            self._partial = None
            self._deliver(data)
        else:
            self._expected_seq -= 1
            self._more_to_come(now)

    def _more_to_come(self, now: float) -> None:
        if self._reply_deadline is not None:
            self._reply_deadline = now + self.config.traffic_timeout

    def _deliver(self, data: bytes) -> None:
        self._reply_deadline = None
        self._events.append(MessageReceived(data))

    def _broken(self, reason: str) -> None:
        log.debug("multi-packet message discarded: %s", reason)
        self._partial = None
        self._discarding = True
        self._reply_deadline = None
        self._events.append(MessageBroken(reason))

    def _drop_cut_frame(self, now: float) -> bool:
        """NAK a partial frame once the inter-character timeout has passed; True if dropped."""
        if not self._scanner.in_frame or now < self._last_rx + self.config.inter_char_timeout:
            return False
        dropped = self._scanner.reset()
        self._nak(f"frame cut short after {len(dropped)} bytes")
        return True

    def _nak(self, why: str) -> None:
        log.debug("NAK: %s", why)
        self._out.append(NAK)
        self.naks_sent += 1

    # --- helpers --------------------------------------------------------------------------

    def _see_time(self, now: float) -> None:
        self._now = now
        if self._in_flight is not None and self._ack_deadline is None:
            self._ack_deadline = now + self.config.response_timeout

    def _notify(self, direction: FrameDirection, raw: bytes) -> None:
        if self._on_frame is not None:
            self._on_frame(direction, raw)
