"""The C12.18 client: the only I/O of the stack, driving the link and the session.

It writes what the link wants written, reads with a timeout no longer than the link's next
deadline, and applies the response-code policy:

* ``bsy``/``dnr``: wait (doubling from ``busy_backoff``, at most 2 s) and ask again;
* ``isss``/``rno``/``sme`` and a failed link: restart the session from Identify and redo
  the request, at most ``session_restarts`` times, then :class:`SessionLost`. A meter that
  answered is first sent Terminate (legal in any state, and it drops the meter back to
  9600); one that did not is given its traffic timeout when the speed had been switched;
* ``isc``, or ``err`` to Security: :class:`SecurityDenied`;
* anything else that is not ``ok``: :class:`MeterRefused` naming the service and table.

The password reaches no log and no record: ``on_frame`` and the DEBUG log get the Security
frame with its 20 password bytes replaced by ``*``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Final, Self

from fieldkit.drivers.c1218.link import (
    NEED_DATA,
    LinkConfig,
    LinkConnection,
    LinkFailed,
    MessageBroken,
    MessageReceived,
    NeedData,
)
from fieldkit.drivers.c1218.packet import HEADER_SIZE, OVERHEAD, crc16
from fieldkit.drivers.c1218.services import MalformedResponse, ResponseCode, table_name
from fieldkit.drivers.c1218.session import (
    DEFAULT_BAUD,
    NEGOTIATE_DECLINED,
    SESSION_LOST_CODES,
    PsemSession,
    Reply,
    Request,
    Service,
    SessionInfo,
    SessionState,
    declines_partial_reads,
    misfit,
)
from fieldkit.drivers.errors import (
    DriverError,
    MeterRefused,
    NoResponse,
    SecurityDenied,
    SessionLost,
)
from fieldkit.drivers.transport import Transport
from fieldkit.model import FrameDirection

__all__ = [
    "C1218Client",
    "ClientStats",
    "SessionConfig",
    "redact_security_frame",
]

log = logging.getLogger(__name__)

_READ_CHUNK: Final = 4096
# Longest single read. A read returns as soon as a byte is there, so polling costs nothing
# on the wire, and the loop never sleeps past a link deadline.
_POLL: Final = 0.05
_BUSY_CAP: Final = 2.0
_TRAFFIC_MARGIN: Final = 1.0  # beyond the meter's traffic timeout, as MeteringSDK's 7 s for 6 s
_BUSY_CODES: Final = frozenset({ResponseCode.BSY, ResponseCode.DNR})
_DEFAULT_LINK: Final = LinkConfig()


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How to open a session and how hard to try."""

    user_id: int = 2
    user: str = "FIELDKIT"
    # Already 20-byte padded, or shorter raw bytes. Kept out of repr: reprs end up in logs.
    password: bytes | None = field(default=None, repr=False)
    packet_size: int = 1024  # asked for in Negotiate
    max_packets: int = 8
    baud: int = 9600  # asked for; 9600 means no switch
    busy_retries: int = 6  # bsy/dnr retries with back-off
    busy_backoff: float = 0.25  # first wait, doubling, capped at 2 s
    session_restarts: int = 2  # isss/rno/link failure: restart from Identify


@dataclass(slots=True)
class ClientStats:
    """Counters over the client's life (every session it opened)."""

    bytes_tx: int = 0
    bytes_rx: int = 0
    round_trips: int = 0
    retransmissions: int = 0
    naks_sent: int = 0
    restarts: int = 0
    busy_retries: int = 0
    desyncs: int = 0  # answers dropped because they did not fit their request


def redact_security_frame(raw: bytes) -> bytes:
    """The Security frame with every byte after the service code (the password) as ``*``.

    The CRC is recomputed over the redacted bytes so the record still decodes; the original
    CRC would leak 16 bits about the password.
    """
    if len(raw) <= OVERHEAD + 1:
        return raw  # no data after the service code: nothing secret
    body = raw[: HEADER_SIZE + 1] + b"*" * (len(raw) - OVERHEAD - 1)
    return body + crc16(body).to_bytes(2, "little")


class _Interrupted(Exception):
    """Internal: the exchange did not complete; never escapes the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _LinkDown(_Interrupted):
    """The link failed: the meter may not hear us at all."""


class _SessionGone(_Interrupted):
    """The meter answered isss/rno/sme: it is alive but no longer has our session."""


class _Garbled(_Interrupted):
    """A multi-packet answer arrived broken: ask again."""


class _Desync(_Interrupted):
    """An answer to opening the session made no sense: the meter is out of step with us."""


# Answers that open or end the session: one that does not decode means the meter and the
# client are out of step (a late answer), so the session starts again. A malformed read
# answer is the driver's business: it asks for the table once more.
_SESSION_SERVICES: Final = frozenset(
    {
        Service.IDENTIFY,
        Service.NEGOTIATE,
        Service.LOGON,
        Service.SECURITY,
        Service.LOGOFF,
        Service.TERMINATE,
        Service.WAIT,
    }
)


class C1218Client:
    """A blocking C12.18 client over a :class:`~fieldkit.drivers.transport.Transport`.

    ``clock`` and ``sleep`` are injected so tests run on a fake clock; ``on_frame`` gets
    ("tx" | "rx", raw frame, clock time) for every packet on the wire, passwords redacted;
    ``on_request`` gets each request before it is sent (progress). ``cancel`` is called
    before every request, between reads of the port and through every wait (busy back-off,
    traffic timeout, :meth:`pause`), at most 50 ms apart; it stops the
    session by raising (a :class:`~fieldkit.drivers.errors.ReadCancelled`), and the client
    then forgets the session without a word to the meter: its traffic timeout ends it.
    The transport belongs to the caller: :meth:`close` ends the session, not the port.
    """

    def __init__(
        self,
        transport: Transport,
        link: LinkConfig = _DEFAULT_LINK,
        session: SessionConfig = SessionConfig(),
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_frame: Callable[[FrameDirection, bytes, float], None] | None = None,
        on_request: Callable[[Request], None] | None = None,
        cancel: Callable[[], None] | None = None,
    ) -> None:
        self._transport = transport
        self._on_request = on_request
        self._cancel = cancel
        self._link_config = link
        self._config = session
        self._clock = clock
        self._sleep = sleep
        self._on_frame = on_frame
        self._session = PsemSession(
            user_id=session.user_id,
            user=session.user,
            password=session.password,
            packet_size=session.packet_size,
            max_packets=session.max_packets,
            baud=session.baud,
        )
        self._link = LinkConnection(link, on_frame=self._frame)
        self._url = str(getattr(transport, "url", "the probe port"))
        self._port_baud = DEFAULT_BAUD
        self._redact_tx = False
        self._wanted = False  # open() succeeded and close() has not been called
        self._misfit: str | None = None  # why the last answer dropped did not fit
        self.stats = ClientStats()

    # --- public API -----------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """Where the PSEM session is."""
        return self._session.state

    @property
    def port_baud(self) -> int:
        """The port's speed now: 9600 until the meter grants another in Negotiate."""
        return self._port_baud

    @property
    def max_read_size(self) -> int:
        """The most table bytes one read brings back in the current session."""
        return self._session.max_read_size

    def open(self) -> SessionInfo:
        """Identify, Negotiate, Logon and (with a password) Security; the session's info."""
        if self._wanted:
            return self._session.info()
        first_contact = self._session.state is SessionState.BASE
        if first_contact:
            self._transport.flush_input()  # a reply left over from an aborted session
        restarts = 0
        while True:
            try:
                self._run_open(first_contact=first_contact)
            except _Interrupted as exc:
                restarts = self._count_restart(restarts, exc, opening=True)
                first_contact = False
                self._restart(exc)
                continue
            except MeterRefused:
                # Do not leave the meter logged on until its traffic timeout.
                self.close()
                raise
            self._wanted = True
            return self._session.info()

    def read_table(self, table_id: int, size: int | None = None) -> bytes:
        """Read a whole table: one full read, or partial reads when ``size`` is too big."""
        if size is None or size <= self._session.max_read_size:
            reply = self._perform(lambda: self._session.read_full(table_id))
            return reply.data
        try:
            return self.read_partial(table_id, 0, size)
        except MeterRefused as exc:
            if not declines_partial_reads(exc):
                raise
            # No partial reads on this meter: ask for it whole and let the meter segment it.
            log.info("the meter does not do partial reads: reading %s whole", table_name(table_id))
            return self._perform(lambda: self._session.read_full(table_id)).data

    def read_partial(self, table_id: int, offset: int, count: int) -> bytes:
        """``count`` bytes of a table from ``offset``, in as many reads as the link needs.

        Stops early when the meter returns fewer bytes than asked (the table ended).
        """
        parts: list[bytes] = []
        done = 0
        while done < count:
            want = min(count - done, max(self._session.max_read_size, 1))
            reply = self._perform(
                partial(self._session.read_partial, table_id, offset + done, want)
            )
            parts.append(reply.data)
            done += len(reply.data)
            if len(reply.data) < want:
                break
        return b"".join(parts)

    def write_table(self, table_id: int, data: bytes) -> None:
        """Write a whole table: one full write, or partial writes when it is too big."""
        if len(data) <= self._session.max_write_size:
            self._perform(lambda: self._session.write_full(table_id, data))
            return
        step = max(self._session.max_partial_write_size, 1)
        for offset in range(0, len(data), step):
            chunk = data[offset : offset + step]
            self._perform(partial(self._session.write_partial, table_id, offset, chunk))

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` (a back-off, a poll interval); a cancel ends the wait within 50 ms.

        Without a cancel hook it is one sleep; with one, sleeps of at most 50 ms with the
        hook called between them, so no wait of the client outlasts the technician's key.
        """
        if self._cancel is None:
            self._sleep(seconds)
            return
        left = seconds
        while left > 1e-9:
            self._check_cancel()
            step = min(left, _POLL)
            self._sleep(step)
            left -= step
        self._check_cancel()

    def keep_alive(self) -> None:
        """Send Wait so an idle session survives the meter's traffic timeout."""
        seconds = min(max(math.ceil(self._link_config.traffic_timeout), 1), 0xFF)
        self._perform(lambda: self._session.wait(seconds))

    def close(self) -> None:
        """Logoff then Terminate, best effort; never raises. The port stays open."""
        self._wanted = False
        session = self._session
        try:
            if session.state is SessionState.BASE:
                return  # no session to end
            if session.allows(Service.LOGOFF):
                try:
                    self._transact(session.logoff())
                except (MeterRefused, _SessionGone) as exc:
                    log.debug("logoff refused, terminating anyway: %s", exc)
            self._transact(session.terminate())
        except (DriverError, _Interrupted) as exc:
            log.debug("closing the session: %s", exc)
        finally:
            session.lost()
            self._link.reset()
            try:
                # The meter is at 9600 after Terminate, or after its traffic timeout.
                self._set_baud(DEFAULT_BAUD)
            except DriverError as exc:
                log.debug("closing the session: %s", exc)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- requests with the response-code policy -------------------------------------------

    def _perform(self, build: Callable[[], Request]) -> Reply:
        """Send a request in the open session; restart the session when it is lost."""
        restarts = 0
        while True:
            try:
                if self._wanted and self._session.state is SessionState.BASE:
                    self._run_open(first_contact=False)
                return self._transact(build())
            except _Garbled as exc:
                if restarts >= self._config.session_restarts:
                    # The link works and the session holds: this answer is what is broken.
                    raise MalformedResponse(
                        f"the answer arrived broken {restarts + 1} times: {exc.reason}"
                    ) from None
                restarts += 1
            except _Interrupted as exc:
                restarts = self._count_restart(restarts, exc, opening=False)
                self._restart(exc)

    def _run_open(self, *, first_contact: bool) -> None:
        resynced = False
        while (request := self._session.next_open_request()) is not None:
            heard = self._link.bytes_received
            if request.service is Service.IDENTIFY:
                # Whatever is on the line now answers something older than this session.
                self._drain()
            try:
                self._transact(request)
            except _LinkDown:
                if first_contact and self._link.bytes_received == heard:
                    raise NoResponse(
                        f"no answer from the meter on {self._url} after "
                        f"{self._link_config.retries + 1} tries: check the probe is seated "
                        "and powered"
                    ) from None
                raise
            except _SessionGone:
                if request.service is not Service.IDENTIFY or resynced:
                    raise
                # isss to Identify: the meter still holds the session we gave up on (it
                # answered late). Terminate it and identify again; this is no restart.
                resynced = True
                log.debug("the meter still had a session: terminating it before Identify")
                ended = self._terminate_quietly()
                self._session.lost()
                self._link.reset(keep_toggle=not ended)
                continue
            first_contact = False

    def _drain(self) -> None:
        """Forget every byte and event that arrived before the next request."""
        self._transport.flush_input()
        while not isinstance(self._link.next_event(), NeedData):
            pass

    def _transact(self, request: Request) -> Reply:
        """One request until a final answer: busy answers are asked again after a pause."""
        busy = 0
        while True:
            answer = self._exchange(request)
            try:
                reply = self._session.handle_response(request, answer)
            except MalformedResponse as exc:
                if request.service not in _SESSION_SERVICES:
                    raise
                raise _Desync(
                    f"the meter's answer to the {request.subject} makes no sense ({exc}): "
                    "the meter is out of step with the kit"
                ) from None
            self._switch_baud_if_granted()
            code = reply.code
            if code is ResponseCode.OK:
                return reply
            if request.service is Service.NEGOTIATE and code in NEGOTIATE_DECLINED:
                log.info("the meter declined Negotiate (%s): keeping 9600 baud", code.label)
                return reply
            if code in _BUSY_CODES and busy < self._config.busy_retries:
                delay = min(self._config.busy_backoff * 2**busy, _BUSY_CAP)
                busy += 1
                self.stats.busy_retries += 1
                log.debug(
                    "meter answered %s to %s; asking again in %g s",
                    code.label,
                    request.subject,
                    delay,
                )
                self.pause(delay)
                continue
            if code in SESSION_LOST_CODES:
                raise _SessionGone(
                    f"the meter answered {code.label} ({code.meaning}) to the {request.subject}"
                )
            raise self._refusal(request, code, busy)

    @staticmethod
    def _refusal(request: Request, code: ResponseCode, busy: int) -> MeterRefused:
        if request.service is Service.SECURITY and code in (ResponseCode.ERR, ResponseCode.ISC):
            message = (
                "the meter rejected the password: check it, and its padding for this meter model"
            )
            error: type[MeterRefused] = SecurityDenied
        elif code is ResponseCode.ISC:
            message = f"the {request.subject} needs a password with a higher access level (isc)"
            error = SecurityDenied
        elif code in _BUSY_CODES:
            message = (
                f"the meter stayed busy ({code.label}) through {busy} retries "
                f"of the {request.subject}"
            )
            error = MeterRefused
        else:
            message = f"the meter refused the {request.subject}: {code.label} ({code.meaning})"
            error = MeterRefused
        return error(message, code=int(code), service=str(request.service), table=request.table)

    # --- restarts -------------------------------------------------------------------------

    def _count_restart(self, restarts: int, exc: _Interrupted, *, opening: bool) -> int:
        if restarts >= self._config.session_restarts:
            # Nothing left to end politely: close() must not spend more time on the meter.
            self._session.lost()
            self._link.reset()
            what = "start a session" if opening else "keep the session"
            raise SessionLost(
                f"could not {what} with the meter on {self._url} after "
                f"{restarts} restarts: {exc.reason}"
            ) from None
        log.debug("restarting (%s)", exc.reason)
        return restarts + 1

    def _restart(self, exc: _Interrupted) -> None:
        """Bring the meter and the port back to the start of a session."""
        self.stats.restarts += 1
        ended = isinstance(exc, _SessionGone) and self._terminate_quietly()
        self._session.lost()
        # Only a meter that answered Terminate has surely forgotten our last packet.
        self._link.reset(keep_toggle=not ended)
        if self._port_baud != DEFAULT_BAUD:
            if not ended:
                # Only the traffic timeout brings a meter that does not hear us back to 9600.
                self.pause(self._link_config.traffic_timeout + _TRAFFIC_MARGIN)
            self._set_baud(DEFAULT_BAUD)
        self._transport.flush_input()

    def _terminate_quietly(self) -> bool:
        """Terminate (legal in any state) so the meter is in BASE; True if it answered."""
        try:
            self._exchange(self._session.terminate())
        except _Interrupted:
            return False
        return True

    # --- the wire -------------------------------------------------------------------------

    def _exchange(self, request: Request) -> bytes:
        """Send one request and return the meter's answer (after ACKing it)."""
        self._check_cancel()
        if self._on_request is not None:
            self._on_request(request)
        link = self._link
        # Whatever the link still holds predates this request, so it cannot answer it.
        while not isinstance(left := link.next_event(), NeedData):
            log.debug("dropped a %s left from the previous exchange", type(left).__name__)
        # Reassembly holds the meter to the packet count it granted (1 before Negotiate).
        link.max_packets = self._session.nbr_packets
        self._misfit = None
        self._redact_tx = request.sensitive
        try:
            link.send_message(request.data, self._session.packet_size, self._clock())
            self._write_pending()
            while True:
                event = link.next_event()
                if event is NEED_DATA:
                    self._pump()
                elif isinstance(event, MessageReceived):
                    # Its ACK is already written (_pump), so a baud switch may follow.
                    why = misfit(request, event.data)
                    if why is not None:
                        # A late answer to an earlier request: the reply to this one follows.
                        log.debug("dropped an answer that does not fit the %s: %s", request, why)
                        self._misfit = why
                        self.stats.desyncs += 1
                        link.expect_reply(self._clock())
                        continue
                    self.stats.round_trips += 1
                    return event.data
                elif isinstance(event, MessageBroken):
                    raise _Garbled(event.reason)
                elif isinstance(event, LinkFailed):
                    reason = event.reason
                    if self._misfit is not None:
                        reason += (
                            f" (an answer that arrived did not fit the request: {self._misfit};"
                            " the meter answered an earlier request late)"
                        )
                    raise _LinkDown(reason)
        finally:
            self._redact_tx = False
            self.stats.retransmissions = link.retransmissions
            self.stats.naks_sent = link.naks_sent

    def _check_cancel(self) -> None:
        if self._cancel is None:
            return
        try:
            self._cancel()
        except DriverError:
            # Nothing polite is said to the meter: the technician wants out now.
            self._wanted = False
            self._session.lost()
            self._link.reset()
            raise

    def _pump(self) -> None:
        """One read, bounded by the link's next deadline, fed to the link."""
        self._check_cancel()
        link = self._link
        now = self._clock()
        deadline = link.next_deadline()
        wait = _POLL if deadline is None else min(max(deadline - now, 0.0), _POLL)
        data = self._transport.read(_READ_CHUNK, wait)
        now = self._clock()
        if data:
            self.stats.bytes_rx += len(data)
            link.receive_data(data, now)
        link.handle_timeout(now)
        self._write_pending()

    def _write_pending(self) -> None:
        data = self._link.data_to_send()
        if data:
            self._transport.write(data)
            self.stats.bytes_tx += len(data)

    def _switch_baud_if_granted(self) -> None:
        baud = self._session.take_baud_switch()
        if baud is not None:
            self._set_baud(baud)

    def _set_baud(self, baud: int) -> None:
        if baud != self._port_baud:
            log.debug("switching the port to %d baud", baud)
            self._transport.set_baudrate(baud)
            self._port_baud = baud

    def _frame(self, direction: FrameDirection, raw: bytes) -> None:
        redacted = direction == "tx" and self._redact_tx
        if redacted:
            raw = redact_security_frame(raw)
        if log.isEnabledFor(logging.DEBUG):
            note = " (password redacted)" if redacted else ""
            log.debug("%s %s%s", direction, raw.hex(" "), note)
        if self._on_frame is not None:
            self._on_frame(direction, raw, self._clock())
