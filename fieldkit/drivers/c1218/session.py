"""PSEM session state machine, sans-I/O: which service is legal when, and what opening takes.

States follow c12-protocols.md §1.7::

    BASE --identify--> IDENTIFIED --negotiate--> NEGOTIATED --logon--> LOGGED_ON
    LOGGED_ON --security--> SECURED;  LOGGED_ON/SECURED --logoff--> IDENTIFIED
    any state --terminate--> BASE;  isss/rno/sme or a failed link --> BASE (session lost)

The session builds requests (refusing those its state does not allow), reads the answers,
and keeps what the meter granted. It never sends anything: the client does, and asks
:meth:`PsemSession.take_baud_switch` after writing the ACK of each answer, because the
port may change speed only once that ACK is on the wire at the old speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from fieldkit.drivers.c1218 import services
from fieldkit.drivers.c1218.packet import OVERHEAD, table_checksum
from fieldkit.drivers.c1218.services import Identification, ResponseCode
from fieldkit.drivers.errors import DriverError, MeterRefused, SecurityDenied

__all__ = [
    "DEFAULT_BAUD",
    "DEFAULT_NBR_PACKETS",
    "DEFAULT_PACKET_SIZE",
    "NEGOTIATE_DECLINED",
    "PARTIAL_READ_DECLINED",
    "SESSION_LOST_CODES",
    "PsemSession",
    "Reply",
    "Request",
    "Service",
    "SessionInfo",
    "SessionState",
    "SessionStateError",
    "declines_partial_reads",
    "looks_stale",
    "misfit",
]

DEFAULT_PACKET_SIZE: Final = 64
DEFAULT_NBR_PACKETS: Final = 1
DEFAULT_BAUD: Final = 9600
MAX_COUNT: Final = 0xFFFF  # PSEM byte counts are 16-bit

#: Answers after which the meter no longer has our session: start again from Identify.
SESSION_LOST_CODES: Final = frozenset({ResponseCode.RNO, ResponseCode.ISSS, ResponseCode.SME})
# Answers to a partial read (0x3F) from meters that only do full reads.
PARTIAL_READ_DECLINED: Final = frozenset({ResponseCode.SNS, ResponseCode.IAR, ResponseCode.ERR})
# Answers to Negotiate that mean "no": meters and emulators that do not implement it answer
# sns, err, iar or onp; the session carries on with the default packet size and speed.
NEGOTIATE_DECLINED: Final = frozenset(
    {ResponseCode.SNS, ResponseCode.ERR, ResponseCode.IAR, ResponseCode.ONP}
)


class SessionState(StrEnum):
    """Where the PSEM session is."""

    BASE = "base"
    IDENTIFIED = "identified"
    NEGOTIATED = "negotiated"
    LOGGED_ON = "logged on"
    SECURED = "secured"


class Service(StrEnum):
    """PSEM services, by the name error messages use."""

    IDENTIFY = "identify"
    NEGOTIATE = "negotiate"
    LOGON = "logon"
    SECURITY = "security"
    READ = "read"
    READ_PARTIAL = "partial read"
    WRITE = "write"
    WRITE_PARTIAL = "partial write"
    WAIT = "wait"
    LOGOFF = "logoff"
    TERMINATE = "terminate"


_IN_SESSION: Final = frozenset(
    {
        Service.SECURITY,
        Service.READ,
        Service.READ_PARTIAL,
        Service.WRITE,
        Service.WRITE_PARTIAL,
        Service.WAIT,
        Service.LOGOFF,
        Service.TERMINATE,
    }
)

_ALLOWED: Final[Mapping[SessionState, frozenset[Service]]] = MappingProxyType(
    {
        SessionState.BASE: frozenset({Service.IDENTIFY, Service.TERMINATE}),
        SessionState.IDENTIFIED: frozenset(
            {Service.NEGOTIATE, Service.LOGON, Service.WAIT, Service.TERMINATE}
        ),
        SessionState.NEGOTIATED: frozenset({Service.LOGON, Service.WAIT, Service.TERMINATE}),
        SessionState.LOGGED_ON: _IN_SESSION,
        SessionState.SECURED: _IN_SESSION,
    }
)

_AFTER_OK: Final[Mapping[Service, SessionState]] = MappingProxyType(
    {
        Service.IDENTIFY: SessionState.IDENTIFIED,
        Service.NEGOTIATE: SessionState.NEGOTIATED,
        Service.LOGON: SessionState.LOGGED_ON,
        Service.SECURITY: SessionState.SECURED,
        Service.LOGOFF: SessionState.IDENTIFIED,
        Service.TERMINATE: SessionState.BASE,
    }
)


class SessionStateError(DriverError):
    """A service was asked for in a state that does not allow it."""


@dataclass(frozen=True, slots=True)
class Request:
    """One PSEM request, ready for the link."""

    service: Service
    data: bytes = field(repr=False)  # a Security request carries the password
    table: int | None = None

    @property
    def sensitive(self) -> bool:
        """True when the bytes hold a secret that must never be logged or recorded."""
        return self.service is Service.SECURITY

    @property
    def subject(self) -> str:
        """What the request is about, for messages: ``read of ST52`` or ``logon``."""
        if self.table is None:
            return str(self.service)
        return f"{self.service} of {services.table_name(self.table)}"


@dataclass(frozen=True, slots=True)
class Reply:
    """The meter's answer: its response code, and the table data of an ok read."""

    code: ResponseCode
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What an open session runs with."""

    standard: int
    version: int
    revision: int
    features: bytes
    packet_size: int
    nbr_packets: int
    baud: int
    max_read_size: int


def declines_partial_reads(refusal: MeterRefused) -> bool:
    """True when a refused partial read means the meter only does full reads (not security)."""
    return not isinstance(refusal, SecurityDenied) and refusal.code in PARTIAL_READ_DECLINED


def looks_stale(request: Request, response: bytes) -> bool:
    """True for an ok answer that cannot be the reply to ``request`` (see :func:`misfit`)."""
    return misfit(request, response) is not None


# Services whose ok answer is the response code alone.
_BARE_OK: Final = frozenset(
    {
        Service.LOGON,
        Service.SECURITY,
        Service.LOGOFF,
        Service.TERMINATE,
        Service.WAIT,
        Service.WRITE,
        Service.WRITE_PARTIAL,
    }
)


def _read_shaped(response: bytes, least: int) -> bool:
    """True when ``response`` is a well-formed ok read answer carrying ``least`` bytes or more."""
    if len(response) < 4 or response[0] != ResponseCode.OK:
        return False
    count = int.from_bytes(response[1:3], "big")
    if count < least or len(response) != count + 4:
        return False
    data = response[3:-1]
    return table_checksum(data) == response[-1]


def misfit(request: Request, response: bytes) -> str | None:
    """Why an ok answer cannot be the reply to ``request``; None when it can be.

    After a late answer (the meter answered a request the client had given up on) the next
    answer belongs to an earlier request. The shape gives it away: an Identify answer has at
    least four bytes, ends its feature list with 0x00 and is not a read answer; Logon,
    Security, Logoff, Terminate, Wait and writes answer ok alone; a Negotiate grant is four
    or five bytes and never more than was asked; a partial read never brings more bytes
    than it asked for. Refusals (one byte) always fit: they are the meter's word.
    """
    if response[:1] != b"\x00":
        return None
    service = request.service
    if service is Service.IDENTIFY:
        if len(response) < 4:
            return f"a {len(response)}-byte answer is too short for an identify answer"
        if response[-1] != 0x00:
            return "an identify answer ends its feature list with 0x00"
        if _read_shaped(response, 2):
            return "the answer to identify has the shape of a table read answer"
        return None
    if service in _BARE_OK:
        if len(response) > 1:
            extra = len(response) - 1
            return f"an ok to {request.subject} carries no data, this one has {extra} bytes"
        return None
    if service is Service.NEGOTIATE:
        return _negotiate_misfit(request, response)
    if service is Service.READ_PARTIAL and len(response) >= 3:
        asked = int.from_bytes(request.data[6:8], "big")
        count = int.from_bytes(response[1:3], "big")
        if count > asked:
            return f"the answer to a {asked}-byte {request.subject} announces {count} bytes"
    return None


def _negotiate_misfit(request: Request, response: bytes) -> str | None:
    if len(response) not in (4, 5):
        return f"a negotiate answer has 4 or 5 bytes, this one has {len(response)}"
    size = int.from_bytes(response[1:3], "big")
    count = response[3]
    asked_size = int.from_bytes(request.data[1:3], "big")
    asked_count = request.data[3]
    if not OVERHEAD < size <= asked_size:
        return f"the meter granted packets of {size} bytes after {asked_size} were asked for"
    if not 0 < count <= asked_count:
        return f"the meter granted {count} packets per message after {asked_count} were asked for"
    if len(response) == 5:
        try:
            services.baud_from_code(response[4])
        except services.MalformedResponse as exc:
            return str(exc)
    return None


def _capped(size: int) -> int:
    return max(0, min(size, MAX_COUNT))


class PsemSession:
    """The client's view of one PSEM session with a meter."""

    def __init__(
        self,
        *,
        user_id: int = 2,
        user: str = "FIELDKIT",
        password: bytes | None = None,
        packet_size: int = 1024,
        max_packets: int = 8,
        baud: int = DEFAULT_BAUD,
    ) -> None:
        # Built once so that bad settings fail here, before any byte is sent.
        self._negotiate = services.negotiate(packet_size, max_packets, baud)
        self._logon = services.logon(user_id, user)
        self._security = None if password is None else services.security(password)
        self.state = SessionState.BASE
        self.identification: Identification | None = None
        self.packet_size = DEFAULT_PACKET_SIZE
        self.nbr_packets = DEFAULT_NBR_PACKETS
        self.baud = DEFAULT_BAUD
        self._baud_switch: int | None = None

    # --- what the link may carry ----------------------------------------------------------

    @property
    def max_read_size(self) -> int:
        """The most data bytes one read answer can carry with the granted packets."""
        return _capped((self.packet_size - OVERHEAD) * self.nbr_packets - 4)

    @property
    def max_write_size(self) -> int:
        """The most data bytes one full write can carry (MeteringSDK's limit)."""
        return _capped((self.packet_size - OVERHEAD) * self.nbr_packets - 7)

    @property
    def max_partial_write_size(self) -> int:
        """The most data bytes one partial write can carry."""
        return _capped((self.packet_size - OVERHEAD) * self.nbr_packets - 9)

    def info(self) -> SessionInfo:
        """The identification and link parameters of the session."""
        ident = self.identification
        if ident is None:
            raise SessionStateError("the meter has not identified itself yet: open the session")
        return SessionInfo(
            standard=ident.standard,
            version=ident.version,
            revision=ident.revision,
            features=ident.features,
            packet_size=self.packet_size,
            nbr_packets=self.nbr_packets,
            baud=self.baud,
            max_read_size=self.max_read_size,
        )

    # --- requests -------------------------------------------------------------------------

    def next_open_request(self) -> Request | None:
        """The next step of opening: Identify, Negotiate, Logon, Security; None when open.

        Security is sent only when a password is configured.
        """
        if self.state is SessionState.BASE:
            return self.identify()
        if self.state is SessionState.IDENTIFIED:
            return self._request(Service.NEGOTIATE, self._negotiate)
        if self.state is SessionState.NEGOTIATED:
            return self._request(Service.LOGON, self._logon)
        if self.state is SessionState.LOGGED_ON and self._security is not None:
            return self._request(Service.SECURITY, self._security)
        return None

    def identify(self) -> Request:
        """Identify (legal in BASE only)."""
        return self._request(Service.IDENTIFY, services.identify())

    def read_full(self, table: int) -> Request:
        """Full read of ``table``."""
        return self._request(Service.READ, services.read_full(table), table)

    def read_partial(self, table: int, offset: int, count: int) -> Request:
        """Partial read of ``count`` bytes of ``table`` from ``offset``."""
        return self._request(
            Service.READ_PARTIAL, services.read_partial(table, offset, count), table
        )

    def write_full(self, table: int, data: bytes) -> Request:
        """Full write of ``table``."""
        return self._request(Service.WRITE, services.write_full(table, data), table)

    def write_partial(self, table: int, offset: int, data: bytes) -> Request:
        """Partial write of ``data`` into ``table`` at ``offset``."""
        return self._request(
            Service.WRITE_PARTIAL, services.write_partial(table, offset, data), table
        )

    def wait(self, seconds: int) -> Request:
        """Wait: keep the session open ``seconds`` longer."""
        return self._request(Service.WAIT, services.wait(seconds))

    def logoff(self) -> Request:
        """Logoff."""
        return self._request(Service.LOGOFF, services.logoff())

    def terminate(self) -> Request:
        """Terminate (legal in every state)."""
        return self._request(Service.TERMINATE, services.terminate())

    def allows(self, service: Service) -> bool:
        """True when the current state allows ``service``."""
        return service in _ALLOWED[self.state]

    def _request(self, service: Service, data: bytes, table: int | None = None) -> Request:
        if not self.allows(service):
            raise SessionStateError(
                f"a {service} is not possible while the session is {self.state}"
            )
        return Request(service, data, table)

    # --- answers --------------------------------------------------------------------------

    def handle_response(self, request: Request, response: bytes) -> Reply:
        """Read the meter's answer to ``request`` and move the state machine on.

        Raises :class:`~fieldkit.drivers.c1218.services.MalformedResponse` for an answer
        that does not have its service's layout, and
        :class:`~fieldkit.drivers.errors.MeterRefused` for a response code the kit does not
        know: 0x80–0xFF are reserved for extensions, and a meter may refuse with one.
        """
        try:
            code = services.response_code(response)
        except services.MalformedResponse:
            if not response:
                raise
            raise MeterRefused(
                f"the meter refused the {request.subject} with response code "
                f"0x{response[0]:02X}, which the kit does not know",
                code=response[0],
                service=str(request.service),
                table=request.table,
            ) from None
        service = request.service
        if code is ResponseCode.OK:
            data = self._accept(request, response)
            self.state = _AFTER_OK.get(service, self.state)
            return Reply(code, data)
        if service is Service.NEGOTIATE and code in NEGOTIATE_DECLINED:
            # The meter does not negotiate (or not what we asked): it keeps the defaults,
            # which are ours already, and the session goes on at 9600.
            self.state = SessionState.NEGOTIATED
        elif code in SESSION_LOST_CODES:
            self.lost()
        return Reply(code)

    def _accept(self, request: Request, response: bytes) -> bytes:
        service = request.service
        if service is Service.IDENTIFY:
            self.identification = services.decode_identify(response)
        elif service is Service.NEGOTIATE:
            granted = services.decode_negotiate(response)
            self.packet_size = granted.packet_size
            self.nbr_packets = granted.nbr_packets
            if granted.baud is not None:
                self._change_baud(granted.baud)
        elif service in (Service.READ, Service.READ_PARTIAL):
            return services.decode_read(response, request.table)
        elif service is Service.TERMINATE:
            # The meter is back in its base state, at the default speed and packet size.
            self._defaults()
            self._change_baud(DEFAULT_BAUD)
        return b""

    def take_baud_switch(self) -> int | None:
        """The speed to switch the port to, once, after the ACK of the last answer is sent."""
        baud, self._baud_switch = self._baud_switch, None
        return baud

    def lost(self) -> None:
        """The meter no longer has the session (isss, rno, link failure): back to BASE.

        The port speed is the client's business: the meter returns to 9600 on its own only
        after its traffic timeout.
        """
        self._defaults()
        self.baud = DEFAULT_BAUD
        self._baud_switch = None

    def _defaults(self) -> None:
        self.state = SessionState.BASE
        self.identification = None
        self.packet_size = DEFAULT_PACKET_SIZE
        self.nbr_packets = DEFAULT_NBR_PACKETS

    def _change_baud(self, baud: int) -> None:
        if baud != self.baud:
            self.baud = baud
            self._baud_switch = baud
