"""The sans-I/O C12.18 link layer, driven with explicit bytes and explicit times."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.drivers.c1218.link import (
    LinkConfig,
    LinkConnection,
    LinkEvent,
    LinkFailed,
    MessageBroken,
    MessageReceived,
    MessageSent,
    NeedData,
)
from fieldkit.drivers.c1218.packet import Packet, split_message, table_checksum
from fieldkit.drivers.errors import LinkError

ACK = b"\x06"
NAK = b"\x15"
# Frames from tests/vectors/c1218_frames.json (made outside this project).
IDENTIFY = bytes.fromhex("ee0000000001201310")
IDENTIFY_TOGGLED = bytes.fromhex("ee0020000001208270")
LOGOFF = bytes.fromhex("ee0000000001528640")
READ_ST0 = bytes.fromhex("ee0000000003300000dc1c")
IDENTIFY_OK = bytes.fromhex("ee00000000050000010000c6b5")
IDENTIFY_OK_DATA = bytes.fromhex("0000010000")
LOGON_OK = bytes.fromhex("ee0000000001001131")
NEGOTIATE_OK_TOGGLED = bytes.fromhex("ee00200000050000400206d348")


def drain(link: LinkConnection) -> list[LinkEvent]:
    events: list[LinkEvent] = []
    while not isinstance(event := link.next_event(), NeedData):
        events.append(event)
    return events


def sent_identify(config: LinkConfig | None = None, **kwargs: Any) -> LinkConnection:
    link = LinkConnection(config or LinkConfig(), **kwargs)
    link.send_message(b"\x20", 64, 0.0)
    assert link.data_to_send() == IDENTIFY
    return link


def multi_vector(vectors: dict[str, Any]) -> list[bytes]:
    vec = next(v for v in vectors["responses"] if "frames" in v)
    return [bytes.fromhex(f) for f in vec["frames"]]


def hundred_byte_read_answer() -> bytes:
    table = bytes(range(100))
    return b"\x00" + len(table).to_bytes(2, "big") + table + bytes([table_checksum(table)])


# --- sending, ACK, NAK, toggle ------------------------------------------------------------


def test_meter_ack_and_answer_in_one_read_give_both_events_and_our_ack() -> None:
    link = sent_identify()
    assert link.next_deadline() == 2.0

    link.receive_data(ACK + IDENTIFY_OK, 0.1)

    assert drain(link) == [MessageSent(), MessageReceived(IDENTIFY_OK_DATA)]
    assert link.data_to_send() == ACK
    assert link.next_deadline() is None


def test_nak_retransmits_the_identical_packet_and_new_packets_flip_the_toggle() -> None:
    link = sent_identify()

    link.receive_data(NAK, 0.1)
    assert link.data_to_send() == IDENTIFY  # same toggle bit: a retransmission
    assert link.retransmissions == 1

    link.receive_data(ACK + IDENTIFY_OK, 0.2)
    assert drain(link) == [MessageSent(), MessageReceived(IDENTIFY_OK_DATA)]
    link.data_to_send()

    link.send_message(b"\x20", 64, 0.3)
    assert link.data_to_send() == IDENTIFY_TOGGLED
    link.receive_data(ACK + NEGOTIATE_OK_TOGGLED, 0.4)
    drain(link)
    link.data_to_send()

    link.send_message(b"\x52", 64, 0.5)
    assert link.data_to_send() == LOGOFF  # toggle back to 0


def test_no_ack_retransmits_every_response_timeout_then_fails_after_three_retries() -> None:
    link = sent_identify()

    link.handle_timeout(1.99)
    assert link.data_to_send() == b""
    for k in (1, 2, 3):
        assert link.next_deadline() == pytest.approx(2.0 * k)
        link.handle_timeout(2.0 * k)
        assert link.data_to_send() == IDENTIFY
        assert drain(link) == []

    link.handle_timeout(8.0)

    events = drain(link)
    assert len(events) == 1
    assert type(events[0]) is LinkFailed
    assert "3 retries" in events[0].reason
    assert link.retransmissions == 3
    assert link.data_to_send() == b""
    assert link.next_deadline() is None


def test_four_naks_in_a_row_fail_the_link() -> None:
    link = sent_identify()
    for t in (0.1, 0.2, 0.3):
        link.receive_data(NAK, t)
        assert link.data_to_send() == IDENTIFY
    link.receive_data(NAK, 0.4)
    assert [type(e) for e in drain(link)] == [LinkFailed]


def test_retries_are_configurable() -> None:
    link = sent_identify(LinkConfig(retries=1))
    link.receive_data(NAK, 0.1)
    assert link.data_to_send() == IDENTIFY
    link.receive_data(NAK, 0.2)
    assert [type(e) for e in drain(link)] == [LinkFailed]


def test_an_answer_instead_of_the_ack_counts_as_the_ack() -> None:
    link = sent_identify()
    link.receive_data(IDENTIFY_OK, 0.3)
    assert drain(link) == [MessageSent(), MessageReceived(IDENTIFY_OK_DATA)]
    assert link.data_to_send() == ACK


def test_the_echo_of_our_own_packet_is_ignored() -> None:
    link = sent_identify()
    link.receive_data(IDENTIFY, 0.01)
    assert drain(link) == []
    assert link.data_to_send() == b""  # neither ACKed nor NAKed
    link.receive_data(ACK, 0.05)
    assert drain(link) == [MessageSent()]


def test_no_answer_after_the_ack_fails_at_the_traffic_timeout() -> None:
    link = sent_identify()
    link.receive_data(ACK, 0.5)
    assert drain(link) == [MessageSent()]
    assert link.next_deadline() == pytest.approx(6.5)
    link.handle_timeout(6.4)
    assert drain(link) == []
    link.handle_timeout(6.5)
    assert [type(e) for e in drain(link)] == [LinkFailed]


def test_a_second_message_before_the_first_is_acknowledged_is_refused() -> None:
    link = sent_identify()
    with pytest.raises(LinkError):
        link.send_message(b"\x21", 64, 0.1)


def test_a_long_message_goes_one_packet_at_a_time_each_new_packet_flipping_the_toggle(
    c1218_vectors: dict[str, Any],
) -> None:
    # The independent emulator's two-packet message, sent by our link, byte for byte.
    expected = multi_vector(c1218_vectors)
    link = LinkConnection()
    link.send_message(hundred_byte_read_answer(), 64, 0.0)
    assert link.data_to_send() == expected[0]

    link.receive_data(NAK, 0.1)
    assert link.data_to_send() == expected[0]
    link.receive_data(ACK, 0.2)
    assert link.data_to_send() == expected[1]
    assert drain(link) == []
    link.receive_data(ACK, 0.3)
    assert drain(link) == [MessageSent()]

    # The last packet carried toggle 1, so the next new packet flips back to 0.
    link.send_message(b"\x20", 64, 0.4)
    assert link.data_to_send() == IDENTIFY


def test_the_ack_timer_waits_for_a_frame_that_is_arriving() -> None:
    link = sent_identify()
    link.receive_data(IDENTIFY_OK[:4], 1.9)
    link.handle_timeout(2.1)
    assert link.data_to_send() == b""  # no retransmission in the middle of the answer
    assert link.next_deadline() == pytest.approx(2.4)
    link.receive_data(IDENTIFY_OK[4:], 2.2)
    assert drain(link) == [MessageSent(), MessageReceived(IDENTIFY_OK_DATA)]


def test_reset_puts_the_toggle_back_to_zero() -> None:
    link = sent_identify()
    link.receive_data(ACK + IDENTIFY_OK, 0.1)
    drain(link)
    link.reset()
    assert link.data_to_send() == b""
    link.send_message(b"\x20", 64, 1.0)
    assert link.data_to_send() == IDENTIFY


def test_send_without_time_starts_the_ack_timer_at_the_next_time_given() -> None:
    link = LinkConnection()
    link.send_message(b"\x20", 64)
    assert link.data_to_send() == IDENTIFY
    link.handle_timeout(10.0)
    assert link.next_deadline() == pytest.approx(12.0)


# --- receiving ----------------------------------------------------------------------------


def test_bad_crc_is_naked_and_the_retransmission_accepted() -> None:
    link = sent_identify()
    link.receive_data(ACK, 0.05)
    drain(link)
    corrupt = bytearray(IDENTIFY_OK)
    corrupt[8] ^= 0x01
    link.receive_data(bytes(corrupt), 0.1)
    assert link.data_to_send() == NAK
    assert drain(link) == []
    assert link.naks_sent == 1
    link.receive_data(IDENTIFY_OK, 0.2)
    assert drain(link) == [MessageReceived(IDENTIFY_OK_DATA)]
    assert link.data_to_send() == ACK


def test_a_frame_cut_short_is_naked_at_the_inter_character_timeout() -> None:
    link = sent_identify()
    link.receive_data(ACK, 0.05)
    drain(link)
    link.receive_data(IDENTIFY_OK[:7], 1.0)
    assert link.next_deadline() == pytest.approx(1.5)
    link.handle_timeout(1.49)
    assert link.data_to_send() == b""
    link.handle_timeout(1.5)
    assert link.data_to_send() == NAK
    link.receive_data(IDENTIFY_OK, 1.7)  # the meter sends the whole packet again
    assert drain(link) == [MessageReceived(IDENTIFY_OK_DATA)]


def test_a_duplicate_is_acknowledged_again_and_dropped() -> None:
    link = sent_identify()
    link.receive_data(ACK + IDENTIFY_OK, 0.1)
    assert drain(link) == [MessageSent(), MessageReceived(IDENTIFY_OK_DATA)]
    assert link.data_to_send() == ACK

    link.receive_data(IDENTIFY_OK, 2.1)  # our ACK was lost: the meter sends it again

    assert link.data_to_send() == ACK
    assert drain(link) == []


def test_a_duplicate_while_the_next_request_waits_for_its_ack_is_not_taken_as_the_ack() -> None:
    link = sent_identify()
    link.receive_data(ACK + IDENTIFY_OK, 0.1)
    drain(link)
    link.data_to_send()
    link.send_message(b"\x52", 64, 0.2)
    link.data_to_send()
    link.receive_data(IDENTIFY_OK, 0.3)
    assert link.data_to_send() == ACK
    assert drain(link) == []
    link.receive_data(ACK, 0.4)
    assert drain(link) == [MessageSent()]


def test_same_toggle_with_different_content_is_accepted() -> None:
    link = sent_identify()
    link.receive_data(ACK + IDENTIFY_OK, 0.1)
    drain(link)
    link.data_to_send()
    link.send_message(b"\x50" + bytes(12), 64, 0.2)
    link.data_to_send()
    link.receive_data(ACK + LOGON_OK, 0.3)  # toggle 0 again: a meter that does not flip it
    assert drain(link) == [MessageSent(), MessageReceived(b"\x00")]
    assert link.data_to_send() == ACK


def test_duplicate_detection_can_be_switched_off() -> None:
    link = sent_identify(LinkConfig(duplicate_detection=False))
    link.receive_data(ACK + IDENTIFY_OK, 0.1)
    link.receive_data(IDENTIFY_OK, 0.2)
    assert drain(link) == [
        MessageSent(),
        MessageReceived(IDENTIFY_OK_DATA),
        MessageReceived(IDENTIFY_OK_DATA),
    ]
    assert link.data_to_send() == ACK + ACK


def test_the_two_packet_vector_is_reassembled(c1218_vectors: dict[str, Any]) -> None:
    first, second = multi_vector(c1218_vectors)
    link = LinkConnection()
    link.send_message(b"\x30\x00\x00", 64, 0.0)
    assert link.data_to_send() == READ_ST0

    link.receive_data(ACK + first, 0.1)
    assert drain(link) == [MessageSent()]
    assert link.data_to_send() == ACK
    assert link.next_deadline() == pytest.approx(6.1)  # waiting for the next packet

    link.receive_data(second, 0.2)
    assert drain(link) == [MessageReceived(hundred_byte_read_answer())]
    assert link.data_to_send() == ACK


def test_reassembly_works_byte_by_byte(c1218_vectors: dict[str, Any]) -> None:
    stream = ACK + b"".join(multi_vector(c1218_vectors))
    link = LinkConnection()
    link.send_message(b"\x30\x00\x00", 64, 0.0)
    link.data_to_send()
    for n, byte in enumerate(stream):
        link.receive_data(bytes([byte]), 0.001 * n)
    assert drain(link) == [MessageSent(), MessageReceived(hundred_byte_read_answer())]
    assert link.data_to_send() == ACK + ACK


def test_a_sequence_gap_discards_the_message_and_asks_for_the_request_again() -> None:
    link = sent_identify()
    link.receive_data(ACK, 0.05)
    drain(link)
    first = Packet(b"\x00\x00\x09abc", multi=True, first=True, sequence=2).encode()
    last = Packet(b"xyz", toggle=True, multi=True, sequence=0).encode()  # seq 1 went missing

    link.receive_data(first + last, 0.1)

    events = drain(link)
    assert len(events) == 1
    assert isinstance(events[0], MessageBroken)
    assert "sequence" in events[0].reason
    assert link.data_to_send() == ACK + ACK  # both frames were good on the wire
    assert link.next_deadline() is None

    link.send_message(b"\x20", 64, 0.2)  # the request again
    link.data_to_send()
    link.receive_data(ACK + IDENTIFY_OK, 0.3)
    assert drain(link) == [MessageSent(), MessageReceived(IDENTIFY_OK_DATA)]


def test_a_continuation_without_its_first_packet_is_a_broken_message() -> None:
    link = sent_identify()
    link.receive_data(ACK, 0.05)
    drain(link)
    orphan = Packet(b"tail", multi=True, sequence=0).encode()
    link.receive_data(orphan, 0.1)
    assert [type(e) for e in drain(link)] == [MessageBroken]


def test_the_tail_of_an_old_answer_is_not_taken_as_the_ack_of_a_new_request() -> None:
    link = sent_identify()
    tail = Packet(b"old tail", toggle=True, multi=True, sequence=0).encode()
    link.receive_data(tail, 0.1)
    assert link.data_to_send() == ACK  # acknowledged so the meter moves on
    assert drain(link) == []
    assert link.next_deadline() == pytest.approx(2.0)  # still waiting for our ACK


def test_every_packet_on_the_wire_is_reported() -> None:
    seen: list[tuple[str, bytes]] = []
    link = sent_identify(on_frame=lambda d, raw: seen.append((d, raw)))
    link.receive_data(NAK, 0.1)
    link.receive_data(ACK + IDENTIFY_OK, 0.2)
    assert seen == [("tx", IDENTIFY), ("tx", IDENTIFY), ("rx", IDENTIFY_OK)]


def test_line_noise_before_a_frame_is_skipped() -> None:
    link = sent_identify()
    link.receive_data(b"\x00\xff" + ACK + b"\x42" + IDENTIFY_OK, 0.1)
    assert drain(link) == [MessageSent(), MessageReceived(IDENTIFY_OK_DATA)]


def test_segmenting_matches_the_codec_for_every_size() -> None:
    data = bytes(range(256)) * 3
    link = LinkConnection()
    link.send_message(data, 100, 0.0)
    sent = [link.data_to_send()]
    while not drain(link):
        link.receive_data(ACK, 0.1)
        sent.append(link.data_to_send())
    expected = [p.encode() for p in split_message(data, packet_size=100, toggle=False)]
    assert [s for s in sent if s] == expected


# --- properties ---------------------------------------------------------------------------


@given(
    data=st.binary(max_size=2000),
    packet_size=st.integers(9, 300),
    cuts=st.lists(st.integers(0, 5000), max_size=20),
)
def test_any_message_in_any_packet_size_and_chunking_is_reassembled(
    data: bytes, packet_size: int, cuts: list[int]
) -> None:
    packets = split_message(data, packet_size=packet_size, toggle=True)
    stream = b"".join(p.encode() for p in packets)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    link = LinkConnection()
    for n, (start, end) in enumerate(itertools.pairwise(bounds)):
        link.receive_data(stream[start:end], 0.001 * n)
    assert drain(link) == [MessageReceived(data)]
    assert link.data_to_send() == ACK * len(packets)


@given(st.lists(st.tuples(st.binary(max_size=80), st.floats(0, 3)), max_size=30))
def test_arbitrary_bytes_and_pauses_never_crash_the_link(chunks: list[tuple[bytes, float]]) -> None:
    link = LinkConnection()
    link.send_message(b"\x30\x00\x01", 64, 0.0)
    now = 0.0
    for chunk, pause in chunks:
        now += pause
        link.receive_data(chunk, now)
        link.handle_timeout(now)
        link.data_to_send()
    assert all(isinstance(e, MessageReceived | MessageSent | LinkFailed) for e in drain(link))


def test_an_answer_longer_than_the_negotiated_packet_count_is_discarded_as_broken(
    c1218_vectors: dict[str, Any],
) -> None:
    # The two-packet vector after a Negotiate that granted one packet per message.
    first, second = multi_vector(c1218_vectors)
    link = LinkConnection()
    link.max_packets = 1
    link.send_message(b"\x30\x00\x00", 64, 0.0)
    link.data_to_send()
    link.receive_data(ACK + first, 0.1)
    events = drain(link)
    assert events[0] == MessageSent()
    assert isinstance(events[1], MessageBroken)
    assert "2-packet answer where 1 per message were negotiated" in events[1].reason
    link.receive_data(second, 0.2)  # the rest of it is dropped, ACKed
    assert drain(link) == []
    assert link.data_to_send() == ACK + ACK


def test_the_negotiated_packet_count_admits_answers_that_keep_to_it(
    c1218_vectors: dict[str, Any],
) -> None:
    first, second = multi_vector(c1218_vectors)
    link = LinkConnection()
    link.max_packets = 2
    link.send_message(b"\x30\x00\x00", 64, 0.0)
    link.data_to_send()
    link.receive_data(ACK + first + second, 0.1)
    assert drain(link) == [MessageSent(), MessageReceived(hundred_byte_read_answer())]
