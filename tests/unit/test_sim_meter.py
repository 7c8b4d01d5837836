"""The simulated meter's sessions, driven with raw bytes built here (no driver involved)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.drivers.c1218.packet import (
    ACK,
    NAK,
    BadFrame,
    Frame,
    FrameScanner,
    Packet,
    decode_packet,
    table_checksum,
)
from simulators.c1218.meter import C1218Meter, SessionState
from simulators.c1218.options import SimOptions, resolve_settings
from simulators.scenario import Scenario, load_scenario, parse_scenario

T0 = 1_741_964_966.0  # 2025-03-14 15:09:26 UTC, a Friday

OK, ERR, SNS, ISC, ONP, IAR, BSY, ISSS = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A

IDENTIFY = b"\x20"
TERMINATE = b"\x21"
LOGOFF = b"\x52"
LOGON = b"\x50\x00\x02" + b"FIELDKIT".ljust(10, b" ")


def negotiate(size: int, count: int, *bauds: int) -> bytes:
    return bytes((0x60 + len(bauds),)) + size.to_bytes(2, "big") + bytes((count, *bauds))


def read_full(table: int) -> bytes:
    return b"\x30" + table.to_bytes(2, "big")


def read_partial(table: int, offset: int, count: int) -> bytes:
    return b"\x3f" + table.to_bytes(2, "big") + offset.to_bytes(3, "big") + count.to_bytes(2, "big")


def security(password: bytes) -> bytes:
    return b"\x51" + password.ljust(20, b" ")


class Client:
    """Plays the client with raw bytes: frames requests, ACKs each response packet."""

    def __init__(self, meter: C1218Meter, now: float = T0) -> None:
        self.meter = meter
        self.now = now
        self.toggle = False
        self.frames: list[bytes] = []

    def send(self, payload: bytes) -> bytes:
        """Send one request and return the raw bytes the meter answers at once."""
        raw = Packet(payload, toggle=self.toggle).encode()
        self.toggle = not self.toggle
        self.meter.receive(raw, self.now)
        return self.meter.data_to_send()

    def request(self, payload: bytes) -> bytes:
        """One request, the meter's ACK, every response packet ACKed; returns the response."""
        out = self.send(payload)
        assert out[:1] == bytes((ACK,)), f"expected ACK, got {out.hex()}"
        return self.collect(out[1:])

    def collect(self, out: bytes) -> bytes:
        scanner = FrameScanner()
        message = b""
        self.frames = []
        pending = list(scanner.feed(out))
        while True:
            assert pending, "the meter sent no response packet"
            event = pending.pop(0)
            assert isinstance(event, Frame), event
            self.frames.append(event.raw)
            message += event.packet.data
            self.meter.receive(bytes((ACK,)), self.now)
            if not event.packet.multi or event.packet.sequence == 0:
                assert not pending
                leftover = self.meter.data_to_send()
                assert leftover == b"", leftover.hex()
                return message
            pending += list(scanner.feed(self.meter.data_to_send()))

    def logon(self, *, packet_size: int = 256, packets: int = 4) -> None:
        assert self.request(IDENTIFY)[0] == OK
        assert self.request(negotiate(packet_size, packets))[0] == OK
        assert self.request(LOGON) == bytes((OK,))


def table_data(response: bytes) -> bytes:
    """Check a read response (ok, count, data, checksum) and return the data."""
    assert response[0] == OK, f"response code {response[0]:#x}"
    count = int.from_bytes(response[1:3], "big")
    data = response[3 : 3 + count]
    assert len(response) == 4 + count
    assert (sum(data) + response[-1]) & 0xFF == 0, "table checksum"
    return data


def state_of(meter: C1218Meter) -> SessionState:
    # A call, so type checkers do not carry a narrowed state across requests.
    return meter.state


def _responses(vectors: dict[str, Any]) -> dict[str, str]:
    return {v["what"]: v["frame"] for v in vectors["responses"] if "frame" in v}


def make_meter(
    scenario: Scenario | str = "healthy-2s", now: float = T0, **options: Any
) -> C1218Meter:
    loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
    extra = options.pop("extra_tables", None)
    opts = SimOptions(**{"turnaround_ms": 0, **options})
    return C1218Meter(
        loaded, started_at=now, settings=resolve_settings(loaded, opts), extra_tables=extra
    )


@pytest.fixture
def client() -> Client:
    return Client(make_meter())


# --- identify, negotiate --------------------------------------------------------------------


def test_identify_answers_the_published_frame(c1218_vectors: dict[str, Any]) -> None:
    client = Client(make_meter())
    out = client.send(IDENTIFY)
    expected = _responses(c1218_vectors)
    assert out == bytes((ACK,)) + bytes.fromhex(
        expected["identify ok: C12.18 version 1 revision 0, no features"]
    )
    assert state_of(client.meter) is SessionState.ID


def test_negotiate_answer_matches_the_published_frame(c1218_vectors: dict[str, Any]) -> None:
    client = Client(make_meter())
    client.request(IDENTIFY)
    out = client.send(negotiate(64, 2, 0x06))
    expected = _responses(c1218_vectors)
    assert out[1:].hex() == expected["negotiate ok: 64-byte packets, 2 packets, 9600, toggle set"]


def test_negotiate_grants_at_most_the_scenario_limits(client: Client) -> None:
    client.request(IDENTIFY)
    # healthy-2s: 256-byte packets, 4 packets; ask for more and three speeds.
    response = client.request(negotiate(1024, 8, 0x06, 0x0B, 0x0C))
    size, count, baud = int.from_bytes(response[1:3], "big"), response[3], response[4]
    assert (size, count) == (256, 4)
    # Offered 9600, 38400 and 115200; the meter has no 115200: 38400 (0x0B) is the fastest
    # offered speed it has.
    assert baud == 0x0B


def test_negotiate_grants_smaller_requests_as_asked(client: Client) -> None:
    client.request(IDENTIFY)
    response = client.request(negotiate(128, 2, 0x08))
    assert response == bytes((OK, 0x00, 0x80, 2, 0x08))


@pytest.mark.parametrize(
    ("bauds", "expected_code"),
    [
        ((), 0x06),  # no baud bytes: keep the speed
        ((0x01,), 0x06),  # only 300 baud offered: the meter has none of it, stays at 9600
        ((0x09,), 0x06),  # only 28800 offered (the public vector): stays at 9600
        ((0x0B, 0x06), 0x0B),  # 38400 offered among others
    ],
)
def test_negotiate_baud_choice(bauds: tuple[int, ...], expected_code: int) -> None:
    client = Client(make_meter())
    client.request(IDENTIFY)
    assert client.request(negotiate(256, 1, *bauds))[4] == expected_code


def test_speed_switches_only_after_the_client_acks(client: Client) -> None:
    client.request(IDENTIFY)
    out = client.send(negotiate(256, 4, 0x0A))
    assert decode_packet(out[1:]).data[4] == 0x0A
    assert client.meter.baud == 9600  # the response itself goes at the old speed
    client.meter.receive(bytes((ACK,)), client.now)
    assert client.meter.baud == 57600


def test_speed_stays_when_negotiate_response_is_not_acked(client: Client) -> None:
    client.request(IDENTIFY)
    client.send(negotiate(256, 4, 0x0A))
    client.meter.receive(bytes((NAK,)), client.now)  # the meter resends, still at 9600
    assert client.meter.baud == 9600


def test_negotiate_refuses_packets_too_small_to_carry_anything(client: Client) -> None:
    client.request(IDENTIFY)
    assert client.request(negotiate(8, 1)) == bytes((ERR,))


# --- service sequence -----------------------------------------------------------------------


@pytest.mark.parametrize("payload", [LOGON, read_full(0), LOGOFF, negotiate(256, 1), b"\x70\x05"])
def test_requests_before_identify_are_out_of_sequence(payload: bytes) -> None:
    client = Client(make_meter())
    assert client.request(payload) == bytes((ISSS,))
    assert state_of(client.meter) is SessionState.BASE


def test_read_before_logon_and_identify_twice_are_out_of_sequence(client: Client) -> None:
    client.request(IDENTIFY)
    assert client.request(read_full(0)) == bytes((ISSS,))
    assert client.request(IDENTIFY) == bytes((ISSS,))
    client.request(LOGON)
    assert client.request(negotiate(256, 1)) == bytes((ISSS,))
    assert client.request(LOGON) == bytes((ISSS,))


def test_logoff_then_terminate_ends_the_session(client: Client) -> None:
    client.logon()
    assert client.request(LOGOFF) == bytes((OK,))
    assert state_of(client.meter) is SessionState.ID
    assert client.request(read_full(0)) == bytes((ISSS,))
    assert client.request(TERMINATE) == bytes((OK,))
    assert state_of(client.meter) is SessionState.BASE


def test_terminate_is_accepted_from_any_state_and_resets_link(
    c1218_vectors: dict[str, Any],
) -> None:
    client = Client(make_meter())
    client.logon(packet_size=128, packets=2)
    client.request(TERMINATE)
    assert state_of(client.meter) is SessionState.BASE
    assert client.meter.link.packet_size == 64
    # The next session starts over: Identify's answer carries toggle 0 again.
    out = client.send(IDENTIFY)
    assert out[1:].hex() == c1218_vectors["responses"][0]["frame"]


def test_terminate_response_keeps_the_session_toggle(c1218_vectors: dict[str, Any]) -> None:
    client = Client(make_meter())
    client.request(IDENTIFY)  # meter toggle 0
    out = client.send(TERMINATE)  # meter toggle 1
    expected = _responses(c1218_vectors)
    assert out[1:].hex() == expected["terminate ok, toggle set"]


def test_unknown_and_unsupported_services(client: Client) -> None:
    client.logon()
    assert client.request(b"\x31\x00\x17\x00\x00\x00\x10") == bytes((SNS,))  # index read
    assert client.request(b"\x99") == bytes((SNS,))
    assert client.request(b"\x30\x00") == bytes((ERR,))  # truncated read


# --- security ---------------------------------------------------------------------------------


def test_open_meter_serves_every_table_after_logon(client: Client) -> None:
    client.logon()
    for table in client.meter.tables.served:
        assert client.request(read_full(table))[0] == OK, table


def test_secured_meter_serves_only_st0_st1_before_security() -> None:
    client = Client(make_meter("secured-2s"))
    client.logon()
    assert client.request(read_full(0))[0] == OK
    assert client.request(read_full(1))[0] == OK
    assert client.request(read_full(3)) == bytes((ISC,))
    assert client.request(read_full(52)) == bytes((ISC,))


def test_wrong_password_is_err_and_grants_nothing() -> None:
    client = Client(make_meter("secured-2s"))
    client.logon()
    assert client.request(security(b"WRONG")) == bytes((ERR,))
    assert client.request(read_full(3)) == bytes((ISC,))


@pytest.mark.parametrize("fill", [b" ", b"\x00"])
def test_reader_password_opens_tables_with_either_padding(fill: bytes) -> None:
    client = Client(make_meter("secured-2s"))
    client.logon()
    assert client.request(b"\x51" + b"READER01".ljust(20, fill)) == bytes((OK,))
    assert client.meter.security_level == 1
    assert client.request(read_full(3))[0] == OK


def _scenario_with_read_level(level: int) -> Scenario:
    base = load_scenario("secured-2s")
    return base.model_copy(
        update={"security": base.security.model_copy(update={"read_level": level})}
    )


def test_password_level_must_reach_the_read_level() -> None:
    client = Client(make_meter(_scenario_with_read_level(3)))
    client.logon()
    assert client.request(security(b"READER01")) == bytes((OK,))
    assert client.request(read_full(23)) == bytes((ISC,))
    assert client.request(security(b"MASTER0001")) == bytes((OK,))
    assert client.meter.security_level == 3
    assert client.request(read_full(23))[0] == OK


def test_logoff_drops_the_security_level() -> None:
    client = Client(make_meter("secured-2s"))
    client.logon()
    client.request(security(b"READER01"))
    client.request(LOGOFF)
    client.request(LOGON)
    assert client.request(read_full(3)) == bytes((ISC,))


# --- reads and writes -----------------------------------------------------------------------


def test_full_read_carries_count_data_and_checksum(client: Client) -> None:
    client.logon()
    st1 = table_data(client.request(read_full(1)))
    assert st1[:4] == b"FKIT"
    assert st1[4:12] == b"SIM-2S  "
    assert st1[12:16] == bytes((2, 1, 3, 7))
    assert st1[16:32] == b"SN2S000000012345"


def test_partial_read_returns_the_slice(client: Client) -> None:
    client.logon()
    full = table_data(client.request(read_full(5)))
    part = table_data(client.request(read_partial(5, 4, 7)))
    assert part == full[4:11]
    assert full == b"M2S-0012345".ljust(20)


def test_partial_read_beyond_the_table_is_onp(client: Client) -> None:
    client.logon()
    assert client.request(read_partial(5, 15, 6)) == bytes((ONP,))
    assert client.request(read_partial(5, 15, 5))[0] == OK


@pytest.mark.parametrize("table", [4, 6, 74, 2048 + 1])
def test_tables_not_in_st0_are_onp(client: Client, table: int) -> None:
    # healthy-2s has no history events, so it does not serve ST74.
    client.logon()
    assert client.request(read_full(table)) == bytes((ONP,))


def test_response_larger_than_the_grant_is_onp_and_partial_reads_work() -> None:
    client = Client(make_meter())
    client.request(IDENTIFY)
    client.request(LOGON)  # no Negotiate: 64-byte packets, 1 packet
    assert client.request(read_full(76)) == bytes((ONP,))
    header = table_data(client.request(read_partial(76, 0, 11)))
    assert header[0] & 0x04  # circular list


def test_multi_packet_response_reproduces_the_vector(c1218_vectors: dict[str, Any]) -> None:
    meter = make_meter(extra_tables={2048 + 1: bytes(range(100))})
    client = Client(meter)
    client.request(IDENTIFY)  # meter toggle 0
    client.request(negotiate(64, 2))  # 1
    client.request(LOGON)  # 0
    client.request(b"\x70\x0a")  # 1 (Wait)
    response = client.request(read_full(2048 + 1))
    assert table_data(response) == bytes(range(100))
    vector = c1218_vectors["responses"][-1]
    assert [f.hex() for f in client.frames] == vector["frames"]


def test_the_meter_waits_for_each_ack_of_a_multi_packet_response() -> None:
    meter = make_meter(extra_tables={2049: bytes(range(100))})
    client = Client(meter)
    client.logon(packet_size=64, packets=2)
    out = client.send(read_full(2049))
    first = decode_packet(out[1:])
    assert (first.multi, first.first, first.sequence) == (True, True, 1)
    assert meter.data_to_send() == b""  # nothing more until the ACK
    meter.receive(bytes((ACK,)), client.now)
    second = decode_packet(meter.data_to_send())
    assert (second.multi, second.first, second.sequence) == (True, False, 0)
    assert second.toggle != first.toggle


def test_writes_are_refused(client: Client) -> None:
    client.logon()
    data = b"\x00\x00\x00\x00\x00"
    write = b"\x40\x00\x03" + len(data).to_bytes(2, "big") + data + bytes((table_checksum(data),))
    assert client.request(write) == bytes((IAR,))
    bad_sum = write[:-1] + bytes(((write[-1] + 1) & 0xFF,))
    assert client.request(bad_sum) == bytes((ERR,))
    unknown = b"\x40\x00\x06\x00\x04ABCD" + bytes((table_checksum(b"ABCD"),))
    assert client.request(unknown) == bytes((ONP,))


def test_multi_packet_request_is_reassembled() -> None:
    meter = make_meter()
    client = Client(meter)
    client.logon(packet_size=64, packets=4)
    data = bytes(100)
    write = b"\x4f\x00\x03" + (0).to_bytes(3, "big") + len(data).to_bytes(2, "big") + data
    write += bytes((table_checksum(data),))
    first, second = write[:56], write[56:]
    meter.receive(Packet(first, toggle=False, multi=True, first=True, sequence=1).encode(), T0)
    assert meter.data_to_send() == bytes((ACK,))  # no answer yet: the request is incomplete
    meter.receive(Packet(second, toggle=True, multi=True, sequence=0).encode(), T0)
    out = meter.data_to_send()
    assert out[:1] == bytes((ACK,))
    assert decode_packet(out[1:]).data == bytes((IAR,))


# --- link behaviour seen from the session ---------------------------------------------------


def test_duplicate_request_is_acked_again_and_answered_once(client: Client) -> None:
    client.request(IDENTIFY)
    raw = Packet(LOGON, toggle=True).encode()
    client.meter.receive(raw, T0)
    first = client.meter.data_to_send()
    assert first[:1] == bytes((ACK,))
    client.meter.receive(bytes((ACK,)), T0)
    client.meter.receive(raw, T0)  # our ACK "was lost": the client sends it again
    assert client.meter.data_to_send() == bytes((ACK,))
    assert client.meter.counters.requests == 2
    assert client.meter.link.counters.duplicates == 1


def test_bad_crc_is_naked_and_nothing_happens(client: Client) -> None:
    raw = bytearray(Packet(IDENTIFY).encode())
    raw[-1] ^= 0xFF
    client.meter.receive(bytes(raw), T0)
    assert client.meter.data_to_send() == bytes((NAK,))
    assert state_of(client.meter) is SessionState.BASE


def test_incomplete_packet_is_naked_after_500_ms(client: Client) -> None:
    raw = Packet(IDENTIFY).encode()
    client.meter.receive(raw[:5], T0)
    assert client.meter.next_deadline() == pytest.approx(T0 + 0.5)
    client.meter.handle_timeout(T0 + 0.49)
    assert client.meter.data_to_send() == b""
    client.meter.handle_timeout(T0 + 0.5)
    assert client.meter.data_to_send() == bytes((NAK,))
    # The line is clean again: a whole packet is served.
    client.meter.receive(raw, T0 + 0.6)
    assert client.meter.data_to_send()[:1] == bytes((ACK,))


def test_nak_and_silence_make_the_meter_resend_the_identical_packet(client: Client) -> None:
    out = client.send(IDENTIFY)
    response = out[1:]
    client.meter.receive(bytes((NAK,)), T0)
    assert client.meter.data_to_send() == response
    client.meter.handle_timeout(T0 + 1.99)
    assert client.meter.data_to_send() == b""
    client.meter.handle_timeout(T0 + 2.0)
    assert client.meter.data_to_send() == response
    client.meter.handle_timeout(T0 + 4.0)
    assert client.meter.data_to_send() == response
    # Three retransmissions, then the meter gives the response up.
    client.meter.handle_timeout(T0 + 6.0)
    assert client.meter.data_to_send() == b""
    assert client.meter.link.counters.retransmissions == 3
    assert not client.meter.link.sending


def test_traffic_timeout_returns_to_base(client: Client) -> None:
    client.logon()
    client.now += 5.9
    assert client.request(read_full(0))[0] == OK  # traffic restarts the 6 s
    client.meter.handle_timeout(client.now + 5.99)
    assert state_of(client.meter) is SessionState.SESSION
    client.meter.handle_timeout(client.now + 6.0)
    assert state_of(client.meter) is SessionState.BASE
    client.now += 6.5
    assert client.request(read_full(0)) == bytes((ISSS,))


def test_traffic_timeout_restores_9600_baud(client: Client) -> None:
    client.request(IDENTIFY)
    client.request(negotiate(256, 4, 0x0A))
    assert client.meter.baud == 57600
    client.meter.handle_timeout(client.now + 6.0)
    assert client.meter.baud == 9600


def test_wait_keeps_the_channel_open(client: Client) -> None:
    client.logon()
    assert client.request(b"\x70\x14") == bytes((OK,))  # 20 s
    client.meter.handle_timeout(client.now + 19.0)
    assert state_of(client.meter) is SessionState.SESSION
    client.meter.handle_timeout(client.now + 20.0)
    assert state_of(client.meter) is SessionState.BASE


def test_custom_traffic_timeout() -> None:
    client = Client(make_meter(traffic_timeout=1.5))
    client.logon()
    client.meter.handle_timeout(client.now + 1.5)
    assert state_of(client.meter) is SessionState.BASE


# --- timing and faults ----------------------------------------------------------------------


def test_turnaround_and_slow_delay_the_response_not_the_ack() -> None:
    meter = make_meter(turnaround_ms=10, slow_ms=40)
    meter.receive(Packet(IDENTIFY).encode(), T0)
    assert meter.data_to_send() == bytes((ACK,))
    assert meter.next_deadline() == pytest.approx(T0 + 0.05)
    meter.handle_timeout(T0 + 0.049)
    assert meter.data_to_send() == b""
    meter.handle_timeout(T0 + 0.05)
    assert decode_packet(meter.data_to_send()).data == b"\x00\x00\x01\x00\x00"


def test_busy_answers_the_first_reads_of_each_session() -> None:
    client = Client(make_meter(busy=2))
    client.logon()
    assert client.request(read_full(0)) == bytes((BSY,))
    assert client.request(read_full(0)) == bytes((BSY,))
    assert client.request(read_full(0))[0] == OK
    assert client.meter.counters.busy_answers == 2
    client.request(TERMINATE)
    client.logon()
    assert client.request(read_full(1)) == bytes((BSY,))


def test_stop_after_goes_silent_after_n_reads() -> None:
    client = Client(make_meter(stop_after=2))
    client.logon()
    assert client.request(read_full(0))[0] == OK
    assert client.request(read_full(1))[0] == OK
    assert client.send(read_full(3)) == b""  # not even an ACK
    assert client.meter.next_deadline() is None


def test_corrupt_rate_one_naks_every_incoming_packet() -> None:
    meter = make_meter(corrupt_rate=1.0, seed=1)
    meter.receive(Packet(IDENTIFY).encode(), T0)
    assert meter.data_to_send() == bytes((NAK,))
    assert meter.faults.counters.corrupted_in == 1


def test_drop_rate_one_loses_every_response_packet() -> None:
    meter = make_meter(drop_rate=1.0, seed=1)
    meter.receive(Packet(IDENTIFY).encode(), T0)
    assert meter.data_to_send() == bytes((ACK,))  # ACKs are bytes, not packets
    meter.handle_timeout(T0 + 2.0)
    assert meter.data_to_send() == b""
    assert meter.faults.counters.dropped_out == 2


def test_outgoing_corruption_is_a_whole_frame_with_a_bad_crc() -> None:
    meter = make_meter(seed=7)
    meter.receive(Packet(IDENTIFY).encode(), T0)
    meter.data_to_send()
    # Spoil from now on: the retransmission the NAK asks for goes out corrupted.
    meter.faults.corrupt_rate = 1.0
    meter.receive(bytes((NAK,)), T0)
    events = list(FrameScanner().feed(meter.data_to_send()))
    assert len(events) == 1
    assert isinstance(events[0], BadFrame)


def test_same_seed_same_faults() -> None:
    def run() -> bytes:
        meter = make_meter(corrupt_rate=0.5, drop_rate=0.3, seed=42)
        wire = b""
        for n in range(30):
            meter.receive(Packet(IDENTIFY, toggle=bool(n & 1)).encode(), T0 + n)
            wire += meter.data_to_send()
            meter.receive(bytes((ACK,)), T0 + n)
            meter.receive(Packet(TERMINATE, toggle=not (n & 1)).encode(), T0 + n)
            wire += meter.data_to_send()
            meter.receive(bytes((ACK,)), T0 + n)
        return wire

    assert run() == run()


# --- robustness -----------------------------------------------------------------------------

_SCENARIO = parse_scenario('name = "fuzz"\n[[phase]]\nname = "A"\nvoltage = 240\ncurrent = 10\n')


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.binary(max_size=80), st.floats(min_value=0, max_value=3)), max_size=12)
)
def test_arbitrary_bytes_never_crash_the_meter(chunks: list[tuple[bytes, float]]) -> None:
    meter = C1218Meter(_SCENARIO, started_at=T0)
    now = T0
    for data, step in chunks:
        now += step
        meter.receive(data, now)
        meter.handle_timeout(now)
        out = meter.data_to_send()
        for event in FrameScanner().feed(out):
            assert not isinstance(event, BadFrame)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=60))
def test_any_framed_request_gets_ack_and_one_response(payload: bytes) -> None:
    meter = C1218Meter(
        _SCENARIO,
        started_at=T0,
        settings=resolve_settings(_SCENARIO, SimOptions(turnaround_ms=0)),
    )
    for setup in (IDENTIFY, LOGON):
        meter.receive(Packet(setup, toggle=setup == LOGON).encode(), T0)
        meter.receive(bytes((ACK,)), T0)
    meter.data_to_send()
    meter.receive(Packet(payload).encode(), T0)
    out = meter.data_to_send()
    assert out[:1] == bytes((ACK,))
    response = decode_packet(out[1:]).data
    assert response[0] <= ISSS
