"""PSEM services from the meter's side: parse requests, build responses.

Request layouts follow ``c12-protocols.md`` §1.8. Service integers (table id, offset, count,
packet size, user id) are big-endian whatever the meter's table data order. Parsing never
raises: a request the meter cannot make sense of becomes :class:`Malformed` (answered ``err``)
or :class:`Unsupported` (answered ``sns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from fieldkit.drivers.c1218.packet import table_checksum

__all__ = [
    "Identify",
    "Logoff",
    "Logon",
    "Malformed",
    "Negotiate",
    "ReadFull",
    "ReadPartial",
    "Request",
    "ResponseCode",
    "Security",
    "Terminate",
    "Unsupported",
    "Wait",
    "Write",
    "nok",
    "ok",
    "parse_request",
    "read_ok",
]


class ResponseCode(IntEnum):
    """C12.18 response codes (``c12-protocols.md`` §1.11)."""

    OK = 0x00
    ERR = 0x01
    SNS = 0x02
    ISC = 0x03
    ONP = 0x04
    IAR = 0x05
    BSY = 0x06
    DNR = 0x07
    DLK = 0x08
    RNO = 0x09
    ISSS = 0x0A


@dataclass(frozen=True, slots=True)
class Identify:
    """0x20."""


@dataclass(frozen=True, slots=True)
class Terminate:
    """0x21."""


@dataclass(frozen=True, slots=True)
class Logoff:
    """0x52."""


@dataclass(frozen=True, slots=True)
class Logon:
    """0x50: user id and a 10-byte user name."""

    user_id: int
    user: bytes


@dataclass(frozen=True, slots=True)
class Security:
    """0x51: a 20-byte password."""

    password: bytes


@dataclass(frozen=True, slots=True)
class Negotiate:
    """0x60–0x6B: packet size, number of packets and 0–11 baud codes."""

    packet_size: int
    nbr_packets: int
    baud_codes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Wait:
    """0x70: keep the channel open this many seconds."""

    seconds: int


@dataclass(frozen=True, slots=True)
class ReadFull:
    """0x30: a whole table."""

    table_id: int


@dataclass(frozen=True, slots=True)
class ReadPartial:
    """0x3F: ``count`` bytes of a table from ``offset``."""

    table_id: int
    offset: int
    count: int


@dataclass(frozen=True, slots=True)
class Write:
    """0x40 (full, offset None) or 0x4F (partial) write, with its checksum verdict."""

    table_id: int
    offset: int | None
    data: bytes
    checksum_ok: bool


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A service code this meter does not implement (index reads, default read ...)."""

    code: int


@dataclass(frozen=True, slots=True)
class Malformed:
    """A known service whose fields have the wrong length."""

    code: int
    reason: str


Request = (
    Identify
    | Terminate
    | Logoff
    | Logon
    | Security
    | Negotiate
    | Wait
    | ReadFull
    | ReadPartial
    | Write
    | Unsupported
    | Malformed
)


def _u(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _exact(message: bytes, size: int) -> bool:
    return len(message) == size


def parse_request(message: bytes) -> Request:
    """Decode one application-layer request."""
    if not message:
        return Malformed(0, "empty request")
    code = message[0]
    simple: dict[int, Identify | Terminate | Logoff] = {
        0x20: Identify(),
        0x21: Terminate(),
        0x52: Logoff(),
    }
    if code in simple:
        # Identify, Terminate and Logoff carry no fields; tolerate none but reject junk.
        return simple[code] if len(message) == 1 else Malformed(code, "unexpected fields")
    if code == 0x30:
        if not _exact(message, 3):
            return Malformed(code, "read needs a 2-byte table id")
        return ReadFull(_u(message[1:3]))
    if code == 0x3F:
        if not _exact(message, 8):
            return Malformed(code, "partial read needs table id, offset and count")
        return ReadPartial(_u(message[1:3]), _u(message[3:6]), _u(message[6:8]))
    if code in (0x40, 0x4F):
        return _parse_write(message)
    if code == 0x50:
        if not _exact(message, 13):
            return Malformed(code, "logon needs a user id and a 10-byte name")
        return Logon(_u(message[1:3]), bytes(message[3:13]))
    if code == 0x51:
        if not _exact(message, 21):
            return Malformed(code, "security needs a 20-byte password")
        return Security(bytes(message[1:21]))
    if 0x60 <= code <= 0x6B:
        nbauds = code - 0x60
        if not _exact(message, 4 + nbauds):
            return Malformed(code, f"negotiate 0x{code:02X} needs {nbauds} baud byte(s)")
        return Negotiate(_u(message[1:3]), message[3], tuple(message[4:]))
    if code == 0x70:
        if not _exact(message, 2):
            return Malformed(code, "wait needs one byte of seconds")
        return Wait(message[1])
    return Unsupported(code)


def _parse_write(message: bytes) -> Request:
    code = message[0]
    head = 5 if code == 0x40 else 8  # code, table id, [offset,] count
    if len(message) < head + 1:
        return Malformed(code, "write too short")
    table_id = _u(message[1:3])
    offset = None if code == 0x40 else _u(message[3:6])
    count = _u(message[head - 2 : head])
    if len(message) != head + count + 1:
        return Malformed(code, "write count does not match the data sent")
    data = bytes(message[head : head + count])
    return Write(table_id, offset, data, table_checksum(data) == message[-1])


def ok(fields: bytes = b"") -> bytes:
    """An ``ok`` response with its fields."""
    return bytes((ResponseCode.OK,)) + fields


def nok(code: ResponseCode) -> bytes:
    """A refusal: the response code alone."""
    return bytes((code,))


def read_ok(data: bytes) -> bytes:
    """A read response: ok, count (2, big-endian), data, table checksum."""
    return ok(len(data).to_bytes(2, "big") + data + bytes((table_checksum(data),)))
