"""The meter-side link layer on its own: packets, ACK/NAK, reassembly, retries."""

from __future__ import annotations

from fieldkit.drivers.c1218.packet import ACK, NAK, Packet, decode_packet
from simulators.c1218.link import (
    MessageAbandoned,
    MessageDelivered,
    MessageReceived,
    MeterLink,
)

T0 = 1000.0


def test_good_packet_is_acked_and_reported() -> None:
    link = MeterLink()
    events = link.receive(Packet(b"\x20").encode(), T0)
    assert events == [MessageReceived(b"\x20", 1)]
    assert link.data_to_send() == bytes((ACK,))


def test_junk_between_packets_is_ignored() -> None:
    link = MeterLink()
    events = link.receive(b"\x55\x00" + Packet(b"\x20").encode(), T0)
    assert events == [MessageReceived(b"\x20", 1)]
    assert link.data_to_send() == bytes((ACK,))


def test_packet_split_over_reads_is_fine_within_500_ms() -> None:
    link = MeterLink()
    raw = Packet(b"\x30\x00\x01").encode()
    assert link.receive(raw[:4], T0) == []
    assert link.receive(raw[4:], T0 + 0.45) == [MessageReceived(b"\x30\x00\x01", 1)]


def test_gap_of_500_ms_inside_a_packet_is_naked() -> None:
    link = MeterLink()
    raw = Packet(b"\x30\x00\x01").encode()
    link.receive(raw[:4], T0)
    # The rest arrives too late: the partial frame was dropped with a NAK first.
    assert link.receive(raw[4:], T0 + 0.6) == []
    assert link.data_to_send()[:1] == bytes((NAK,))


def test_multi_packet_request_with_a_gap_is_discarded() -> None:
    link = MeterLink()
    link.receive(Packet(b"a", multi=True, first=True, sequence=2).encode(), T0)
    events = link.receive(Packet(b"c", toggle=True, multi=True, sequence=0).encode(), T0)
    assert events == []  # packet with seq 1 never came
    assert link.data_to_send() == bytes((ACK, ACK))


def test_multi_packet_request_reassembled_in_order() -> None:
    link = MeterLink()
    link.receive(Packet(b"ab", multi=True, first=True, sequence=2).encode(), T0)
    link.receive(Packet(b"cd", toggle=True, multi=True, sequence=1).encode(), T0)
    events = link.receive(Packet(b"ef", multi=True, sequence=0).encode(), T0)
    assert events == [MessageReceived(b"abcdef", 3)]


def test_outgoing_message_split_with_flipping_toggles() -> None:
    link = MeterLink()
    link.packet_size, link.max_packets = 16, 3
    link.send_message(bytes(20), T0)  # 8 data bytes per packet: 3 packets
    packets = []
    for _ in range(3):
        packets.append(decode_packet(link.data_to_send()))
        events = link.receive(bytes((ACK,)), T0)
    assert events == [MessageDelivered()]
    assert [(p.first, p.sequence, p.toggle) for p in packets] == [
        (True, 2, False),
        (False, 1, True),
        (False, 0, False),
    ]
    # The next message is a new packet: its toggle flips again.
    link.send_message(b"\x00", T0)
    assert decode_packet(link.data_to_send()).toggle is True


def test_new_packet_instead_of_ack_abandons_the_response() -> None:
    link = MeterLink()
    link.send_message(b"\x00", T0)
    link.data_to_send()
    events = link.receive(Packet(b"\x21", toggle=True).encode(), T0)
    assert events == [
        MessageAbandoned("the client sent a new packet instead of ACK"),
        MessageReceived(b"\x21", 1),
    ]
    assert not link.sending


def test_stray_ack_and_nak_are_ignored() -> None:
    link = MeterLink()
    assert link.receive(bytes((ACK, NAK)), T0) == []
    assert link.data_to_send() == b""


def test_retries_give_up_after_three() -> None:
    link = MeterLink()
    link.send_message(b"\x00", T0)
    original = link.data_to_send()
    for n in range(3):
        assert link.receive(bytes((NAK,)), T0 + n) == []
        assert link.data_to_send() == original
    events = link.receive(bytes((NAK,)), T0 + 4)
    assert events == [MessageAbandoned("no ACK after 3 retransmissions")]
    assert link.data_to_send() == b""
    assert link.next_deadline() is None


def test_same_toggle_but_different_crc_is_a_new_packet() -> None:
    link = MeterLink()
    link.receive(Packet(b"\x20").encode(), T0)
    events = link.receive(Packet(b"\x21").encode(), T0)
    assert events == [MessageReceived(b"\x21", 1)]
    assert link.counters.duplicates == 0
