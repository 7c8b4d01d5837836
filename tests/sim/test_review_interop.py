"""Interoperability review over real sockets: the simulated meter against clients written
outside this project (termineter) and against a small client written here from
c12-protocols.md §1 alone, which can behave like other implementations do: never flip the
toggle bit and send a lone ACK before every request (esp-idf-ansic1218), use a non-zero
identity byte, or never ACK an answer and just send the next request.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from fieldkit.drivers.c1218 import tables as t
from simulators.c1218.options import SimOptions
from tests.helpers import scenario_data

pytestmark = pytest.mark.sim

termineter = pytest.importorskip("c1218.connection", reason="termineter is a dev dependency")


# --- a small independent client ----------------------------------------------------------------


def crc_x25(data: bytes) -> int:
    reg = 0xFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0x8408 if reg & 1 else reg >> 1
    return reg ^ 0xFFFF


class RawClient:
    """Frames requests by hand and reads answers off a socket to 127.0.0.1."""

    def __init__(
        self,
        port: int,
        *,
        identity: int = 0,
        flip_toggle: bool = True,
        ack_answers: bool = True,
        lone_ack_first: bool = False,
    ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.identity = identity
        self.flip_toggle = flip_toggle
        self.ack_answers = ack_answers
        self.lone_ack_first = lone_ack_first
        self.toggle = 0
        self.buf = bytearray()
        self.identities: list[int] = []

    def close(self) -> None:
        self.sock.close()

    def _byte(self) -> int:
        while not self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the simulator closed the connection")
            self.buf += chunk
        return self.buf.pop(0)

    def _bytes(self, count: int) -> bytes:
        return bytes(self._byte() for _ in range(count))

    def request(self, data: bytes) -> bytes:
        """Send one request; return the answer's application bytes (all packets)."""
        body = bytes((0xEE, self.identity, self.toggle << 5, 0)) + len(data).to_bytes(2, "big")
        body += data
        if self.flip_toggle:
            self.toggle ^= 1
        prefix = b"\x06" if self.lone_ack_first else b""
        self.sock.sendall(prefix + body + crc_x25(body).to_bytes(2, "little"))
        assert self._byte() == 0x06, "the meter did not ACK the request"
        answer = b""
        while True:
            while (start := self._byte()) != 0xEE:
                assert start == 0x06, f"unexpected byte 0x{start:02X} between frames"
            head = bytes((start,)) + self._bytes(5)
            raw = head + self._bytes(int.from_bytes(head[4:6], "big") + 2)
            assert crc_x25(raw[:-2]) == int.from_bytes(raw[-2:], "little")
            self.identities.append(raw[1])
            answer += raw[6:-2]
            if self.ack_answers:
                self.sock.sendall(b"\x06")
            if raw[3] == 0:
                return answer


def read_ok(answer: bytes) -> bytes:
    assert answer[0] == 0x00, f"response code 0x{answer[0]:02X}"
    count = int.from_bytes(answer[1:3], "big")
    assert len(answer) == count + 4
    assert (sum(answer[3:]) & 0xFF) == 0  # data plus its two's-complement checksum
    return answer[3:-1]


IDENTIFY = b"\x20"
NEGOTIATE_256X4_9600 = b"\x61\x01\x00\x04\x06"
LOGON = b"\x50\x00\x07" + b"ESP32".ljust(10)
LOGOFF, TERMINATE = b"\x52", b"\x21"


def read_full(table: int) -> bytes:
    return b"\x30" + table.to_bytes(2, "big")


def st1_of(name: str) -> tuple[str, str]:
    meter = scenario_data(name)["meter"]
    return meter["manufacturer"], meter["serial"]


# --- clients that do things differently --------------------------------------------------------


def test_a_client_that_never_flips_its_toggle_and_uses_identity_5(sim: Any) -> None:
    # esp-idf-ansic1218: identity 0x05, ctrl 0 on every packet, a lone ACK before each
    # request. A read asked again after bsy is byte for byte the same packet.
    simulator = sim("healthy-2s", SimOptions(busy=1))
    client = RawClient(simulator.port, identity=5, flip_toggle=False, lone_ack_first=True)
    try:
        assert client.request(IDENTIFY)[:3] == b"\x00\x00\x01"
        assert client.request(NEGOTIATE_256X4_9600)[0] == 0x00
        assert client.request(LOGON) == b"\x00"
        assert client.request(read_full(1)) == b"\x06"  # bsy
        manufacturer, serial = st1_of("healthy-2s")
        for _ in range(2):  # the retry after bsy, then the same read once more
            st1 = read_ok(client.request(read_full(1)))
            assert st1[:4].decode() == manufacturer
            assert st1[16:].decode().rstrip() == serial
        assert client.request(TERMINATE) == b"\x00"
    finally:
        client.close()
    assert set(client.identities) == {5}
    assert simulator.stats.duplicates == 0


def test_a_client_that_never_acks_answers_is_served_through_two_sessions(sim: Any) -> None:
    simulator = sim("healthy-2s")
    client = RawClient(simulator.port, ack_answers=False)
    try:
        for _ in range(2):  # Terminate, then a new session on the same line
            assert client.request(IDENTIFY)[0] == 0x00
            assert client.request(NEGOTIATE_256X4_9600)[0] == 0x00
            assert client.request(LOGON) == b"\x00"
            assert len(read_ok(client.request(read_full(1)))) == 32
            assert len(read_ok(client.request(read_full(5)))) == 20
            assert client.request(LOGOFF) == b"\x00"
            assert client.request(TERMINATE) == b"\x00"
            client.toggle = 0  # a new session starts with toggle 0
    finally:
        client.close()
    assert simulator.stats.naks_sent == 0


# --- termineter, in ways tests/interop does not use yet ------------------------------------------


def _termineter(url: str, **kwargs: Any) -> Any:
    conn = termineter.Connection(url, enable_cache=False, **kwargs)
    conn.serial_h.timeout = 3  # termineter would otherwise block forever on a silent peer
    return conn


def test_termineter_reads_logs_whole_and_in_pieces_at_odd_offsets(sim: Any) -> None:
    from c1218.errors import C1218ReadTableError

    simulator = sim("healthy-16s")
    events = scenario_data("healthy-16s").get("event", [])
    conn = _termineter(simulator.url)
    try:
        assert conn.start() is True  # asks 512 B x 2; the meter grants 256 B x 2
        assert conn.login(username="TERMINTR", userid=1) is True
        st0 = t.decode_st0(bytes(conn.get_table_data(0)))
        st71 = t.decode_st71(bytes(conn.get_table_data(71)), st0)
        # ST74 (267 bytes) comes whole in a two-packet answer ...
        st74 = bytes(conn.get_table_data(74))
        pieces = [(0, 5), (5, 100), (105, 161), (266, 1)]
        assert b"".join(bytes(conn.get_table_data(74, n, off)) for off, n in pieces) == st74
        history = t.decode_st74(st74, st0, st71)
        in_history = [e for e in events if e.get("log") == "history"]
        assert history.header.overflow is (len(in_history) > st71.nbr_history_entries)
        valid = min(len(in_history), st71.nbr_history_entries)
        assert history.header.nbr_valid_entries == valid
        # ... ST76 (523 bytes) does not fit the grant: onp, then partial reads.
        with pytest.raises(C1218ReadTableError) as refused:
            conn.get_table_data(76)
        assert refused.value.code == 0x04
        pieces = [(0, 7), (7, 300), (307, 216)]
        st76 = b"".join(bytes(conn.get_table_data(76, n, off)) for off, n in pieces)
        log = t.decode_st76(st76, st0, st71)
        in_events = [e for e in events if e.get("log", "event") == "event"]
        valid = min(len(in_events), st71.nbr_event_entries)
        assert log.header.nbr_valid_entries == valid
        assert conn.stop() is True
    finally:
        conn.close()
    assert simulator.stats.naks_sent == 0


def test_termineter_logoff_logon_wait_terminate_and_back_to_back_sessions(sim: Any) -> None:
    from c1218.data import C1218TerminateRequest, C1218WaitRequest

    simulator = sim("secured-2s")
    password = scenario_data("secured-2s")["security"]["passwords"][0]["text"]
    conn = _termineter(simulator.url)
    try:
        assert conn.start() is True
        assert conn.login(username="TERMINTR", userid=1, password=password) is True
        assert len(conn.get_table_data(3)) == 5
        assert conn.logoff() is True
        # After Logoff the meter is identified but logged off: Logon again, then Wait.
        assert conn.login(username="TERMINTR", userid=1) is True
        conn.send(C1218WaitRequest(10))
        assert conn.recv() == b"\x00"
        assert len(conn.get_table_data(1)) == 32
        # termineter's stop() sends nothing after logoff(): Terminate with its own encoder.
        conn.send(C1218TerminateRequest())
        assert conn.recv() == b"\x00"
        for _ in range(2):  # two more sessions on the same line, each ended by stop()
            assert conn.start() is True
            assert conn.login(username="TERMINTR", userid=1, password=password) is True
            assert len(conn.get_table_data(3)) == 5
            assert conn.stop() is True
    finally:
        conn.close()
    stats = simulator.stats
    assert stats.naks_sent == stats.duplicates == 0


def test_termineter_without_toggle_control_reads_a_table_twice(sim: Any) -> None:
    # termineter's toggle_control=False sends every frame with toggle 0, like esp-idf.
    simulator = sim("healthy-2s")
    conn = _termineter(simulator.url, toggle_control=False)
    try:
        assert conn.start() is True
        assert conn.login(username="TERMINTR", userid=1) is True
        first = bytes(conn.get_table_data(1))
        assert len(first) == 32
        assert bytes(conn.get_table_data(1)) == first  # not dropped as a duplicate
    finally:
        conn.close()
