"""The C12.18 client against an in-process scripted meter, on a fake clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from fieldkit.drivers.c1218.client import C1218Client, SessionConfig
from fieldkit.drivers.c1218.link import LinkConfig
from fieldkit.drivers.c1218.packet import (
    ACK,
    NAK,
    ControlByte,
    Frame,
    FrameScanner,
    decode_packet,
    split_message,
    table_checksum,
)
from fieldkit.drivers.c1218.session import SessionState, SessionStateError
from fieldkit.drivers.errors import (
    MeterRefused,
    NoResponse,
    ReadCancelled,
    SecurityDenied,
    SessionLost,
)

PASSWORD = b"S3cret-Pass"
PADDED = PASSWORD.ljust(20, b" ")
ST1 = b"FKIT" + b"SIM-2S  " + b"\x01\x02\x03\x04" + b"SN00000000000001"
BIG = bytes(range(256)) * 2  # 512 bytes: more than one read can carry


class FakeClock:
    """Time that moves only when the client waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Answer = Callable[[bytes], bytes | list[bytes] | None]


@dataclass
class ScriptedMeter:
    """A Transport that answers like a meter: ACK, then the scripted answer, at once.

    ``answer`` maps a request's application bytes to the answer's (None: ACK, no answer; a
    list: several messages in a row).
    ``deaf`` frames are ignored entirely, as a meter that does not hear us, and so is the
    first frame of each service code in ``ignore_once``.
    """

    answer: Answer
    clock: FakeClock
    packet_size: int = 64
    deaf: int = 0
    ignore_once: set[int] = field(default_factory=set)
    url: str = "socket://127.0.0.1:1"
    requests: list[bytes] = field(default_factory=list)
    wire: list[tuple[str, bytes | int]] = field(default_factory=list)
    _scanner: FrameScanner = field(default_factory=FrameScanner)
    _pending: bytearray = field(default_factory=bytearray)
    _toggle: bool = False

    def write(self, data: bytes) -> None:
        self.wire.append(("write", data))
        for event in self._scanner.feed(data):
            if isinstance(event, ControlByte):
                continue  # the client's ACKs
            if not isinstance(event, Frame):
                self._pending.append(NAK)
                continue
            request = event.packet.data
            if self.deaf or (request[:1] and request[0] in self.ignore_once):
                self.deaf = max(self.deaf - 1, 0)
                self.ignore_once.discard(request[0])
                continue
            self.requests.append(request)
            self._pending.append(ACK)
            reply = self.answer(request)
            for message in [reply] if isinstance(reply, bytes) else reply or []:
                for packet in split_message(
                    message, packet_size=self.packet_size, toggle=self._toggle
                ):
                    self._pending += packet.encode()
                    self._toggle = not packet.toggle

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self._pending:
            self.clock.now += timeout
            return b""
        out = bytes(self._pending[:max_bytes])
        del self._pending[:max_bytes]
        return out

    def set_baudrate(self, baudrate: int) -> None:
        self.wire.append(("baud", baudrate))

    def flush_input(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        pass


def read_answer(data: bytes) -> bytes:
    return b"\x00" + len(data).to_bytes(2, "big") + data + bytes([table_checksum(data)])


def meter(
    *,
    grant: bytes = b"\x00\x00\x40\x02\x06",  # 64-byte packets, 2 of them, 9600
    password: bytes | None = None,
    tables: dict[int, bytes] | None = None,
    override: Callable[[bytes], bytes | list[bytes] | None] | None = None,
) -> Answer:
    """A well-behaved meter; ``override`` answers first when it returns bytes."""
    content = {1: ST1, 9: BIG} if tables is None else tables

    def answer(request: bytes) -> bytes | list[bytes] | None:
        if override is not None and (special := override(request)) is not None:
            return special
        service = request[0]
        if service == 0x20:
            return b"\x00\x00\x01\x00\x00"
        if 0x60 <= service <= 0x6B:
            return grant
        if service == 0x51:
            return b"\x00" if request[1:] == (password or b"").ljust(20, b" ") else b"\x01"
        if service in (0x30, 0x3F):
            table = int.from_bytes(request[1:3], "big")
            if table not in content:
                return b"\x04"
            data = content[table]
            if service == 0x3F:
                offset = int.from_bytes(request[3:6], "big")
                data = data[offset : offset + int.from_bytes(request[6:8], "big")]
            return read_answer(data)
        return b"\x00"  # logon, logoff, terminate, wait, writes

    return answer


def client_for(
    answer: Answer,
    *,
    session: SessionConfig | None = None,
    link: LinkConfig | None = None,
    on_frame: Callable[[str, bytes, float], None] | None = None,
) -> tuple[C1218Client, ScriptedMeter, FakeClock]:
    clock = FakeClock()
    peer = ScriptedMeter(answer, clock)
    client = C1218Client(
        peer,
        link or LinkConfig(),
        session or SessionConfig(),
        clock=clock,
        sleep=clock.sleep,
        on_frame=on_frame,
    )
    return client, peer, clock


def services_sent(peer: ScriptedMeter) -> list[int]:
    return [r[0] for r in peer.requests]


def writes(peer: ScriptedMeter) -> list[bytes]:
    return [d for kind, d in peer.wire if kind == "write" and isinstance(d, bytes)]


# --- happy path ---------------------------------------------------------------------------


def test_open_read_close_without_waiting_a_moment() -> None:
    client, peer, clock = client_for(meter())

    info = client.open()
    data = client.read_table(1)
    client.close()

    assert data == ST1
    assert (info.standard, info.version, info.revision) == (0, 1, 0)
    assert (info.packet_size, info.nbr_packets, info.baud) == (64, 2, 9600)
    assert info.max_read_size == 108
    assert services_sent(peer) == [0x20, 0x61, 0x50, 0x30, 0x52, 0x21]
    assert peer.requests[1] == b"\x61\x04\x00\x08\x06"  # asks for 1024 bytes, 8 packets
    assert clock.now == 0.0  # no fixed delays anywhere on the way
    assert clock.sleeps == []
    assert client.state is SessionState.BASE
    stats = client.stats
    assert stats.round_trips == 6
    assert stats.retransmissions == stats.naks_sent == stats.restarts == stats.busy_retries == 0
    assert stats.bytes_tx == sum(len(d) for d in writes(peer))
    assert stats.bytes_rx > len(ST1)


def test_every_answer_is_acknowledged_before_the_next_request() -> None:
    client, peer, _ = client_for(meter())
    client.open()
    # identify, ACK, negotiate, ACK, logon, ACK
    assert [w == bytes([ACK]) for w in writes(peer)] == [False, True] * 3


def test_big_tables_are_read_in_partial_reads_of_the_largest_size() -> None:
    client, peer, _ = client_for(meter())
    client.open()
    assert client.read_table(9, size=len(BIG)) == BIG
    partials = [r for r in peer.requests if r[0] == 0x3F]
    offsets = [int.from_bytes(r[3:6], "big") for r in partials]
    counts = [int.from_bytes(r[6:8], "big") for r in partials]
    assert offsets == [0, 108, 216, 324, 432]
    assert counts == [108, 108, 108, 108, 80]


@pytest.mark.parametrize("refusal", [b"\x02", b"\x05", b"\x01"])  # sns, iar, err
def test_a_meter_without_partial_reads_gets_one_full_read(refusal: bytes) -> None:
    # 0x3F refused: the table is asked for whole and the meter segments its answer.
    small = bytes(range(90))
    client, peer, _ = client_for(
        meter(tables={9: small}, override=lambda r: refusal if r[0] == 0x3F else None)
    )
    client.open()
    assert client.read_table(9, size=200) == small
    assert [r[0] for r in peer.requests if r[0] in (0x30, 0x3F)] == [0x3F, 0x30]


def test_multi_packet_answers_are_reassembled() -> None:
    client, peer, _ = client_for(
        meter(grant=b"\x00\x00\x40\x08\x06", tables={9: BIG[:300]})  # 64 bytes x 8
    )
    info = client.open()
    assert info.max_read_size == (64 - 8) * 8 - 4
    assert client.read_table(9, size=300) == BIG[:300]
    sent = writes(peer)
    after_read = b"".join(sent[next(i for i, w in enumerate(sent) if w[6:7] == b"\x30") + 1 :])
    assert after_read == bytes([ACK]) * 6  # 1 + 2 + 300 + 1 bytes in six 56-byte packets
    assert services_sent(peer)[-1] == 0x30  # one full read
    assert client.stats.naks_sent == 0


def test_context_manager_opens_and_closes() -> None:
    client, peer, _ = client_for(meter())
    with client as opened:
        assert opened.read_table(1) == ST1
    assert services_sent(peer)[-2:] == [0x52, 0x21]


def test_the_granted_speed_is_switched_to_after_the_ack_and_back_after_terminate() -> None:
    client, peer, _ = client_for(meter(grant=b"\x00\x01\x00\x04\x08"))  # 19200
    client.open()
    assert client.read_table(1) == ST1
    client.close()
    wire = peer.wire
    switch = wire.index(("baud", 19200))
    assert wire[switch - 1] == ("write", bytes([ACK]))  # the ACK of the Negotiate answer
    next_frame = wire[switch + 1][1]
    assert isinstance(next_frame, bytes)
    assert decode_packet(next_frame).data[0] == 0x50  # logon, at the new speed
    assert wire[-1] == ("baud", 9600)


# --- response-code policy -----------------------------------------------------------------


@pytest.mark.parametrize("answer", [b"\x02", b"\x01", b"\x05", b"\x04"])
def test_a_meter_that_declines_negotiate_is_read_with_the_defaults(answer: bytes) -> None:
    # Meters and emulators without Negotiate answer sns, err, iar or onp: 64-byte packets,
    # one packet, 9600 baud, and the read goes on.
    def override(request: bytes) -> bytes | None:
        return answer if 0x60 <= request[0] <= 0x6B else None

    client, peer, _ = client_for(meter(override=override))
    info = client.open()
    assert (info.packet_size, info.nbr_packets, info.baud) == (64, 1, 9600)
    assert client.read_table(1) == ST1
    assert [d for kind, d in peer.wire if kind == "baud"] in ([], [9600])  # never switched up


def test_busy_twice_then_ok_waits_with_back_off() -> None:
    busy = iter([b"\x06", b"\x07"])

    def override(request: bytes) -> bytes | None:
        return next(busy, None) if request[0] == 0x30 else None

    client, _, clock = client_for(meter(override=override))
    client.open()
    assert client.read_table(1) == ST1
    assert clock.sleeps == [0.25, 0.5]
    assert client.stats.busy_retries == 2


def test_a_meter_that_stays_busy_is_given_up_on() -> None:
    client, _, clock = client_for(meter(override=lambda r: b"\x06" if r[0] == 0x30 else None))
    client.open()
    with pytest.raises(MeterRefused, match="busy") as info:
        client.read_table(1)
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert info.value.table == 1


def test_isss_restarts_the_session_and_redoes_the_read() -> None:
    answers = iter([b"\x0a"])

    def override(request: bytes) -> bytes | None:
        return next(answers, None) if request[0] == 0x30 else None

    client, peer, _ = client_for(meter(override=override))
    client.open()
    assert client.read_table(1) == ST1
    assert services_sent(peer) == [0x20, 0x61, 0x50, 0x30, 0x21, 0x20, 0x61, 0x50, 0x30]
    assert client.stats.restarts == 1


def test_a_session_that_keeps_getting_lost_ends_in_session_lost() -> None:
    client, _, _ = client_for(meter(override=lambda r: b"\x09" if r[0] == 0x30 else None))
    client.open()
    with pytest.raises(SessionLost, match="rno"):
        client.read_table(1)
    assert client.stats.restarts == 2


def test_a_link_failure_after_a_speed_change_waits_out_the_traffic_timeout() -> None:
    client, peer, clock = client_for(meter(grant=b"\x00\x01\x00\x04\x08"))
    client.open()
    peer.deaf = 4  # the read and its three retransmissions go unheard
    assert client.read_table(1) == ST1
    assert clock.sleeps == [7.0]  # 6 s traffic timeout and a margin
    restart = peer.wire.index(("baud", 9600))
    identify = peer.wire[restart + 1][1]
    assert isinstance(identify, bytes)
    assert decode_packet(identify).data == b"\x20"  # the restart begins at 9600
    assert client.stats.retransmissions == 3


def test_isc_names_the_table_and_asks_for_a_better_password() -> None:
    client, _, _ = client_for(
        meter(override=lambda r: b"\x03" if r[:3] == b"\x30\x00\x34" else None)
    )
    client.open()
    with pytest.raises(SecurityDenied, match="ST52 needs a password with a higher access level"):
        client.read_table(52)


@pytest.mark.parametrize(("code", "label"), [(b"\x04", "onp"), (b"\x05", "iar"), (b"\x08", "dlk")])
def test_refusals_on_a_table_carry_code_service_and_table(code: bytes, label: str) -> None:
    client, _, _ = client_for(meter(override=lambda r: code if r[:3] == b"\x30\x00\x1c" else None))
    client.open()
    with pytest.raises(MeterRefused, match=label) as info:
        client.read_table(28)
    assert type(info.value) is MeterRefused
    assert (info.value.code, info.value.service, info.value.table) == (code[0], "read", 28)
    assert client.read_table(1) == ST1  # the session goes on: the item is just unavailable


# --- failures at the start ----------------------------------------------------------------


def test_a_silent_meter_gives_no_response_quickly_on_a_fake_clock() -> None:
    client, peer, clock = client_for(meter())
    peer.deaf = 1000
    with pytest.raises(NoResponse) as info:
        client.open()
    message = str(info.value)
    assert "socket://127.0.0.1:1" in message
    assert "probe is seated and powered" in message
    assert "\n" not in message
    assert clock.now == pytest.approx(8.0)  # 4 tries 2 s apart, then no restarts
    assert writes(peer) == [bytes.fromhex("ee0000000001201310")] * 4


def test_wrong_password_is_security_denied_and_the_session_is_ended() -> None:
    client, peer, _ = client_for(
        meter(password=b"the-right-one"), session=SessionConfig(password=PASSWORD)
    )
    with pytest.raises(SecurityDenied, match="rejected the password") as info:
        client.open()
    assert PASSWORD.decode() not in str(info.value)
    assert services_sent(peer) == [0x20, 0x61, 0x50, 0x51, 0x52, 0x21]
    assert client.state is SessionState.BASE


def test_the_password_never_reaches_frame_records_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    records: list[tuple[str, bytes, float]] = []
    client, peer, _ = client_for(
        meter(password=PASSWORD),
        session=SessionConfig(password=PASSWORD),
        on_frame=lambda d, raw, at: records.append((d, raw, at)),
    )
    with caplog.at_level(logging.DEBUG, logger="fieldkit.drivers.c1218"):
        client.open()
        client.read_table(1)
        client.close()

    assert peer.requests[3] == b"\x51" + PADDED  # the meter did get the password
    security = [raw for d, raw, _ in records if d == "tx" and raw[6] == 0x51]
    assert len(security) == 1
    assert decode_packet(security[0]).data == b"\x51" + b"*" * 20
    everything = b"".join(raw for _, raw, _ in records)
    assert PASSWORD not in everything
    text = caplog.text
    assert "password redacted" in text
    assert PASSWORD.decode() not in text
    assert PASSWORD.hex() not in text.replace(" ", "")
    assert "S3cret" not in repr(SessionConfig(password=PASSWORD))


def test_retransmitted_security_frames_are_redacted_too() -> None:
    records: list[tuple[str, bytes, float]] = []
    client, peer, _ = client_for(
        meter(password=PASSWORD),
        session=SessionConfig(password=PASSWORD),
        on_frame=lambda d, raw, at: records.append((d, raw, at)),
    )
    peer.ignore_once.add(0x51)
    client.open()
    security = [(raw, at) for d, raw, at in records if d == "tx" and raw[6] == 0x51]
    assert [at for _, at in security] == [0.0, 2.0]  # sent, then again after the ACK timeout
    assert all(PASSWORD not in raw and b"*" * 20 in raw for raw, _ in security)
    assert client.stats.retransmissions == 1


def test_close_never_raises_even_when_the_meter_is_gone() -> None:
    client, peer, _ = client_for(meter())
    client.open()
    peer.deaf = 1000
    client.close()
    assert client.state is SessionState.BASE


def test_reading_before_open_is_refused() -> None:
    client, peer, _ = client_for(meter())
    with pytest.raises(SessionStateError, match="not possible while the session is base"):
        client.read_table(1)
    assert peer.requests == []


def test_a_stale_answer_after_identify_is_skipped() -> None:
    identify_ok = b"\x00\x00\x01\x00\x00"
    client, _, clock = client_for(
        meter(override=lambda r: [b"\x00", identify_ok] if r[0] == 0x20 else None)
    )
    info = client.open()
    assert info.version == 1
    assert clock.now == 0.0


def test_a_stale_answer_alone_runs_into_the_traffic_timeout() -> None:
    client, _, clock = client_for(meter(override=lambda r: [b"\x00"] if r[0] == 0x20 else None))
    with pytest.raises(SessionLost, match="no answer within 6 s"):
        client.open()
    assert clock.now == pytest.approx(18.0)  # three tries, 6 s each


def test_writes_are_full_when_they_fit_and_partial_otherwise() -> None:
    client, peer, _ = client_for(meter())
    client.open()
    client.write_table(6, b"ABCD")
    assert peer.requests[-1] == bytes.fromhex("400006000441424344f6")
    client.write_table(2048 + 7, bytes(200))  # more than the 105 bytes a full write carries
    partials = [r for r in peer.requests if r[0] == 0x4F]
    assert [int.from_bytes(r[3:6], "big") for r in partials] == [0, 103]
    assert [int.from_bytes(r[6:8], "big") for r in partials] == [103, 97]
    assert all(r[1:3] == (2048 + 7).to_bytes(2, "big") for r in partials)


def test_keep_alive_asks_for_the_traffic_timeout() -> None:
    client, peer, _ = client_for(meter())
    client.open()
    client.keep_alive()
    assert peer.requests[-1] == b"\x70\x06"


# --- cancel during the client's own waits ---------------------------------------------------


class CancelAt:
    """A cancel hook that fires once the fake clock reaches ``at`` (the technician's key)."""

    def __init__(self, clock: FakeClock, at: float) -> None:
        self.clock = clock
        self.at = at
        self.raised_at: float | None = None

    def __call__(self) -> None:
        if self.clock.now >= self.at:
            self.raised_at = self.clock.now
            raise ReadCancelled("the read was cancelled")


def cancellable(
    answer: Answer, at: float
) -> tuple[C1218Client, ScriptedMeter, FakeClock, CancelAt]:
    clock = FakeClock()
    peer = ScriptedMeter(answer, clock)
    cancel = CancelAt(clock, at)
    client = C1218Client(
        peer,
        LinkConfig(),
        SessionConfig(),
        clock=clock,
        sleep=clock.sleep,
        cancel=cancel,
    )
    return client, peer, clock, cancel


def test_cancel_during_a_busy_back_off_ends_within_half_a_second() -> None:
    # The meter stays busy: the back-off grows to 2 s a wait. A cancel at 2.0 s lands in the
    # 1 s wait that starts at 0.75 s; it must not wait out that, nor the 2 s that follow.
    client, _, _, cancel = cancellable(
        meter(override=lambda r: b"\x06" if r[0] == 0x30 else None), at=2.0
    )
    client.open()
    with pytest.raises(ReadCancelled):
        client.read_table(1)
    assert cancel.raised_at is not None
    assert cancel.raised_at - cancel.at <= 0.5


def test_cancel_during_the_traffic_timeout_wait_ends_within_half_a_second() -> None:
    # After a speed change a silent meter is given its 6 s traffic timeout (+1 s) before the
    # restart at 9600; the technician's cancel must not sit through the 7 s.
    client, peer, clock, cancel = cancellable(meter(grant=b"\x00\x01\x00\x04\x08"), at=1e9)
    client.open()
    peer.deaf = 4  # the read and its three retransmissions go unheard (8 s)
    cancel.at = clock.now + 9.0  # one second into the 7 s wait
    with pytest.raises(ReadCancelled):
        client.read_table(1)
    assert cancel.raised_at is not None
    assert cancel.raised_at - cancel.at <= 0.5
