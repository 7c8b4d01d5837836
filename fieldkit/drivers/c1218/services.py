"""PSEM services (the C12.18 application layer): request encoders and response decoders.

Pure functions over bytes, no state. A request is the service code followed by its fields; a
response is one response code byte, followed by fields only when the code is ``ok``. Every
integer in a service field is big-endian, whatever byte order the meter uses inside its
tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Final

from fieldkit.drivers.c1218.packet import MAX_PACKET_SIZE, OVERHEAD, table_checksum
from fieldkit.drivers.errors import DriverError, LinkError, MeterRefused

__all__ = [
    "BAUD_BY_CODE",
    "MFG_TABLE_BASE",
    "PASSWORD_SIZE",
    "USER_SIZE",
    "Identification",
    "MalformedResponse",
    "NegotiatedLink",
    "RequestError",
    "ResponseCode",
    "baud_from_code",
    "baud_to_code",
    "decode_identify",
    "decode_negotiate",
    "decode_read",
    "identify",
    "logoff",
    "logon",
    "negotiate",
    "pad_password",
    "read_full",
    "read_partial",
    "response_code",
    "security",
    "table_name",
    "terminate",
    "wait",
    "write_full",
    "write_partial",
]

IDENTIFY: Final = 0x20
TERMINATE: Final = 0x21
READ_FULL: Final = 0x30
READ_PARTIAL: Final = 0x3F
WRITE_FULL: Final = 0x40
WRITE_PARTIAL: Final = 0x4F
LOGON: Final = 0x50
SECURITY: Final = 0x51
LOGOFF: Final = 0x52
NEGOTIATE_NO_BAUD: Final = 0x60
NEGOTIATE_ONE_BAUD: Final = 0x61
WAIT: Final = 0x70

USER_SIZE: Final = 10
PASSWORD_SIZE: Final = 20
# Manufacturer tables and procedures are numbered 2048 + n (bit 11 of the 16-bit id).
MFG_TABLE_BASE: Final = 0x800

#: Negotiate baud codes (c12-protocols.md §1.9). 0x00 means "externally defined" and is not
#: a speed, so it has no entry.
BAUD_BY_CODE: Final[Mapping[int, int]] = MappingProxyType(
    {
        0x01: 300,
        0x02: 600,
        0x03: 1200,
        0x04: 2400,
        0x05: 4800,
        0x06: 9600,
        0x07: 14400,
        0x08: 19200,
        0x09: 28800,
        0x0A: 57600,
        0x0B: 38400,
        0x0C: 115200,
        0x0D: 128000,
        0x0E: 256000,
    }
)
_CODE_BY_BAUD: Final[Mapping[int, int]] = MappingProxyType(
    {baud: code for code, baud in BAUD_BY_CODE.items()}
)


class RequestError(DriverError):
    """A request cannot be built from the given values (out of range, too long)."""


class MalformedResponse(LinkError):
    """The meter's answer does not have the layout its service defines."""


class ResponseCode(IntEnum):
    """PSEM response codes; 0x0B and above come from C12.22 but a meter may still send them."""

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
    SME = 0x0B
    UAT = 0x0C
    NETT = 0x0D
    NETR = 0x0E
    RQTL = 0x0F
    RSTL = 0x10
    SGNP = 0x11
    SGERR = 0x12

    @property
    def label(self) -> str:
        """The short name the standard uses: ``ok``, ``isc``, ``isss`` ..."""
        return self.name.lower()

    @property
    def meaning(self) -> str:
        """What the code means, in a few words."""
        return _MEANINGS[self]


_MEANINGS: Final[Mapping[ResponseCode, str]] = MappingProxyType(
    {
        ResponseCode.OK: "accepted",
        ResponseCode.ERR: "rejected",
        ResponseCode.SNS: "service not supported",
        ResponseCode.ISC: "insufficient security clearance",
        ResponseCode.ONP: "operation not possible",
        ResponseCode.IAR: "inappropriate action requested",
        ResponseCode.BSY: "device busy",
        ResponseCode.DNR: "data not ready",
        ResponseCode.DLK: "data locked",
        ResponseCode.RNO: "renegotiate request",
        ResponseCode.ISSS: "invalid service sequence state",
        ResponseCode.SME: "security mechanism error",
        ResponseCode.UAT: "unknown called ApTitle",
        ResponseCode.NETT: "network timeout",
        ResponseCode.NETR: "node not reachable",
        ResponseCode.RQTL: "request too large",
        ResponseCode.RSTL: "response too large",
        ResponseCode.SGNP: "segmentation not possible",
        ResponseCode.SGERR: "segmentation error",
    }
)

_STANDARD_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {0: "C12.18", 1: "Industry Canada", 2: "C12.21", 3: "C12.22"}
)


def table_name(table: int) -> str:
    """``ST52`` for a standard table, ``MT72`` for manufacturer table 2048 + 72."""
    if table >= MFG_TABLE_BASE:
        return f"MT{table - MFG_TABLE_BASE}"
    return f"ST{table}"


# --- baud codes ----------------------------------------------------------------------------


def baud_to_code(baud: int) -> int:
    """The Negotiate code byte for ``baud`` bit/s."""
    try:
        return _CODE_BY_BAUD[baud]
    except KeyError:
        speeds = ", ".join(str(b) for b in sorted(_CODE_BY_BAUD))
        raise RequestError(f"{baud} baud cannot be negotiated; choose one of {speeds}") from None


def baud_from_code(code: int) -> int | None:
    """The speed a Negotiate code byte stands for; None for 0x00 ("externally defined")."""
    if code == 0:
        return None
    try:
        return BAUD_BY_CODE[code]
    except KeyError:
        raise MalformedResponse(f"the meter chose an unknown baud code 0x{code:02X}") from None


# --- requests ------------------------------------------------------------------------------


def _uint(value: int, size: int, what: str) -> bytes:
    top = (1 << (8 * size)) - 1
    if not 0 <= value <= top:
        raise RequestError(f"{what} {value} is out of range 0..{top}")
    return value.to_bytes(size, "big")


def _table(table: int) -> bytes:
    return _uint(table, 2, "table id")


def _counted(data: bytes) -> bytes:
    """count(2) + data + checksum(1): the body of every write."""
    return _uint(len(data), 2, "write length") + data + bytes((table_checksum(data),))


def identify() -> bytes:
    """Identify (0x20): the first request of every session."""
    return bytes((IDENTIFY,))


def terminate() -> bytes:
    """Terminate (0x21): end the session; accepted in any state."""
    return bytes((TERMINATE,))


def logoff() -> bytes:
    """Logoff (0x52): leave the logged-on session, back to the identified state."""
    return bytes((LOGOFF,))


def read_full(table: int) -> bytes:
    """Full read (0x30) of ``table``."""
    return bytes((READ_FULL,)) + _table(table)


def read_partial(table: int, offset: int, count: int) -> bytes:
    """Partial read by offset (0x3F): ``count`` bytes of ``table`` from byte ``offset``."""
    return (
        bytes((READ_PARTIAL,))
        + _table(table)
        + _uint(offset, 3, "offset")
        + _uint(count, 2, "byte count")
    )


def write_full(table: int, data: bytes) -> bytes:
    """Full write (0x40) of ``table``: count, data and the table-data checksum."""
    return bytes((WRITE_FULL,)) + _table(table) + _counted(data)


def write_partial(table: int, offset: int, data: bytes) -> bytes:
    """Partial write by offset (0x4F) of ``data`` into ``table`` at byte ``offset``."""
    return bytes((WRITE_PARTIAL,)) + _table(table) + _uint(offset, 3, "offset") + _counted(data)


def logon(user_id: int, user: str) -> bytes:
    """Logon (0x50): user id and a user name of at most 10 ASCII characters, space padded."""
    try:
        name = user.encode("ascii")
    except UnicodeEncodeError:
        raise RequestError("the logon user name must be plain ASCII text") from None
    if len(name) > USER_SIZE:
        raise RequestError(f"the logon user name has {len(name)} characters; the most is 10")
    return bytes((LOGON,)) + _uint(user_id, 2, "user id") + name.ljust(USER_SIZE, b" ")


def pad_password(text: str) -> bytes:
    """The 20 password bytes for a text password: ASCII, space padded (MeteringSDK style)."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        # Never echo the password: the message goes to logs and to the screen.
        raise RequestError(
            "the password must be plain ASCII text; give binary passwords as hex"
        ) from None
    return _padded_password(raw)


def _padded_password(raw: bytes) -> bytes:
    if len(raw) > PASSWORD_SIZE:
        raise RequestError(f"the password has {len(raw)} bytes; a C12.18 password has at most 20")
    return raw.ljust(PASSWORD_SIZE, b" ")


def security(password: bytes) -> bytes:
    """Security (0x51) with exactly 20 password bytes; shorter raw bytes are space padded."""
    return bytes((SECURITY,)) + _padded_password(password)


def negotiate(packet_size: int, nbr_packets: int, baud: int | None = 9600) -> bytes:
    """Negotiate: ask for a packet size, a packet count and (0x61) one speed in bit/s.

    ``baud=None`` sends 0x60, which keeps the current speed.
    """
    if not OVERHEAD < packet_size <= MAX_PACKET_SIZE:
        raise RequestError(f"packet size {packet_size} is out of range 9..{MAX_PACKET_SIZE}")
    if not 1 <= nbr_packets <= 0xFF:
        raise RequestError(f"packet count {nbr_packets} is out of range 1..255")
    fields = _uint(packet_size, 2, "packet size") + bytes((nbr_packets,))
    if baud is None:
        return bytes((NEGOTIATE_NO_BAUD,)) + fields
    return bytes((NEGOTIATE_ONE_BAUD,)) + fields + bytes((baud_to_code(baud),))


def wait(seconds: int) -> bytes:
    """Wait (0x70): ask the meter to keep the session open ``seconds`` (1 byte) longer."""
    return bytes((WAIT,)) + _uint(seconds, 1, "wait time")


# --- responses -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identification:
    """What the meter says in its Identify answer."""

    standard: int
    version: int
    revision: int
    features: bytes  # the feature list as sent, end-of-list 0x00 included

    @property
    def standard_name(self) -> str:
        """``C12.18`` for reference standard 0, and so on."""
        return _STANDARD_NAMES.get(self.standard, f"standard {self.standard}")


@dataclass(frozen=True, slots=True)
class NegotiatedLink:
    """What the meter grants in its Negotiate answer."""

    packet_size: int
    nbr_packets: int
    baud: int | None  # None: no baud byte (or "externally defined"): the speed stays


def response_code(response: bytes) -> ResponseCode:
    """The response code that starts every answer."""
    if not response:
        raise MalformedResponse("the meter sent an empty answer")
    try:
        return ResponseCode(response[0])
    except ValueError:
        raise MalformedResponse(
            f"the meter answered with an unknown response code 0x{response[0]:02X}"
        ) from None


def _ok_fields(response: bytes, service: str, table: int | None = None) -> bytes:
    code = response_code(response)
    if code is not ResponseCode.OK:
        raise MeterRefused(
            f"the meter answered {code.label} ({code.meaning}) to {service}",
            code=int(code),
            service=service,
            table=table,
        )
    return response[1:]


def decode_identify(response: bytes) -> Identification:
    """Decode an Identify answer: standard, version, revision, then the feature list."""
    fields = _ok_fields(response, "identify")
    if len(fields) < 3:
        raise MalformedResponse(
            f"an identify answer has at least 4 bytes, the meter sent {len(response)}"
        )
    return Identification(fields[0], fields[1], fields[2], bytes(fields[3:]))


def decode_negotiate(response: bytes) -> NegotiatedLink:
    """Decode a Negotiate answer: packet size (2), packet count (1), optional baud code."""
    fields = _ok_fields(response, "negotiate")
    if len(fields) < 3:
        raise MalformedResponse(
            f"a negotiate answer has at least 4 bytes, the meter sent {len(response)}"
        )
    packet_size = int.from_bytes(fields[0:2], "big")
    nbr_packets = fields[2]
    if not OVERHEAD < packet_size <= MAX_PACKET_SIZE:
        raise MalformedResponse(f"the meter granted an unusable packet size of {packet_size}")
    if nbr_packets == 0:
        raise MalformedResponse("the meter granted zero packets per message")
    # Only one baud byte is defined; anything after it is ignored rather than fatal.
    baud = baud_from_code(fields[3]) if len(fields) > 3 else None
    return NegotiatedLink(packet_size, nbr_packets, baud)


def decode_read(response: bytes, table: int | None = None) -> bytes:
    """Decode a read answer (full or partial): count (2), data, table-data checksum (1).

    Returns the data; a length or checksum that does not match raises
    :class:`MalformedResponse`.
    """
    fields = _ok_fields(response, "read", table)
    where = f" of {table_name(table)}" if table is not None else ""
    if len(fields) < 3:
        raise MalformedResponse(
            f"a read answer has at least 4 bytes, the meter sent {len(response)}{where}"
        )
    count = int.from_bytes(fields[0:2], "big")
    if len(fields) != count + 3:
        raise MalformedResponse(
            f"the read answer{where} announces {count} data bytes but carries {len(fields) - 3}"
        )
    data = bytes(fields[2:-1])
    if table_checksum(data) != fields[-1]:
        raise MalformedResponse(f"the table data checksum{where} does not match its data")
    return data
