"""PSEM request encoders and response decoders against frames made outside this project."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.drivers.c1218 import services
from fieldkit.drivers.c1218.packet import Packet, decode_packet, table_checksum
from fieldkit.drivers.c1218.services import (
    Identification,
    MalformedResponse,
    NegotiatedLink,
    RequestError,
    ResponseCode,
)
from fieldkit.drivers.errors import DriverError, MeterRefused

# Every request vector, and the encoder call that must reproduce it byte for byte.
REQUESTS: dict[str, Callable[[], bytes]] = {
    "identify": services.identify,
    "terminate": services.terminate,
    "logoff": services.logoff,
    "wait 10 s": lambda: services.wait(10),
    "read full ST0": lambda: services.read_full(0),
    "read full ST1": lambda: services.read_full(1),
    "read full ST52": lambda: services.read_full(52),
    "read full MT72 (2048+72)": lambda: services.read_full(2048 + 72),
    "read partial ST76 offset 11 count 64": lambda: services.read_partial(76, 11, 64),
    "logon user id 2 user FIELDKIT": lambda: services.logon(2, "FIELDKIT"),
    "negotiate 512 bytes, 2 packets, 9600 (code 0x06)": lambda: services.negotiate(512, 2, 9600),
    "negotiate 128 bytes, 1 packet, 28800 (code 0x09)": lambda: services.negotiate(128, 1, 28800),
    "identify, toggle bit set (ctrl 0x20)": services.identify,
    "security, password 'FIELD-KIT-PEER-2026' space-padded to 20 bytes": lambda: services.security(
        services.pad_password("FIELD-KIT-PEER-2026")
    ),
    "write full ST6 with 4 data bytes 'ABCD' (count 2 bytes, data, table checksum)": lambda: (
        services.write_full(6, b"ABCD")
    ),
}


def _responses(vectors: dict[str, Any]) -> dict[str, bytes]:
    return {
        v["what"]: decode_packet(bytes.fromhex(v["frame"])).data
        for v in vectors["responses"]
        if "frame" in v
    }


def test_every_request_vector_is_reproduced_byte_for_byte(c1218_vectors: dict[str, Any]) -> None:
    vectors = {v["what"]: v for v in c1218_vectors["requests"]}
    assert set(vectors) == set(REQUESTS), "a request vector has no encoder test"
    for what, encode in REQUESTS.items():
        vec = vectors[what]
        frame = Packet(encode(), toggle=bool(vec["toggle"])).encode()
        assert frame.hex() == vec["frame"], what


def test_identify_answer_is_decoded(c1218_vectors: dict[str, Any]) -> None:
    answer = _responses(c1218_vectors)["identify ok: C12.18 version 1 revision 0, no features"]
    ident = services.decode_identify(answer)
    assert ident == Identification(standard=0, version=1, revision=0, features=b"\x00")
    assert ident.standard_name == "C12.18"


def test_negotiate_answer_is_decoded(c1218_vectors: dict[str, Any]) -> None:
    answer = _responses(c1218_vectors)["negotiate ok: 64-byte packets, 2 packets, 9600, toggle set"]
    assert services.decode_negotiate(answer) == NegotiatedLink(64, 2, 9600)


def test_negotiate_answer_without_baud_byte_keeps_the_speed() -> None:
    assert services.decode_negotiate(b"\x00\x01\x00\x04") == NegotiatedLink(256, 4, None)


def test_read_answer_is_decoded_and_its_checksum_verified(c1218_vectors: dict[str, Any]) -> None:
    answer = _responses(c1218_vectors)["read ST1 ok: count 32, data, table checksum"]
    data = services.decode_read(answer, 1)
    assert len(data) == 32
    assert data.startswith(b"PEERHOLDOUT1")
    broken = answer[:-1] + bytes([(answer[-1] + 1) & 0xFF])
    with pytest.raises(MalformedResponse, match="checksum of ST1"):
        services.decode_read(broken, 1)


def test_multi_packet_read_answer_decodes_to_the_hundred_bytes(
    c1218_vectors: dict[str, Any],
) -> None:
    vec = next(v for v in c1218_vectors["responses"] if "frames" in v)
    answer = b"".join(decode_packet(bytes.fromhex(f)).data for f in vec["frames"])
    assert services.decode_read(answer) == bytes(range(100))


def test_a_read_answer_with_the_wrong_count_is_malformed() -> None:
    data = b"abcd"
    answer = b"\x00\x00\x05" + data + bytes([table_checksum(data)])
    with pytest.raises(MalformedResponse, match="announces 5 data bytes but carries 4"):
        services.decode_read(answer, 3)


def test_response_codes_have_their_standard_names(c1218_vectors: dict[str, Any]) -> None:
    answers = _responses(c1218_vectors)
    assert services.response_code(answers["logon ok"]) is ResponseCode.OK
    wrong = services.response_code(answers["security err (wrong password), toggle set"])
    assert wrong is ResponseCode.ERR
    names = [code.label for code in ResponseCode]
    assert names[:12] == [
        "ok", "err", "sns", "isc", "onp", "iar", "bsy", "dnr", "dlk", "rno", "isss", "sme",
    ]  # fmt: skip
    assert ResponseCode(0x0A).meaning == "invalid service sequence state"


def test_unknown_response_code_and_empty_answer_are_malformed() -> None:
    with pytest.raises(MalformedResponse, match="0x20"):
        services.response_code(b"\x20")
    with pytest.raises(MalformedResponse, match="empty"):
        services.response_code(b"")


def test_decoding_a_refusal_names_the_code() -> None:
    with pytest.raises(MeterRefused, match="isc") as info:
        services.decode_read(b"\x03", 52)
    assert info.value.code == 0x03
    assert info.value.table == 52


def test_password_padding() -> None:
    assert services.pad_password("1234") == b"1234" + b" " * 16
    assert services.security(b"\x01\x02") == b"\x51\x01\x02" + b" " * 18
    exact = bytes(range(20))
    assert services.security(exact) == b"\x51" + exact


def test_a_password_too_long_is_refused_without_showing_it() -> None:
    secret = "S3CRET-" * 3
    with pytest.raises(RequestError) as info:
        services.pad_password(secret)
    assert "21 bytes" in str(info.value)
    assert "S3CRET" not in str(info.value)
    with pytest.raises(RequestError):
        services.security(b"x" * 21)
    with pytest.raises(RequestError, match="ASCII"):
        services.pad_password("pässword")


def test_baud_codes_map_both_ways() -> None:
    for code, baud in services.BAUD_BY_CODE.items():
        assert services.baud_to_code(baud) == code
        assert services.baud_from_code(code) == baud
    assert services.baud_from_code(0) is None
    with pytest.raises(RequestError, match="4711 baud"):
        services.baud_to_code(4711)
    with pytest.raises(MalformedResponse):
        services.baud_from_code(0x0F)


def test_negotiate_without_baud_uses_code_0x60() -> None:
    assert services.negotiate(256, 1, None) == b"\x60\x01\x00\x01"


@pytest.mark.parametrize(
    "build",
    [
        lambda: services.read_full(0x10000),
        lambda: services.read_partial(1, 1 << 24, 1),
        lambda: services.read_partial(1, 0, 0x10000),
        lambda: services.wait(256),
        lambda: services.logon(70000, "X"),
        lambda: services.logon(2, "ELEVENCHARS"),
        lambda: services.negotiate(8, 1),
        lambda: services.negotiate(8193, 1),
        lambda: services.negotiate(64, 0),
        lambda: services.write_full(1, bytes(0x10000)),
    ],
)
def test_out_of_range_values_raise_request_error(build: Callable[[], bytes]) -> None:
    with pytest.raises(RequestError):
        build()


def test_unusable_grants_are_malformed() -> None:
    with pytest.raises(MalformedResponse, match="packet size"):
        services.decode_negotiate(b"\x00\x00\x04\x01\x06")
    with pytest.raises(MalformedResponse, match="zero packets"):
        services.decode_negotiate(b"\x00\x00\x40\x00\x06")


def test_table_names() -> None:
    assert services.table_name(52) == "ST52"
    assert services.table_name(2048 + 72) == "MT72"


def test_write_partial_layout() -> None:
    assert services.write_partial(7, 3, b"\x01\x02") == bytes.fromhex("4f000700000300020102fd")


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_a_driver_error(response: bytes) -> None:
    for decode in (
        services.response_code,
        services.decode_identify,
        services.decode_negotiate,
        services.decode_read,
    ):
        with contextlib.suppress(DriverError):  # anything else fails the test
            decode(response)


@given(st.binary(max_size=600), st.integers(0, 0xFFFF))
def test_read_answers_round_trip(data: bytes, table: int) -> None:
    answer = b"\x00" + len(data).to_bytes(2, "big") + data + bytes([table_checksum(data)])
    assert services.decode_read(answer, table) == data
