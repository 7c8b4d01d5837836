"""Modbus frames and register values, sans-I/O: bytes in, answers out, nothing touches a port.

Two framings carry the same read requests (function 3, read holding registers; function 4,
read input registers):

- **RTU** (RS-485, or an RTU-over-TCP gateway): ``device, function, address, count, CRC``,
  the CRC-16/Modbus (reflected poly 0xA001, init 0xFFFF) sent low byte first;
- **TCP** (MBAP): ``transaction, protocol 0, length, unit, function, address, count``.

:class:`RtuAnswerParser` and :class:`MbapAnswerParser` take the bytes of an answer as they
arrive and say when a whole frame is in: :class:`Registers` (the values), :class:`Refusal`
(an exception response) or a :class:`FrameError` subclass for a frame that cannot be used.
A frame from another device id is :class:`OtherDevice`: on a shared bus it belongs to
someone else, and the caller decides whether to keep waiting.

:func:`decode_value` turns a point's registers into a number or text with the word and byte
order a map states; nothing here guesses an order.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

__all__ = [
    "MAX_READ_REGISTERS",
    "READ_FUNCTIONS",
    "BadCrc",
    "ByteOrder",
    "ExceptionCode",
    "FrameError",
    "MalformedFrame",
    "MbapAnswerParser",
    "OtherDevice",
    "ReadRequest",
    "Refusal",
    "Registers",
    "RtuAnswerParser",
    "StaleAnswer",
    "ValueType",
    "WordOrder",
    "crc16",
    "decode_value",
    "encode_mbap",
    "encode_rtu",
    "is_number",
    "rtu_char_time",
    "rtu_frame_gap",
    "type_registers",
]

READ_FUNCTIONS = (3, 4)
MAX_READ_REGISTERS = 125  # Modbus application protocol 1.1b3, 6.3/6.4

WordOrder = Literal["big", "little"]
ByteOrder = Literal["big", "little"]
ValueType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "string"]

_TYPE_REGISTERS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
}
_STRUCT: dict[str, str] = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
}


class ExceptionCode(IntEnum):
    """Exception codes a Modbus server answers with (application protocol, section 7)."""

    ILLEGAL_FUNCTION = 1
    ILLEGAL_DATA_ADDRESS = 2
    ILLEGAL_DATA_VALUE = 3
    SERVER_DEVICE_FAILURE = 4
    ACKNOWLEDGE = 5
    SERVER_DEVICE_BUSY = 6
    MEMORY_PARITY_ERROR = 8
    GATEWAY_PATH_UNAVAILABLE = 10
    GATEWAY_TARGET_FAILED = 11

    @property
    def meaning(self) -> str:
        """What the code means to a technician."""
        return _MEANINGS[self]

    @classmethod
    def describe(cls, code: int) -> str:
        """``"illegal data address (2)"`` for any code, known or not."""
        try:
            return f"{cls(code).meaning} ({code})"
        except ValueError:
            return f"exception code {code}"


_MEANINGS: dict[ExceptionCode, str] = {
    ExceptionCode.ILLEGAL_FUNCTION: "illegal function",
    ExceptionCode.ILLEGAL_DATA_ADDRESS: "illegal data address",
    ExceptionCode.ILLEGAL_DATA_VALUE: "illegal data value",
    ExceptionCode.SERVER_DEVICE_FAILURE: "device failure",
    ExceptionCode.ACKNOWLEDGE: "acknowledge (still working)",
    ExceptionCode.SERVER_DEVICE_BUSY: "device busy",
    ExceptionCode.MEMORY_PARITY_ERROR: "memory parity error",
    ExceptionCode.GATEWAY_PATH_UNAVAILABLE: "gateway path unavailable",
    ExceptionCode.GATEWAY_TARGET_FAILED: "gateway target did not answer",
}


def type_registers(value_type: str, length: int | None = None) -> int:
    """How many registers a value of ``value_type`` takes (strings: ``length``)."""
    if value_type == "string":
        if length is None or length < 1:
            raise ValueError("a string needs its length in registers")
        return length
    return _TYPE_REGISTERS[value_type]


# --- CRC and timing ---------------------------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/Modbus of ``data`` (sent on the wire low byte first)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def rtu_char_time(baud: int) -> float:
    """Seconds one RTU character takes: 11 bits (start, 8 data, parity or a 2nd stop, stop)."""
    return 11.0 / baud


def rtu_frame_gap(baud: int) -> float:
    """The silent interval that separates RTU frames: 3.5 characters, 1.75 ms above 19200."""
    return 0.00175 if baud > 19200 else 3.5 * rtu_char_time(baud)


# --- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """Read ``count`` registers from ``address`` (0-based, on the wire) with ``function``."""

    device_id: int
    function: int
    address: int
    count: int

    def __post_init__(self) -> None:
        if self.function not in READ_FUNCTIONS:
            raise ValueError(f"function {self.function} is not a register read (3 or 4)")
        if not 0 <= self.device_id <= 255:
            raise ValueError(f"device id {self.device_id} is outside 0-255")
        if not 1 <= self.count <= MAX_READ_REGISTERS:
            raise ValueError(f"{self.count} registers: a read asks for 1-{MAX_READ_REGISTERS}")
        if not 0 <= self.address <= 0xFFFF or self.address + self.count > 0x10000:
            raise ValueError(f"registers {self.address}+{self.count} are outside 0-65535")

    @property
    def pdu(self) -> bytes:
        """Function code and data: the part both framings share."""
        return struct.pack(">BHH", self.function, self.address, self.count)

    @property
    def label(self) -> str:
        """``"input registers 0-79"``: what a technician sees in the progress line."""
        kind = "holding" if self.function == 3 else "input"
        return f"{kind} registers {self.address}-{self.address + self.count - 1}"


def encode_rtu(request: ReadRequest) -> bytes:
    """The RTU frame of ``request``: device id, PDU, CRC low byte first."""
    body = bytes([request.device_id]) + request.pdu
    return body + struct.pack("<H", crc16(body))


def encode_mbap(request: ReadRequest, transaction: int) -> bytes:
    """The Modbus TCP frame of ``request`` with transaction id ``transaction`` (0-65535)."""
    pdu = request.pdu
    return struct.pack(">HHHB", transaction & 0xFFFF, 0, len(pdu) + 1, request.device_id) + pdu


# --- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registers:
    """A normal answer: the register values, 16 bits each."""

    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """An exception response: the device understood and refused."""

    code: int

    @property
    def meaning(self) -> str:
        """The code in words."""
        return ExceptionCode.describe(self.code)


class FrameError(ValueError):
    """A complete frame that cannot be the answer (its bytes are kept for the record)."""

    def __init__(self, message: str, frame: bytes) -> None:
        super().__init__(message)
        self.frame = frame


class BadCrc(FrameError):
    """The frame's CRC does not match its bytes (noise, a wrong baud rate or parity)."""


class MalformedFrame(FrameError):
    """The frame does not answer the request (function, byte count, transaction)."""


class StaleAnswer(MalformedFrame):
    """A Modbus TCP answer to an earlier transaction (a request that was tried again)."""


class OtherDevice(FrameError):
    """A well-formed frame from a device id other than the one asked."""

    def __init__(self, message: str, frame: bytes, device_id: int) -> None:
        super().__init__(message, frame)
        self.device_id = device_id


Answer = Registers | Refusal


def _answer_pdu(request: ReadRequest, pdu: bytes, frame: bytes) -> Answer:
    """The answer in ``pdu`` (function code first) to ``request``."""
    function = pdu[0]
    if function == request.function | 0x80:
        if len(pdu) != 2:
            raise MalformedFrame(f"exception response of {len(pdu)} bytes, not 2", frame)
        return Refusal(pdu[1])
    if function != request.function:
        raise MalformedFrame(
            f"answer to function {function}, not to function {request.function}", frame
        )
    count = pdu[1]
    data = pdu[2:]
    if count != 2 * request.count or len(data) != count:
        raise MalformedFrame(
            f"{len(data)} data bytes (byte count {count}) for {request.count} registers", frame
        )
    return Registers(struct.unpack(f">{request.count}H", data))


class RtuAnswerParser:
    """Collects the bytes of one RTU answer to ``request``.

    :meth:`feed` returns None until a whole frame is in, then the answer; it raises a
    :class:`FrameError` for a complete frame that is not usable. Bytes after the frame are
    kept in :attr:`rest` (a late echo, noise) and never parsed as a second answer.
    """

    def __init__(self, request: ReadRequest) -> None:
        self.request = request
        self._buffer = bytearray()
        self.rest = b""
        self.frame = b""

    @property
    def received(self) -> bytes:
        """Everything fed so far."""
        return bytes(self._buffer)

    def _expected(self) -> int | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        function = buf[1]
        if function & 0x80:
            return 5  # id, function | 0x80, code, CRC
        if len(buf) < 3:
            return None
        return 5 + buf[2]  # id, function, byte count, data, CRC

    def feed(self, data: bytes) -> Answer | None:
        """Add ``data``; the answer once the frame is whole, else None."""
        self._buffer += data
        expected = self._expected()
        if expected is None or len(self._buffer) < expected:
            return None
        frame = bytes(self._buffer[:expected])
        self.rest = bytes(self._buffer[expected:])
        self.frame = frame
        body, crc = frame[:-2], struct.unpack("<H", frame[-2:])[0]
        if crc16(body) != crc:
            raise BadCrc(f"CRC {crc:04X} does not match the frame ({crc16(body):04X})", frame)
        if frame[0] != self.request.device_id:
            raise OtherDevice(
                f"an answer from device {frame[0]}, not from device {self.request.device_id}",
                frame,
                frame[0],
            )
        return _answer_pdu(self.request, frame[1:-2], frame)


class MbapAnswerParser:
    """Collects the bytes of one Modbus TCP answer to ``request`` sent as ``transaction``."""

    def __init__(self, request: ReadRequest, transaction: int) -> None:
        self.request = request
        self.transaction = transaction & 0xFFFF
        self._buffer = bytearray()
        self.rest = b""
        self.frame = b""

    @property
    def received(self) -> bytes:
        """Everything fed so far."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> Answer | None:
        """Add ``data``; the answer once the frame is whole, else None."""
        self._buffer += data
        if len(self._buffer) < 7:
            return None
        transaction, protocol, length, unit = struct.unpack(">HHHB", self._buffer[:7])
        if length < 2 or length > 254:
            frame = bytes(self._buffer)
            raise MalformedFrame(f"MBAP length {length} is not a Modbus answer", frame)
        expected = 6 + length
        if len(self._buffer) < expected:
            return None
        frame = bytes(self._buffer[:expected])
        self.rest = bytes(self._buffer[expected:])
        self.frame = frame
        if protocol != 0:
            raise MalformedFrame(f"MBAP protocol id {protocol}, not 0 (Modbus)", frame)
        if transaction != self.transaction:
            raise StaleAnswer(
                f"answer to transaction {transaction}, not to {self.transaction}", frame
            )
        if unit != self.request.device_id:
            raise OtherDevice(
                f"an answer from unit {unit}, not from unit {self.request.device_id}",
                frame,
                unit,
            )
        return _answer_pdu(self.request, frame[7:], frame)


# --- register values ---------------------------------------------------------------------------


def _ordered_bytes(words: Sequence[int], word_order: WordOrder, byte_order: ByteOrder) -> bytes:
    """The value's bytes most significant first, from registers in the device's orders.

    ``word_order`` "big" means the first register holds the most significant word (ABCD);
    ``byte_order`` "little" means each register carries its bytes swapped (BADC, DCBA).
    """
    ordered = list(words) if word_order == "big" else list(reversed(words))
    out = bytearray()
    for word in ordered:
        if not 0 <= word <= 0xFFFF:
            raise ValueError(f"register value {word} is not 16 bits")
        high, low = word >> 8, word & 0xFF
        out += bytes((high, low) if byte_order == "big" else (low, high))
    return bytes(out)


def decode_value(
    words: Sequence[int],
    value_type: str,
    *,
    word_order: WordOrder,
    byte_order: ByteOrder,
) -> float | int | str:
    """The value of one point from its registers (exactly as many as the type takes).

    Strings are read two characters a register in the map's byte order (word order does not
    apply to text); trailing NULs and spaces are dropped; bytes that are not UTF-8 become
    U+FFFD rather than an error. Float NaN and infinities come back as they are: whether a
    value is usable is the snapshot's question.
    """
    if value_type == "string":
        raw = bytearray()
        for word in words:
            high, low = word >> 8, word & 0xFF
            raw += bytes((high, low) if byte_order == "big" else (low, high))
        return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
    size = _TYPE_REGISTERS.get(value_type)
    if size is None:
        raise ValueError(f"unknown register type {value_type!r}")
    if len(words) != size:
        raise ValueError(f"{value_type} takes {size} registers, got {len(words)}")
    (value,) = struct.unpack(_STRUCT[value_type], _ordered_bytes(words, word_order, byte_order))
    if isinstance(value, float):
        return value
    return int(value)


def is_number(value: float | int | str | None) -> bool:
    """True for a finite int or float."""
    return isinstance(value, int | float) and math.isfinite(value)
