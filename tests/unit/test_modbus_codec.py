"""The sans-I/O Modbus codec, byte for byte: CRC, frames, answers, every word and byte order.

Expected bytes come from the Modbus specification's examples, from pymodbus's own framers
(an implementation written outside this project) and from ``struct`` by hand, never from the
codec under test.
"""

from __future__ import annotations

import math
import struct

import pytest
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
)

from fieldkit.drivers.modbus.codec import (
    BadCrc,
    MalformedFrame,
    MbapAnswerParser,
    OtherDevice,
    ReadRequest,
    Refusal,
    Registers,
    RtuAnswerParser,
    StaleAnswer,
    crc16,
    decode_value,
    encode_mbap,
    encode_rtu,
    rtu_frame_gap,
)


def test_crc_matches_the_specification_examples() -> None:
    # Modbus over serial line V1.02 / the classic "01 03 00 00 00 0A C5 CD".
    assert struct.pack("<H", crc16(bytes.fromhex("01030000000A"))) == bytes.fromhex("C5CD")
    assert struct.pack("<H", crc16(bytes.fromhex("1103006B0003"))) == bytes.fromhex("7687")


def test_rtu_request_bytes() -> None:
    frame = encode_rtu(ReadRequest(device_id=1, function=3, address=0, count=10))
    assert frame == bytes.fromhex("01030000000AC5CD")


@pytest.mark.parametrize(
    ("function", "pdu_class"), [(3, ReadHoldingRegistersRequest), (4, ReadInputRegistersRequest)]
)
@pytest.mark.parametrize(
    ("device", "address", "count"), [(1, 0, 80), (247, 3203, 24), (17, 0xFF83, 125)]
)
def test_requests_match_pymodbus_framers(
    function: int, pdu_class: type, device: int, address: int, count: int
) -> None:
    request = ReadRequest(device, function, address, count)
    pdu = pdu_class(dev_id=device, transaction_id=0x1234, address=address, count=count)
    assert encode_rtu(request) == FramerRTU(DecodePDU(False)).buildFrame(pdu)
    assert encode_mbap(request, 0x1234) == FramerSocket(DecodePDU(False)).buildFrame(pdu)


@pytest.mark.parametrize("bad", [{"function": 6}, {"count": 0}, {"count": 126}, {"address": 65500}])
def test_requests_out_of_range_are_refused(bad: dict[str, int]) -> None:
    values = {"device_id": 1, "function": 3, "address": 0, "count": 40} | bad
    with pytest.raises(ValueError, match=r"\S"):
        ReadRequest(**values)


def _pymodbus_answer(
    function: int, device: int, registers: list[int], tid: int = 0
) -> tuple[bytes, bytes]:
    cls = ReadHoldingRegistersResponse if function == 3 else ReadInputRegistersResponse
    pdu = cls(dev_id=device, transaction_id=tid, registers=registers)
    return FramerRTU(DecodePDU(True)).buildFrame(pdu), FramerSocket(DecodePDU(True)).buildFrame(pdu)


@pytest.mark.parametrize("function", [3, 4])
def test_answers_built_by_pymodbus_parse_byte_by_byte(function: int) -> None:
    registers = [0x4366, 0x199A, 0, 0xFFFF, 0x8000]
    rtu, mbap = _pymodbus_answer(function, 7, registers, tid=99)
    request = ReadRequest(7, function, 100, len(registers))
    parser = RtuAnswerParser(request)
    answers = [parser.feed(bytes([b])) for b in rtu]
    assert answers[:-1] == [None] * (len(rtu) - 1)
    assert answers[-1] == Registers(tuple(registers))
    tcp = MbapAnswerParser(request, 99)
    assert tcp.feed(mbap[:5]) is None
    assert tcp.feed(mbap[5:]) == Registers(tuple(registers))


def test_exception_response() -> None:
    body = bytes([1, 0x84, 2])
    frame = body + struct.pack("<H", crc16(body))
    assert RtuAnswerParser(ReadRequest(1, 4, 0, 2)).feed(frame) == Refusal(2)
    assert Refusal(2).meaning == "illegal data address (2)"
    assert Refusal(6).meaning == "device busy (6)"
    assert Refusal(99).meaning == "exception code 99"
    mbap = struct.pack(">HHHBBB", 5, 0, 3, 1, 0x83, 6)
    assert MbapAnswerParser(ReadRequest(1, 3, 0, 2), 5).feed(mbap) == Refusal(6)


def test_corrupt_and_foreign_frames() -> None:
    rtu, _ = _pymodbus_answer(3, 1, [1, 2])
    request = ReadRequest(1, 3, 0, 2)
    broken = rtu[:3] + bytes([rtu[3] ^ 0x01]) + rtu[4:]
    with pytest.raises(BadCrc):
        RtuAnswerParser(request).feed(broken)
    other, _ = _pymodbus_answer(3, 9, [1, 2])
    with pytest.raises(OtherDevice) as caught:
        RtuAnswerParser(request).feed(other)
    assert caught.value.device_id == 9
    short, _ = _pymodbus_answer(3, 1, [1])
    with pytest.raises(MalformedFrame, match="for 2 registers"):
        RtuAnswerParser(request).feed(short)
    wrong_fn, _ = _pymodbus_answer(4, 1, [1, 2])
    with pytest.raises(MalformedFrame, match="function 4"):
        RtuAnswerParser(request).feed(wrong_fn)


def test_trailing_bytes_are_kept_apart() -> None:
    rtu, _ = _pymodbus_answer(3, 1, [5])
    parser = RtuAnswerParser(ReadRequest(1, 3, 0, 1))
    assert parser.feed(rtu + b"\x00\x01") == Registers((5,))
    assert parser.rest == b"\x00\x01"


def test_stale_and_foreign_tcp_answers() -> None:
    _, mbap = _pymodbus_answer(3, 1, [1], tid=4)
    with pytest.raises(StaleAnswer):
        MbapAnswerParser(ReadRequest(1, 3, 0, 1), 5).feed(mbap)
    _, other = _pymodbus_answer(3, 2, [1], tid=5)
    with pytest.raises(OtherDevice):
        MbapAnswerParser(ReadRequest(1, 3, 0, 1), 5).feed(other)


def test_frame_gap() -> None:
    assert rtu_frame_gap(9600) == pytest.approx(3.5 * 11 / 9600)
    assert rtu_frame_gap(115200) == pytest.approx(0.00175)


# --- values: each type in each word and byte order, encoded with struct by hand ---------------

_FORMATS = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
}
_SAMPLES = {
    "int16": [-12345, 0, 32767, -32768],
    "uint16": [0, 1, 0xBEEF, 0xFFFF],
    "int32": [-2, 123456789, -(2**31)],
    "uint32": [0, 0xDEADBEEF, 2**32 - 1],
    "int64": [-1, 52310700, -(2**63), 2**63 - 1],
    "uint64": [0, 2**64 - 1, 0x0102030405060708],
    "float32": [230.1, -1.5e-3, 0.0, 1.0e9],
}


def _device_words(value: float, fmt: str, word_order: str, byte_order: str) -> list[int]:
    """How a device with these orders puts ``value`` in its registers (written out by hand)."""
    raw = struct.pack(fmt, value)  # most significant byte first: ABCD...
    pairs = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if word_order == "little":
        pairs.reverse()  # CDAB: low word in the first register
    if byte_order == "little":
        pairs = [p[::-1] for p in pairs]  # BADC / DCBA: bytes swapped in each register
    return [int.from_bytes(p, "big") for p in pairs]


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("byte_order", ["big", "little"])
@pytest.mark.parametrize("value_type", list(_FORMATS))
def test_every_type_in_every_order(value_type: str, word_order: str, byte_order: str) -> None:
    for value in _SAMPLES[value_type]:
        words = _device_words(value, _FORMATS[value_type], word_order, byte_order)
        got = decode_value(words, value_type, word_order=word_order, byte_order=byte_order)  # type: ignore[arg-type]
        if value_type == "float32":
            assert got == pytest.approx(value, rel=1e-6)
        else:
            assert got == value


def test_orders_named_by_their_letters() -> None:
    # 0x41424344 as the four byte orders of the field: ABCD, CDAB, BADC, DCBA.
    cases = {
        ("big", "big"): [0x4142, 0x4344],
        ("little", "big"): [0x4344, 0x4142],
        ("big", "little"): [0x4241, 0x4443],
        ("little", "little"): [0x4443, 0x4241],
    }
    for (word, byte), words in cases.items():
        assert decode_value(words, "uint32", word_order=word, byte_order=byte) == 0x41424344  # type: ignore[arg-type]


def test_reference_float_and_nan() -> None:
    # c12-protocols.md section 5: convert_to_registers(230.1, FLOAT32) -> [0x4366, 0x199A].
    value = decode_value([0x4366, 0x199A], "float32", word_order="big", byte_order="big")
    assert value == pytest.approx(230.1, abs=1e-4)
    nan = decode_value([0x7FC0, 0], "float32", word_order="big", byte_order="big")
    assert isinstance(nan, float)
    assert math.isnan(nan)


def test_strings() -> None:
    words = [
        int.from_bytes(b"M1", "big"),
        int.from_bytes(b"6-", "big"),
        int.from_bytes(b"7\x00", "big"),
        0,
    ]
    assert decode_value(words, "string", word_order="big", byte_order="big") == "M16-7"
    swapped = [int.from_bytes(b"1M", "big"), int.from_bytes(b"-6", "big")]
    assert decode_value(swapped, "string", word_order="big", byte_order="little") == "M16-"


def test_wrong_register_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="takes 2 registers"):
        decode_value([1], "float32", word_order="big", byte_order="big")
