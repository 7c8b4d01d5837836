"""The frame codec against frames made outside this project, byte for byte."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.drivers.c1218.packet import (
    ACK,
    NAK,
    BadFrame,
    ControlByte,
    Frame,
    FrameError,
    FrameScanner,
    Junk,
    Packet,
    crc16,
    decode_packet,
    split_message,
    table_checksum,
)


def test_crc_check_value(c1218_vectors: dict[str, Any]) -> None:
    check = c1218_vectors["crc16_x25_check"]
    assert crc16(check["input_ascii"].encode()) == int(check["crc"], 16)


def _all_frames(vectors: dict[str, Any]) -> list[tuple[str, bytes]]:
    frames = [(v["what"], bytes.fromhex(v["frame"])) for v in vectors["requests"]]
    for v in vectors["responses"]:
        for n, hexframe in enumerate(v.get("frames", [v.get("frame")])):
            frames.append((f"{v['what']} #{n}", bytes.fromhex(hexframe)))
    return frames


def test_every_vector_decodes_and_reencodes_identically(c1218_vectors: dict[str, Any]) -> None:
    for what, raw in _all_frames(c1218_vectors):
        packet = decode_packet(raw)
        assert packet.encode() == raw, what


def test_request_vectors_built_from_fields(c1218_vectors: dict[str, Any]) -> None:
    by_what = {v["what"]: v for v in c1218_vectors["requests"]}
    logon = Packet(b"\x50\x00\x02" + b"FIELDKIT".ljust(10, b" "))
    assert logon.encode().hex() == by_what["logon user id 2 user FIELDKIT"]["frame"]
    identify_toggled = Packet(b"\x20", toggle=True)
    assert (
        identify_toggled.encode().hex() == by_what["identify, toggle bit set (ctrl 0x20)"]["frame"]
    )
    partial = Packet(b"\x3f\x00\x4c" + (11).to_bytes(3, "big") + (64).to_bytes(2, "big"))
    assert partial.encode().hex() == by_what["read partial ST76 offset 11 count 64"]["frame"]
    write = Packet(b"\x40\x00\x06\x00\x04ABCD" + bytes([table_checksum(b"ABCD")]))
    assert (
        write.encode().hex()
        == by_what["write full ST6 with 4 data bytes 'ABCD' (count 2 bytes, data, table checksum)"][
            "frame"
        ]
    )


def test_table_checksum_vectors(c1218_vectors: dict[str, Any]) -> None:
    for v in c1218_vectors["table_checksums"]:
        assert table_checksum(bytes.fromhex(v["data"])) == int(v["checksum"], 16)


def test_multi_packet_split_matches_the_independent_emulator(
    c1218_vectors: dict[str, Any],
) -> None:
    vec = next(v for v in c1218_vectors["responses"] if "frames" in v)
    table = bytes(range(100))
    app = b"\x00" + len(table).to_bytes(2, "big") + table + bytes([table_checksum(table)])
    packets = split_message(app, packet_size=64, toggle=False)
    assert [p.encode().hex() for p in packets] == vec["frames"]


def test_decode_rejects_a_flipped_bit() -> None:
    raw = bytearray(Packet(b"\x30\x00\x00").encode())
    raw[7] ^= 0x01
    with pytest.raises(FrameError, match="CRC"):
        decode_packet(bytes(raw))


def test_scanner_separates_ack_frames_and_noise() -> None:
    frame = Packet(b"\x00\x00\x01\x00\x00").encode()
    events = list(FrameScanner().feed(b"\x55\x06" + frame + b"\x15"))
    assert events[0] == Junk(b"\x55")
    assert events[1] == ControlByte(ACK)
    assert isinstance(events[2], Frame)
    assert events[2].raw == frame
    assert events[3] == ControlByte(NAK)


def test_scanner_reports_bad_crc_and_recovers() -> None:
    good = Packet(b"\x00").encode()
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    events = list(FrameScanner().feed(bytes(bad) + good))
    assert isinstance(events[0], BadFrame)
    assert isinstance(events[1], Frame)


def test_scanner_resyncs_after_a_false_start() -> None:
    # 0xEE followed by an impossible length is noise; the real frame after it still decodes.
    good = Packet(b"\x00\x01").encode()
    events = list(FrameScanner().feed(b"\xee\x00\x00\x00\xff\xff" + good))
    frames = [e for e in events if isinstance(e, Frame)]
    assert len(frames) == 1
    assert frames[0].raw == good


@given(
    data=st.binary(max_size=300),
    toggle=st.booleans(),
    size=st.integers(min_value=9, max_value=300),
)
def test_split_then_scan_round_trip(data: bytes, toggle: bool, size: int) -> None:
    packets = split_message(data, packet_size=size, toggle=toggle)
    assert all(len(p.encode()) <= size for p in packets)
    wire = b"".join(p.encode() for p in packets)
    events = list(FrameScanner().feed(wire))
    assert all(isinstance(e, Frame) for e in events)
    assert b"".join(e.packet.data for e in events if isinstance(e, Frame)) == data
    assert [e.packet for e in events if isinstance(e, Frame)] == packets


@given(st.binary(max_size=200))
def test_scanner_never_raises_on_noise(noise: bytes) -> None:
    scanner = FrameScanner()
    for _ in scanner.feed(noise):
        pass
    scanner.reset()


@given(st.binary(max_size=64))
def test_decode_raises_only_frame_error(raw: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_packet(raw)
