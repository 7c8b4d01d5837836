"""Interoperability review: the driver against an independent meter peer, and the simulated
meter against clients that behave like implementations written outside this project.

``PeerMeter`` below is written from c12-protocols.md §1 alone (its own CRC, framing and
answers); it shares nothing with the driver but the wire. It can answer without a separate
ACK, ACK after its answer or too late, toggle per message, use a non-zero identity byte and
remember the last packet it accepted for as long as it runs (EPRI's duplicate rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from fieldkit.drivers.c1218.client import C1218Client, SessionConfig
from fieldkit.drivers.c1218.driver import C1218Driver, C1218Options
from fieldkit.drivers.c1218.link import LinkConfig, LinkConnection, MessageReceived, NeedData
from fieldkit.drivers.c1218.packet import Packet, decode_packet
from simulators.c1218.meter import C1218Meter
from simulators.c1218.options import SimOptions, resolve_settings
from simulators.scenario import load_scenario

ACK, NAK = 0x06, 0x15
ST1 = b"PEER" + b"MODEL-9 " + bytes((1, 2, 3, 4)) + b"SN-PEER-00000042"
READ_AT = datetime(2025, 3, 14, 15, 9, 30, tzinfo=UTC)


# --- an independent meter peer ---------------------------------------------------------------


def crc_x25(data: bytes) -> int:
    """CRC-16/X-25 exactly as c12-protocols.md §1.4 spells it out."""
    reg = 0xFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0x8408 if reg & 1 else reg >> 1
    return reg ^ 0xFFFF


def frame(data: bytes, *, ctrl: int = 0, seq: int = 0, identity: int = 0) -> bytes:
    body = bytes((0xEE, identity, ctrl, seq)) + len(data).to_bytes(2, "big") + data
    return body + crc_x25(body).to_bytes(2, "little")


def read_answer(data: bytes) -> bytes:
    return b"\x00" + len(data).to_bytes(2, "big") + data + bytes(((-sum(data)) & 0xFF,))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class PeerMeter:
    """A Transport that is a meter: every frame written is answered on the fake clock."""

    clock: Clock
    tables: dict[int, bytes] = field(default_factory=lambda: {1: ST1})
    ack: str = "separate"  # "separate": ACK then answer; "none": answer only; "after"
    ack_delay: float = 0.0  # the separate ACK (and the answer) come this late
    identity: int = 0
    per_message_toggle: bool = False
    packet_size: int = 64
    negotiate_answer: bytes = b"\x00\x00\x40\x02\x06"
    refuse: dict[int, int] = field(default_factory=dict)  # table -> response code
    lose: dict[int, int] = field(default_factory=dict)  # service -> answers lost after the ACK
    url: str = "peer://meter"
    frames_in: list[bytes] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    bauds: list[int] = field(default_factory=list)
    _rx: bytearray = field(default_factory=bytearray)
    _out: list[tuple[float, bytes]] = field(default_factory=list)
    _last: tuple[int, bytes] | None = None  # (toggle bit, CRC) of the last accepted packet
    _toggle: int = 0

    # Transport ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self._rx += data
        while (start := self._rx.find(0xEE)) >= 0:
            del self._rx[:start]  # ACK/NAK bytes of the client: this peer never waits for them
            if len(self._rx) < 6 or len(self._rx) < 8 + int.from_bytes(self._rx[4:6], "big"):
                return
            size = 8 + int.from_bytes(self._rx[4:6], "big")
            raw = bytes(self._rx[:size])
            del self._rx[:size]
            self._packet(raw)
        self._rx.clear()

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self._out or self._out[0][0] > self.clock.now + timeout:
            self.clock.now += timeout
            return b""
        due, data = self._out.pop(0)
        self.clock.now = max(self.clock.now, due)
        return data

    def set_baudrate(self, baudrate: int) -> None:
        self.bauds.append(baudrate)

    def flush_input(self) -> None:
        self._out = [(due, d) for due, d in self._out if due > self.clock.now]

    def close(self) -> None:
        """Nothing to release."""

    # the meter ------------------------------------------------------------------------------

    def _emit(self, data: bytes, delay: float = 0.0) -> None:
        self._out.append((self.clock.now + delay, data))

    def _packet(self, raw: bytes) -> None:
        if crc_x25(raw[:-2]) != int.from_bytes(raw[-2:], "little"):
            self._emit(bytes((NAK,)))
            return
        self.frames_in.append(raw)
        key = (raw[2] & 0x20, raw[-2:])
        if key == self._last:  # a retransmission: the client missed our ACK
            self._emit(bytes((ACK,)), self.ack_delay)
            return
        self._last = key
        request = raw[6:-2]
        self.requests.append(request)
        answer = self._answer(request)
        if self.lose.get(request[0], 0):
            self.lose[request[0]] -= 1
            answer = None
        if self.ack == "separate":
            self._emit(bytes((ACK,)), self.ack_delay)
        if answer is not None:
            for packet in self._packets(answer):
                self._emit(packet, self.ack_delay)
        if self.ack == "after":
            self._emit(bytes((ACK,)), self.ack_delay)
        if request[:1] == b"\x21":
            self._toggle = 0  # a new session starts with toggle 0 (§1.6)

    def _packets(self, message: bytes) -> list[bytes]:
        room = self.packet_size - 8
        chunks = [message[i : i + room] for i in range(0, len(message), room)] or [b""]
        out = []
        for n, chunk in enumerate(chunks):
            seq = len(chunks) - 1 - n
            ctrl = 0 if len(chunks) == 1 else (0xC0 if n == 0 else 0x80)
            out.append(frame(chunk, ctrl=ctrl | self._toggle << 5, seq=seq, identity=self.identity))
            if not self.per_message_toggle or seq == 0:
                self._toggle ^= 1
        return out

    def _answer(self, request: bytes) -> bytes:
        service = request[0]
        if service == 0x20:
            return b"\x00\x00\x01\x00\x00"
        if 0x60 <= service <= 0x6B:
            return self.negotiate_answer
        if service in (0x30, 0x3F):
            table = int.from_bytes(request[1:3], "big")
            if table in self.refuse:
                return bytes((self.refuse[table],))
            if table not in self.tables:
                return b"\x04"
            data = self.tables[table]
            if service == 0x3F:
                offset, count = (
                    int.from_bytes(request[3:6], "big"),
                    int.from_bytes(request[6:8], "big"),
                )
                if offset + count > len(data):
                    return b"\x04"
                data = data[offset : offset + count]
            return read_answer(data)
        return b"\x00"  # logon, security, logoff, terminate, wait


def client_for(peer: PeerMeter, session: SessionConfig | None = None) -> C1218Client:
    return C1218Client(
        peer, LinkConfig(), session or SessionConfig(), clock=peer.clock, sleep=peer.clock.sleep
    )


def driver_for(peer: PeerMeter, options: C1218Options | None = None) -> C1218Driver:
    return C1218Driver(
        peer.url,
        options,
        transport_factory=lambda url: peer,
        wall_clock=lambda: READ_AT,
        monotonic=peer.clock,
        sleep=peer.clock.sleep,
    )


# --- the simulated meter, driven by hand -----------------------------------------------------


T0 = 1_741_964_966.0
IDENTIFY, LOGON, READ_ST1 = b"\x20", b"\x50\x00\x02" + b"PEER".ljust(10), b"\x30\x00\x01"


def sim_meter(*, busy: int = 0) -> C1218Meter:
    scenario = load_scenario("healthy-2s")
    settings = resolve_settings(scenario, SimOptions(turnaround_ms=0, busy=busy))
    return C1218Meter(scenario, started_at=T0, settings=settings)


def exchange(
    meter: C1218Meter, request: bytes, *, toggle: bool = False, identity: int = 0
) -> bytes:
    """Send one request, ACK the answer; the meter's answer frame (or b"" when dropped)."""
    meter.receive(Packet(request, toggle=toggle, identity=identity).encode(), T0)
    out = meter.data_to_send()
    assert out[:1] == bytes((ACK,))
    if out[1:]:
        meter.receive(bytes((ACK,)), T0)
    return out[1:]


# --- the driver's link and session against a different meter ---------------------------------


@pytest.mark.parametrize(
    ("ack", "delay"),
    [("none", 0.0), ("after", 0.0), ("separate", 0.3), ("separate", 2.5)],
    ids=["answer-without-ack", "ack-after-answer", "ack-slow", "ack-after-response-timeout"],
)
def test_meter_ack_variants_give_one_answer_per_request(ack: str, delay: float) -> None:
    peer = PeerMeter(Clock(), ack=ack, ack_delay=delay)
    client = client_for(peer)
    client.open()
    assert client.read_table(1) == ST1
    assert client.read_table(1) == ST1  # a late ACK is not taken for the next request's
    client.close()
    # Identify, Negotiate, Logon, two reads, Logoff, Terminate: each answered once.
    assert [r[0] for r in peer.requests] == [0x20, 0x61, 0x50, 0x30, 0x30, 0x52, 0x21]
    assert client.stats.restarts == 0


def test_non_zero_identity_and_per_message_toggles_are_understood() -> None:
    table = bytes(range(200))  # four 64-byte packets, all with one toggle bit
    peer = PeerMeter(
        Clock(),
        identity=5,
        per_message_toggle=True,
        tables={1: ST1, 9: table},
        negotiate_answer=b"\x00\x00\x40\x04\x06",
    )
    client = client_for(peer)
    client.open()
    assert client.read_table(9) == table
    assert client.read_table(1) == ST1
    assert client.stats.naks_sent == 0


@pytest.mark.parametrize("answer", [b"\x00\x00\x40\x02", b"\x00\x00\x40\x02\x00"])
def test_negotiate_answer_without_a_speed_keeps_the_port_at_9600(answer: bytes) -> None:
    peer = PeerMeter(Clock(), negotiate_answer=answer)
    client = client_for(peer, SessionConfig(baud=19200))
    info = client.open()
    assert (info.packet_size, info.nbr_packets, info.baud) == (64, 2, 9600)
    assert 19200 not in peer.bauds  # the meter never said it would switch
    assert client.read_table(1) == ST1


def test_a_restart_after_a_lost_identify_answer_is_not_a_duplicate_to_the_meter() -> None:
    # The meter ACKs Identify but its answer is lost; after the traffic timeout the driver
    # starts again. A meter that still remembers the packet it last accepted (same toggle,
    # same CRC: a duplicate, §1.6) would ACK and drop an identical Identify for ever.
    peer = PeerMeter(Clock(), lose={0x20: 1})
    client = client_for(peer)
    info = client.open()
    assert info.version == 1
    identifies = [raw for raw in peer.frames_in if raw[6] == 0x20]
    assert len(identifies) == 2
    assert identifies[0] != identifies[1]  # a new packet, not a retransmission
    assert client.read_table(1) == ST1


def test_bytes_arriving_after_the_inter_character_timeout_start_a_new_frame() -> None:
    # A read that returns late (a busy laptop) can hold the rest of a cut-short frame and,
    # after more than 500 ms of silence, the meter's whole retransmission. The stale part
    # must be dropped before the new bytes are scanned, as §1.5 says for a receiver.
    link = LinkConnection()
    link.send_message(b"\x30\x00\x01", 64, now=0.0)
    link.data_to_send()
    link.receive_data(b"\x06", 0.01)
    answer = Packet(read_answer(ST1)).encode()
    link.receive_data(answer[:5], 0.02)
    link.receive_data(answer, 0.75)  # no handle_timeout() call in between
    events = []
    while not isinstance(event := link.next_event(), NeedData):
        events.append(event)
    assert MessageReceived(read_answer(ST1)) in events
    assert link.data_to_send() == b"\x15\x06"  # NAK for the stale part, ACK for the frame


# --- the whole driver against a meter with a different table set ------------------------------


@dataclass(frozen=True)
class Formats:
    """What ST0 says about a meter's data: byte order, time format, id form, version."""

    big_endian: bool
    tm_format: int
    bcd_ids: bool
    std_version: int
    event_number: bool


def st0_with(formats: Formats, tables: list[int]) -> bytes:
    used = bytearray(max(tables) // 8 + 1)
    for n in tables:
        used[n // 8] |= 1 << (n % 8)
    fc1 = int(formats.big_endian) | 1 << 1  # DATA_ORDER, CHAR_FORMAT 1
    fc2 = formats.tm_format | int(formats.bcd_ids) << 5  # TM_FORMAT, ID_FORM
    head = bytes((fc1, fc2, 0x88)) + b"PEER" + bytes((2, 0, 0, 0, formats.std_version, 0))
    return head + bytes((len(used), 0, 0, 0, 0, 0)) + bytes(used) + bytes(len(used))


def st0(tables: list[int]) -> bytes:
    """ST0 of a plain meter: little-endian, TM_FORMAT 2, character ids, version 1."""
    return st0_with(Formats(False, 2, bcd_ids=False, std_version=1, event_number=True), tables)


def test_a_meter_that_lists_st52_but_refuses_it_gives_its_clock_from_st55() -> None:
    # ST55 CLOCK_STATE_TBL carries the same LTIME_DATE and qualifier as ST52 (9 bytes with
    # TM_FORMAT 2 instead of 7); a meter that refuses the one still has the other.
    clock_state = bytes((25, 3, 14, 15, 9, 28, 0x15)) + b"\x00\x00"  # GMT, Friday
    peer = PeerMeter(
        Clock(), tables={0: st0([0, 1, 52, 55]), 1: ST1, 55: clock_state}, refuse={52: 0x04}
    )
    snapshot = driver_for(peer, C1218Options(read_events=False)).read_snapshot()
    assert snapshot.clock is not None
    assert snapshot.clock.meter_time == datetime(2025, 3, 14, 15, 9, 28, tzinfo=UTC)
    assert snapshot.clock.drift_seconds == pytest.approx(-2.0)
    assert "clock" not in {u.item for u in snapshot.unavailable}


def test_a_meter_listing_every_table_but_serving_only_its_identity_is_read_to_the_end() -> None:
    tables = {0: st0(list(range(128))), 1: ST1}
    peer = PeerMeter(Clock(), tables=tables)  # onp for everything else
    snapshot = driver_for(peer).read_snapshot()
    assert snapshot.identity.serial_number == "SN-PEER-00000042"
    reasons = {u.item: u.reason for u in snapshot.unavailable}
    assert set(reasons) == {"status", "meter_id", "clock", "registers", "phases", "events"}
    assert all("onp" in reason for reason in reasons.values())
    asked = {int.from_bytes(r[1:3], "big") for r in peer.requests if r[0] in (0x30, 0x3F)}
    assert asked <= {0, 1, 3, 5, 11, 12, 15, 16, 21, 22, 23, 27, 28, 52, 55, 71, 74, 76}
    assert [r[0] for r in peer.requests[-2:]] == [0x52, 0x21]  # and the session is closed


def test_a_refusal_with_a_response_code_from_the_extension_range_skips_only_that_table() -> None:
    # Codes 0x80-0xFF are reserved for extensions (EPRI BNF, §1.11): a meter may refuse a
    # table with one. That is a "no" for the table, not a reason to abandon the visit.
    tables = {0: st0([0, 1, 3, 5]), 1: ST1, 5: b"M-123456".ljust(20)}
    peer = PeerMeter(Clock(), tables=tables, refuse={3: 0x85})
    snapshot = driver_for(peer).read_snapshot()
    assert snapshot.identity.meter_id == "M-123456"
    reasons = {u.item: u.reason for u in snapshot.unavailable}
    assert "0x85" in reasons["status"]
    assert "\n" not in reasons["status"]


def test_refused_companion_tables_do_not_hide_values_read_without_them() -> None:
    # ST22 and ST27 only name sources; with a profile the registers (ST23) and present values
    # (ST28) need neither. A meter that lists them but answers onp must not have its phases
    # and registers reported as unavailable next to their values.
    meter = sim_meter()
    tables = {n: meter.tables.read(n, T0) or b"" for n in meter.tables.served}
    peer = PeerMeter(
        Clock(),
        tables=tables,
        refuse={22: 0x04, 27: 0x04},
        negotiate_answer=b"\x00\x01\x00\x04\x06",
    )
    snapshot = driver_for(peer).read_snapshot()
    assert snapshot.phase("A") is not None
    assert snapshot.register("kwh_delivered") is not None
    assert snapshot.unavailable == ()


def ltime(moment: datetime, formats: Formats) -> bytes:
    """LTIME_DATE in each TM_FORMAT of §2.0."""
    order = "big" if formats.big_endian else "little"
    fields = (moment.year % 100, moment.month, moment.day, moment.hour, moment.minute)
    fields += (moment.second,)
    seconds = int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    if formats.tm_format == 1:
        return bytes(v // 10 << 4 | v % 10 for v in fields)
    if formats.tm_format == 2:
        return bytes(fields)
    if formats.tm_format == 3:
        return (seconds // 60).to_bytes(4, order) + bytes((seconds % 60,))
    return seconds.to_bytes(4, order)


def peer_tables(formats: Formats, events: list[tuple[datetime, int]]) -> dict[int, bytes]:
    order = "big" if formats.big_endian else "little"

    def u(value: int, size: int = 2) -> bytes:
        return value.to_bytes(size, order)

    serial = bytes.fromhex("0000000000004242") if formats.bcd_ids else b"SN-PEER-00004242"
    meter_id = bytes.fromhex("00000000000000123456") if formats.bcd_ids else b"M-123456".ljust(20)
    ext = formats.std_version > 1
    st71 = bytes((int(formats.event_number), 8, 0, 0, 2)) + u(0) + u(4)
    st71 += bytes((0,)) + u(0) if ext else b""
    slots = []
    for seq, (when, code) in enumerate(events, start=1):
        number = u(seq) if formats.event_number else b""
        slots.append(ltime(when, formats) + number + u(seq) + u(0) + u(code) + b"\x00\x00")
    size = len(slots[0])
    header = bytes((0x04,)) + u(len(events)) + u(len(events) - 1) + u(len(events), 4)
    header += u(len(events))
    st76 = header + b"".join(slots) + bytes(size * (4 - len(events)))
    return {
        0: st0_with(formats, [0, 1, 5, 52, 71, 76]),
        1: b"PEER" + b"MODEL-9 " + bytes((1, 2, 3, 4)) + serial,
        5: meter_id,
        52: ltime(datetime(2025, 3, 14, 15, 9, 28, tzinfo=UTC), formats) + bytes((0x15,)),
        71: st71,
        76: st76,
    }


@pytest.mark.parametrize(
    "formats",
    [
        Formats(big_endian=True, tm_format=1, bcd_ids=True, std_version=2, event_number=False),
        Formats(big_endian=False, tm_format=3, bcd_ids=False, std_version=1, event_number=True),
        Formats(big_endian=True, tm_format=4, bcd_ids=True, std_version=2, event_number=True),
        Formats(big_endian=False, tm_format=2, bcd_ids=False, std_version=2, event_number=False),
    ],
    ids=["bcd-times-big-endian", "minutes-little-endian", "seconds-big-endian", "uint8-v2"],
)
def test_driver_reads_meters_in_other_formats(formats: Formats) -> None:
    outage = datetime(2025, 3, 10, 4, 0, 0, tzinfo=UTC)
    events = [(outage, 1), (outage.replace(minute=40), 2), (outage.replace(day=12), 20)]
    peer = PeerMeter(Clock(), tables=peer_tables(formats, events))
    snapshot = driver_for(peer).read_snapshot()
    identity = snapshot.identity
    if formats.bcd_ids:
        assert (identity.serial_number, identity.meter_id) == (
            "0000000000004242",
            "0" * 14 + "123456",
        )
    else:
        assert (identity.serial_number, identity.meter_id) == ("SN-PEER-00004242", "M-123456")
    assert snapshot.clock is not None
    assert snapshot.clock.utc is True
    assert snapshot.clock.drift_seconds == pytest.approx(-2.0)
    assert [(e.code, e.timestamp) for e in snapshot.events] == [(c, when) for when, c in events]
    assert "events" not in {u.item for u in snapshot.unavailable}


# --- the simulated meter against clients that do things differently ---------------------------


def test_a_client_that_never_flips_its_toggle_gets_every_request_answered() -> None:
    # esp-idf-ansic1218 sends ctrl 0 on every packet (and termineter can be told to): a
    # request equal to the last one, sent after its answer was acknowledged, is a new request.
    meter = sim_meter(busy=1)
    for request in (IDENTIFY, LOGON):
        assert exchange(meter, request) != b""
    assert decode_packet(exchange(meter, READ_ST1)).data == b"\x06"  # bsy: ask again
    again = exchange(meter, READ_ST1)
    assert again != b"", "the identical retry after bsy was dropped as a duplicate"
    assert decode_packet(again).data[3:-1] == meter.tables.st1()
    assert decode_packet(exchange(meter, READ_ST1)).data[3:-1] == meter.tables.st1()


def test_a_real_duplicate_from_a_client_that_never_flips_its_toggle_is_still_dropped() -> None:
    meter = sim_meter()
    exchange(meter, IDENTIFY)
    exchange(meter, LOGON)
    raw = Packet(READ_ST1).encode()
    meter.receive(raw, T0)
    assert meter.data_to_send()[:1] == bytes((ACK,))
    meter.receive(raw, T0 + 2.0)  # our ACK was lost: the same packet, before the answer's ACK
    assert meter.data_to_send() == bytes((ACK,))
    assert meter.link.counters.duplicates == 1
    assert meter.counters.table_reads == 1


def test_answers_carry_the_identity_byte_the_client_used() -> None:
    meter = sim_meter()
    for n, request in enumerate((IDENTIFY, LOGON, READ_ST1)):
        assert decode_packet(exchange(meter, request, toggle=bool(n & 1), identity=5)).identity == 5


def test_negotiate_chooses_only_among_the_speeds_the_client_offered() -> None:
    # Public vector: Negotiate 128 bytes, 1 packet, 28800 only. healthy-2s has no 28800, so
    # the meter must stay at a speed the client knows (9600), not pick 19200 for it.
    meter = sim_meter()
    exchange(meter, IDENTIFY)
    answer = decode_packet(exchange(meter, bytes.fromhex("6100800109"), toggle=True))
    assert answer.data[4] == 0x06
