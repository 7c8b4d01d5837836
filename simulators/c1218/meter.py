"""The simulated C12.18 meter: service state machine over the meter-side link, sans-I/O.

Drive it with bytes and time (POSIX seconds)::

    meter = C1218Meter(scenario, started_at=now)
    meter.receive(data, now)          # bytes from the client
    wire = meter.data_to_send()       # ACK/NAK bytes and response packets
    meter.handle_timeout(now)         # when now >= meter.next_deadline()

Sessions follow ``c12-protocols.md`` §1.7: BASE --Identify--> ID --[Negotiate]--> ID
--Logon--> SESSION --[Security, Read, Write, Wait]--> SESSION --Logoff--> ID; Terminate is
accepted from any state and 6 s without a valid packet drops the meter back to BASE. A
request out of order is answered ``isss``.

Choices where the reference leaves room (documented in ``docs/simulators.md``):
- a read response that does not fit the granted packet size × packet count is answered
  ``onp`` (the client should read the table in parts with 0x3F);
- Security without passwords in the scenario is accepted (any password, full access);
- a full write of ST7 runs a standard procedure (:mod:`simulators.c1218.procedures`) when
  the password's level allows it (``isc`` otherwise); its answer is read from ST8. Every
  other write is refused with ``iar`` for a served table and ``onp`` for tables the meter
  does not have; a bad write checksum is ``err``;
- Wait keeps the channel open for max(traffic timeout, requested seconds);
- busy answers and the stop-after fault count read requests, whatever their answer.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from fieldkit.drivers.c1218.packet import table_checksum
from simulators.c1218.faults import FaultInjector
from simulators.c1218.link import (
    LinkEvent,
    MessageAbandoned,
    MessageDelivered,
    MessageReceived,
    MeterLink,
)
from simulators.c1218.options import MeterSettings, resolve_settings
from simulators.c1218.physics import MeterClock
from simulators.c1218.procedures import MeterState, run_procedure
from simulators.c1218.services import (
    Identify,
    Logoff,
    Logon,
    Malformed,
    Negotiate,
    ReadFull,
    ReadPartial,
    Request,
    ResponseCode,
    Security,
    Terminate,
    Unsupported,
    Wait,
    Write,
    nok,
    ok,
    parse_request,
    read_ok,
)
from simulators.c1218.tables import MeterTables
from simulators.scenario import BAUD_CODES, Scenario

__all__ = ["START_BAUD", "C1218Meter", "MeterCounters", "SessionState"]

LOG = logging.getLogger(__name__)

START_BAUD = 9600
_CODE_FOR_BAUD = {baud: code for code, baud in BAUD_CODES.items()}
_MIN_PACKET_SIZE = 16  # smaller grants could not carry a Negotiate response in one packet


class SessionState(StrEnum):
    """Where the meter is in the service sequence."""

    BASE = "base"
    ID = "id"
    SESSION = "session"


@dataclass(slots=True)
class MeterCounters:
    """Service-level happenings, for the simulator's statistics."""

    requests: int = 0
    table_reads: int = 0
    busy_answers: int = 0
    traffic_timeouts: int = 0


# A response, what to do once the client ACKed it, and what to do once it is over either way.
_Served = tuple[bytes, Callable[[], None] | None, Callable[[], None] | None]


@dataclass(frozen=True, slots=True)
class _Outgoing:
    due: float
    payload: bytes
    on_delivered: Callable[[], None] | None
    on_finished: Callable[[], None] | None
    late: bool = False  # the late-answer fault: what comes meanwhile waits behind it


class C1218Meter:
    """A simulated ANSI C12.18 meter serving C12.19 tables built from a scenario."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        started_at: float,
        settings: MeterSettings | None = None,
        rng: random.Random | None = None,
        extra_tables: Mapping[int, bytes] | None = None,
        state: MeterState | None = None,
    ) -> None:
        self.scenario = scenario
        self.settings = settings if settings is not None else resolve_settings(scenario)
        if rng is None:
            rng = random.Random(self.settings.seed)  # noqa: S311  # fault dice, not crypto
        self.faults = FaultInjector(
            corrupt_rate=self.settings.corrupt_rate,
            drop_rate=self.settings.drop_rate,
            rng=rng,
        )
        self.link = MeterLink(faults=self.faults)
        # One state per physical meter: a server shares it across connections.
        self.meter_state = state if state is not None else MeterState(MeterClock(scenario.clock))
        self.tables = MeterTables(
            scenario,
            started_at=started_at,
            extra_tables=extra_tables,
            mfg_tables=self.settings.mfg_tables,
            inconsistent=self.settings.inconsistent,
            state=self.meter_state,
        )
        self._user_id = 0
        self._pending_reads = 0
        self.counters = MeterCounters()
        self.silent = self.settings.stop_after == 0
        self._silence_after_send = False
        self._outgoing: _Outgoing | None = None
        self._on_delivered: Callable[[], None] | None = None
        self._on_finished: Callable[[], None] | None = None
        self._last_traffic: float | None = None
        self._wait_until: float | None = None
        self._backlog: deque[_Outgoing] = deque()
        self._malformed_sent = 0
        self._late_sent = False
        self._enter_base(connection_closed=True)

    # --- public sans-I/O surface ------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the client arrived at time ``now``."""
        if self.silent:
            return
        before = self.link.last_activity
        events = self.link.receive(data, now)
        if self.link.last_activity != before:
            self._last_traffic = now
        self._on_link_events(events, now)
        self._promote(now)

    def data_to_send(self) -> bytes:
        """Bytes the meter puts on the wire now (ACK/NAK and packets); emptied by the call."""
        return self.link.data_to_send()

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timeout` has something to do, or None."""
        if self.silent:
            return None
        candidates = (self.link.next_deadline(), self._traffic_deadline())
        deadlines = [d for d in candidates if d is not None]
        if self._outgoing is not None:
            deadlines.append(self._outgoing.due)
        elif self._backlog and not self.link.sending:
            deadlines.append(self._backlog[0].due)
        return min(deadlines) if deadlines else None

    def handle_timeout(self, now: float) -> None:
        """Run every timer that has expired by ``now``."""
        if self.silent:
            return
        self._on_link_events(self.link.handle_timeout(now), now)
        self._promote(now)
        if self._outgoing is not None and now >= self._outgoing.due:
            self._start_sending(self._outgoing, now)
        deadline = self._traffic_deadline()
        if deadline is not None and now >= deadline:
            LOG.debug("channel traffic timeout: back to BASE")
            self.counters.traffic_timeouts += 1
            self._enter_base()

    def reset(self) -> None:
        """The client went away (connection closed): back to BASE at 9600 baud."""
        self._enter_base(connection_closed=True)

    @property
    def baud(self) -> int:
        """The speed the meter's port runs at now."""
        return self._baud

    @property
    def security_level(self) -> int:
        """Access level granted by the last good Security request (0 = none)."""
        return self._level

    # --- state ------------------------------------------------------------------------------

    def _enter_base(self, *, connection_closed: bool = False) -> None:
        self.state = SessionState.BASE
        self._baud = START_BAUD
        self._level = 0
        self._reads_this_session = 0
        self._last_traffic = None
        self._wait_until = None
        self._outgoing = None
        self._backlog.clear()
        self._on_delivered = None
        self._on_finished = None
        # Within a connection, bytes of the client's next frame may already be buffered.
        self.link.reset(keep_partial_frame=not connection_closed)

    def _traffic_deadline(self) -> float | None:
        if self.state is SessionState.BASE or self._last_traffic is None:
            return None
        deadline = self._last_traffic + self.settings.traffic_timeout
        if self._wait_until is not None:
            deadline = max(deadline, self._wait_until)
        return deadline

    def _on_link_events(self, events: list[LinkEvent], now: float) -> None:
        for event in events:
            if isinstance(event, MessageReceived):
                self._on_request(event, now)
            elif isinstance(event, MessageDelivered):
                self._finish(delivered=True)
            elif isinstance(event, MessageAbandoned):
                LOG.debug("response abandoned: %s", event.reason)
                self._finish(delivered=False)

    def _finish(self, *, delivered: bool) -> None:
        on_delivered, on_finished = self._on_delivered, self._on_finished
        self._on_delivered = self._on_finished = None
        if delivered and on_delivered is not None:
            on_delivered()
        if on_finished is not None:
            on_finished()

    def _on_request(self, event: MessageReceived, now: float) -> None:
        self.counters.requests += 1
        self._last_traffic = now
        self._wait_until = None
        request = parse_request(event.data)
        LOG.debug("request %s: %s", event.data.hex(" "), request)
        on_delivered: Callable[[], None] | None = None
        on_finished: Callable[[], None] | None = None
        if event.packets > self.link.max_packets and self.state is not SessionState.BASE:
            payload = nok(ResponseCode.ONP)
        else:
            payload, on_delivered, on_finished = self._serve(request, now)
        due = now + self.settings.turnaround_s + self.settings.slow_s
        waiting = self._outgoing is not None and self._outgoing.late
        if waiting or (self._backlog and self.link.sending):
            # Busy with a late answer: this one is answered after it.
            self._backlog.append(_Outgoing(due, payload, on_delivered, on_finished))
            return
        late = self._is_late(request)
        if late:
            due = now + self.settings.late_s
        self._outgoing = _Outgoing(due, payload, on_delivered, on_finished, late=late)
        if due <= now:
            self._start_sending(self._outgoing, now)

    def _is_late(self, request: Request) -> bool:
        table = self.settings.late_table
        if table is None or self._late_sent or not isinstance(request, ReadFull | ReadPartial):
            return False
        if request.table_id != table:
            return False
        self._late_sent = True
        return True

    def _promote(self, now: float) -> None:
        """The next backlogged answer goes once the late one is out and acknowledged."""
        if self._outgoing is not None or not self._backlog or self.link.sending:
            return
        nxt = self._backlog.popleft()
        self._outgoing = replace(nxt, due=max(nxt.due, now + self.settings.turnaround_s))

    def _start_sending(self, outgoing: _Outgoing, now: float) -> None:
        self._outgoing = None
        if self.link.sending:
            self._finish(delivered=False)
        self._on_delivered = outgoing.on_delivered
        self._on_finished = outgoing.on_finished
        LOG.debug("response %s", outgoing.payload.hex(" "))
        self.link.send_message(outgoing.payload, now)
        if self._silence_after_send:
            # The stop-after fault: the meter answered its last read and now plays dead.
            self.silent = True

    # --- services ---------------------------------------------------------------------------

    def _serve(self, request: Request, now: float) -> _Served:
        state = self.state
        if isinstance(request, Terminate):
            self.state = SessionState.BASE
            self._level = 0
            return ok(), None, self._after_terminate
        if isinstance(request, Malformed):
            return nok(ResponseCode.ERR), None, None
        if isinstance(request, Unsupported):
            return nok(ResponseCode.SNS), None, None
        if isinstance(request, Identify):
            if state is not SessionState.BASE:
                return nok(ResponseCode.ISSS), None, None
            self.state = SessionState.ID
            self._reads_this_session = 0
            # ok, C12.18, version 1, revision 0, end of feature list
            return bytes((0x00, 0x00, 0x01, 0x00, 0x00)), None, None
        if isinstance(request, Negotiate):
            if state is not SessionState.ID:
                return nok(ResponseCode.ISSS), None, None
            return self._negotiate(request)
        if isinstance(request, Logon):
            if state is not SessionState.ID:
                return nok(ResponseCode.ISSS), None, None
            self.state = SessionState.SESSION
            self._level = 0
            self._user_id = request.user_id
            return ok(), None, None
        if isinstance(request, Wait):
            if state is SessionState.BASE:
                return nok(ResponseCode.ISSS), None, None
            self._wait_until = now + request.seconds
            return ok(), None, None
        if state is not SessionState.SESSION:
            return nok(ResponseCode.ISSS), None, None
        if isinstance(request, Logoff):
            self.state = SessionState.ID
            self._level = 0
            return ok(), None, None
        if isinstance(request, Security):
            return self._security(request), None, None
        if isinstance(request, ReadFull | ReadPartial):
            return self._read(request, now), None, None
        return self._write(request, now), None, None

    def _after_terminate(self) -> None:
        # Only once the Terminate response has gone: it still uses the session's toggle
        # and speed. The next session starts at 9600 with toggle 0.
        if self.state is SessionState.BASE:
            self._enter_base()

    def _negotiate(self, request: Negotiate) -> _Served:
        link_cfg = self.scenario.link
        if self.settings.decline_negotiate:
            # A meter that does not negotiate: 64-byte single packets at 9600 baud.
            return nok(ResponseCode.SNS), None, None
        if request.packet_size < _MIN_PACKET_SIZE or request.nbr_packets == 0:
            return nok(ResponseCode.ERR), None, None
        size = min(request.packet_size, link_cfg.max_packet_size)
        count = min(request.nbr_packets, link_cfg.max_packets)
        if not request.baud_codes:
            baud = self._baud  # no baud bytes: keep the speed
        else:
            # The fastest speed the client offered that this meter has; a speed the client
            # did not offer is one it may not be able to switch to.
            offered = {BAUD_CODES[c] for c in request.baud_codes if c in BAUD_CODES}
            fitting = offered & set(link_cfg.bauds)
            baud = max(fitting) if fitting else self._baud
        self.link.packet_size = size
        self.link.max_packets = count
        fields = size.to_bytes(2, "big") + bytes((count, _CODE_FOR_BAUD[baud]))

        def switch_speed() -> None:
            # The client ACKs the Negotiate response at the old speed, then both switch.
            if self.state is SessionState.ID:
                self._baud = baud

        return ok(fields), switch_speed, None

    def _security(self, request: Security) -> bytes:
        passwords = self.scenario.security.passwords
        if not passwords:
            self._level = 255
            return ok()
        granted = [p.level for p in passwords if p.accepts(request.password)]
        if not granted:
            return nok(ResponseCode.ERR)
        self._level = max(granted)
        return ok()

    def _required_level(self, table_id: int) -> int:
        if not self.scenario.security.passwords or table_id in (0, 1):
            return 0
        return self.scenario.security.read_level

    def _read(self, request: ReadFull | ReadPartial, now: float) -> bytes:
        self.counters.table_reads += 1
        stop_after = self.settings.stop_after
        if stop_after is not None and self.counters.table_reads >= stop_after:
            self._silence_after_send = True
        self._reads_this_session += 1
        if self._reads_this_session <= self.settings.busy:
            self.counters.busy_answers += 1
            return nok(ResponseCode.BSY)
        table_id = request.table_id
        data = self.tables.read(table_id, now)
        if data is None:
            return nok(ResponseCode.ONP)
        if self._level < self._required_level(table_id):
            return nok(ResponseCode.ISC)
        if table_id == 8 and self._pending_reads > 0 and len(data) >= 4:
            # The procedure-pending fault: "accepted, not completed yet" for a few reads.
            self._pending_reads -= 1
            data = data[:3] + bytes((1,))
        if isinstance(request, ReadPartial):
            end = request.offset + request.count
            if end > len(data):
                return nok(ResponseCode.ONP)
            data = data[request.offset : end]
        response = read_ok(data)
        if len(response) > self.link.room:
            return nok(ResponseCode.ONP)
        if table_id == self.settings.malformed_table:
            times = self.settings.malformed_times
            if times is None or self._malformed_sent < times:
                self._malformed_sent += 1
                return _malformed(data, self.settings.malformed_kind)
        return response

    def _write(self, request: Write, now: float) -> bytes:
        if not self.tables.is_served(request.table_id):
            return nok(ResponseCode.ONP)
        if not request.checksum_ok:
            return nok(ResponseCode.ERR)
        if request.table_id != 7 or request.offset is not None:
            return nok(ResponseCode.IAR)
        meter = self.scenario.meter
        head = request.data[:2]
        big = meter.data_order == "big"
        number = int.from_bytes(head, "big" if big else "little") & 0x7FF if len(head) == 2 else 0
        if self._level < self.scenario.security.level_for_procedure(number):
            return nok(ResponseCode.ISC)
        run = run_procedure(
            request.data,
            state=self.meter_state,
            data_order=meter.data_order,
            tm_format=meter.tm_format,
            zone=self.meter_state.clock.zone,
            now=now,
            user_id=self._user_id,
            forced_result=self.settings.procedure_result,
        )
        LOG.info("procedure %d (seq %d): result %d", number, run.sequence, run.result)
        self.tables.st7_data = bytes(request.data)
        self.tables.st8_data = run.st8()
        self._pending_reads = self.settings.procedure_pending
        return ok()


def _malformed(data: bytes, kind: str) -> bytes:
    """A read answer whose CRC will be good but whose contents are not (the fault)."""
    count = len(data).to_bytes(2, "big")
    check = bytes((table_checksum(data),))
    if kind == "count":  # one byte more announced than carried
        return ok((len(data) + 1).to_bytes(2, "big") + data + check)
    if kind == "short":  # the body stops three bytes early, checksum and all
        cut = data[: max(len(data) - 3, 0)]
        return ok(count + cut + bytes((table_checksum(cut),)))
    if kind == "checksum":
        return ok(count + data + bytes((check[0] ^ 0x5A,)))
    # "length": a consistent answer for a table one byte shorter than it should be
    return read_ok(data[:-1])
