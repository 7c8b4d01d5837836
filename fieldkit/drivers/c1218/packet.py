"""ANSI C12.18 packet codec: framing, CRC-16/X-25 and the table-data checksum.

Pure functions and a streaming scanner; no port, no clock. This is the one piece of the
C12.18 stack the simulators share with the driver, because the public vectors in
``tests/vectors/c1218_frames.json`` pin it down byte for byte.

Packet layout::

    EE | identity | ctrl | seq-nbr | length (2, big-endian) | data (length) | CRC (2, low first)

``ctrl`` bit 7 = part of a multi-packet message, bit 6 = first packet of it, bit 5 = toggle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "ACK",
    "CTRL_FIRST",
    "CTRL_MULTI",
    "CTRL_TOGGLE",
    "HEADER_SIZE",
    "MAX_PACKET_SIZE",
    "NAK",
    "OVERHEAD",
    "STP",
    "BadFrame",
    "ControlByte",
    "Frame",
    "FrameError",
    "FrameScanner",
    "Junk",
    "Packet",
    "crc16",
    "decode_packet",
    "split_message",
    "table_checksum",
]

STP = 0xEE
ACK = 0x06
NAK = 0x15
CTRL_MULTI = 0x80
CTRL_FIRST = 0x40
CTRL_TOGGLE = 0x20
HEADER_SIZE = 6
OVERHEAD = HEADER_SIZE + 2  # header + CRC: the negotiated packet size counts both
MAX_PACKET_SIZE = 8192  # the largest packet Negotiate can grant


class FrameError(ValueError):
    """A byte string is not a valid C12.18 packet."""


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0x8408 if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/X-25 (reflected 0x1021, init and final XOR 0xFFFF); sent low byte first."""
    reg = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        reg = (reg >> 8) ^ table[(reg ^ byte) & 0xFF]
    return reg ^ 0xFFFF


def table_checksum(data: bytes) -> int:
    """Table-data checksum: two's complement of the 8-bit sum of the data bytes."""
    return -sum(data) & 0xFF


@dataclass(frozen=True, slots=True)
class Packet:
    """One C12.18 link-layer packet."""

    data: bytes
    toggle: bool = False
    multi: bool = False
    first: bool = False
    sequence: int = 0
    identity: int = 0

    @property
    def ctrl(self) -> int:
        """The control byte this packet carries."""
        return (
            (CTRL_MULTI if self.multi else 0)
            | (CTRL_FIRST if self.first else 0)
            | (CTRL_TOGGLE if self.toggle else 0)
        )

    def encode(self) -> bytes:
        """The packet's bytes on the wire, CRC included."""
        if len(self.data) > MAX_PACKET_SIZE - OVERHEAD:
            raise FrameError(f"{len(self.data)} data bytes do not fit one packet")
        if not 0 <= self.sequence <= 0xFF or not 0 <= self.identity <= 0xFF:
            raise FrameError("sequence number and identity are single bytes")
        head = bytes((STP, self.identity, self.ctrl, self.sequence)) + len(self.data).to_bytes(
            2, "big"
        )
        body = head + self.data
        return body + crc16(body).to_bytes(2, "little")


def decode_packet(frame: bytes) -> Packet:
    """Decode exactly one packet; raise :class:`FrameError` saying what is wrong with it."""
    if len(frame) < OVERHEAD:
        raise FrameError(f"a packet is at least {OVERHEAD} bytes, got {len(frame)}")
    if frame[0] != STP:
        raise FrameError(f"a packet starts with 0xEE, got 0x{frame[0]:02X}")
    length = int.from_bytes(frame[4:6], "big")
    if len(frame) != OVERHEAD + length:
        raise FrameError(
            f"length field says {length} data bytes, frame carries {len(frame) - OVERHEAD}"
        )
    if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
        raise FrameError("CRC mismatch")
    ctrl = frame[2]
    return Packet(
        data=bytes(frame[HEADER_SIZE:-2]),
        toggle=bool(ctrl & CTRL_TOGGLE),
        multi=bool(ctrl & CTRL_MULTI),
        first=bool(ctrl & CTRL_FIRST),
        sequence=frame[3],
        identity=frame[1],
    )


def split_message(
    data: bytes, *, packet_size: int, toggle: bool, identity: int = 0
) -> list[Packet]:
    """Cut one application message into packets no larger than ``packet_size``.

    A single packet is sent with ctrl 0; a multi-packet message has the first packet
    flagged 0xC0 and the rest 0x80, sequence numbers counting down to 0. ``toggle`` is the
    bit of the first packet; each later packet is a new packet and flips it.
    """
    room = packet_size - OVERHEAD
    if room <= 0:
        raise FrameError(f"packet size {packet_size} leaves no room for data")
    chunks = [data[i : i + room] for i in range(0, len(data), room)] or [b""]
    if len(chunks) == 1:
        return [Packet(chunks[0], toggle=toggle, identity=identity)]
    if len(chunks) > 0x100:
        raise FrameError(f"{len(data)} bytes need more than 256 packets of {packet_size}")
    last = len(chunks) - 1
    return [
        Packet(
            chunk,
            toggle=toggle ^ bool(n & 1),
            multi=True,
            first=n == 0,
            sequence=last - n,
            identity=identity,
        )
        for n, chunk in enumerate(chunks)
    ]


# --- streaming ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete packet with a good CRC, and its raw bytes."""

    packet: Packet
    raw: bytes


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A complete frame whose CRC failed: the receiver answers NAK."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class ControlByte:
    """A lone ACK (0x06) or NAK (0x15) between frames."""

    value: int


@dataclass(frozen=True, slots=True)
class Junk:
    """Bytes that were not the start of a frame (line noise, echo fragments)."""

    raw: bytes


ScanEvent = Frame | BadFrame | ControlByte | Junk


class FrameScanner:
    """Turns a byte stream into frames and control bytes. Bytes in, events out.

    The scanner never waits: an incomplete frame stays buffered until more bytes arrive or
    the caller decides (on its inter-character timeout) to :meth:`reset`.
    """

    def __init__(self, max_packet_size: int = MAX_PACKET_SIZE) -> None:
        self._buf = bytearray()
        self._max_data = max_packet_size - OVERHEAD

    @property
    def in_frame(self) -> bool:
        """True while part of a frame is buffered."""
        return bool(self._buf)

    def reset(self) -> bytes:
        """Drop a partial frame (inter-character timeout) and return what was dropped."""
        dropped = bytes(self._buf)
        self._buf.clear()
        return dropped

    def feed(self, data: bytes) -> Iterator[ScanEvent]:
        """Consume ``data`` and yield every event it completes."""
        buf = self._buf
        junk = bytearray()
        for byte in data:
            if not buf:
                if byte == STP:
                    yield from self._flush_junk(junk)
                    buf.append(byte)
                elif byte in (ACK, NAK):
                    yield from self._flush_junk(junk)
                    yield ControlByte(byte)
                else:
                    junk.append(byte)
                continue
            buf.append(byte)
            if len(buf) == HEADER_SIZE:
                length = int.from_bytes(buf[4:6], "big")
                if length > self._max_data:
                    # Not a real header: the 0xEE was noise. Rescan what followed it.
                    rest = bytes(buf[1:])
                    junk.append(STP)
                    buf.clear()
                    yield from self._flush_junk(junk)
                    yield from self.feed(rest)
                continue
            if len(buf) > HEADER_SIZE:
                length = int.from_bytes(buf[4:6], "big")
                if len(buf) == OVERHEAD + length:
                    raw = bytes(buf)
                    buf.clear()
                    try:
                        yield Frame(decode_packet(raw), raw)
                    except FrameError:
                        yield BadFrame(raw)
        yield from self._flush_junk(junk)

    @staticmethod
    def _flush_junk(junk: bytearray) -> Iterator[ScanEvent]:
        if junk:
            yield Junk(bytes(junk))
            junk.clear()
