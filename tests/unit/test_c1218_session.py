"""The sans-I/O PSEM session: opening order, legal services, grants and the baud switch."""

from __future__ import annotations

from typing import Any

import pytest

from fieldkit.drivers.c1218.link import LinkConnection, MessageReceived, MessageSent, NeedData
from fieldkit.drivers.c1218.packet import Packet, decode_packet
from fieldkit.drivers.c1218.services import MalformedResponse, ResponseCode
from fieldkit.drivers.c1218.session import (
    PsemSession,
    Request,
    Service,
    SessionState,
    SessionStateError,
    looks_stale,
    misfit,
)
from fieldkit.drivers.errors import DriverError

IDENTIFY_OK = bytes.fromhex("0000010000")
OK = b"\x00"


def vector_data(vectors: dict[str, Any], group: str, what: str) -> bytes:
    vec = next(v for v in vectors[group] if v["what"] == what)
    return decode_packet(bytes.fromhex(vec["frame"])).data


def answer(session: PsemSession, response: bytes) -> ResponseCode:
    request = session.next_open_request()
    assert request is not None
    return session.handle_response(request, response).code


def negotiated(session: PsemSession, grant: bytes) -> None:
    assert answer(session, IDENTIFY_OK) is ResponseCode.OK
    assert answer(session, grant) is ResponseCode.OK


def test_open_without_password_is_identify_negotiate_logon(c1218_vectors: dict[str, Any]) -> None:
    session = PsemSession(packet_size=512, max_packets=2, baud=9600)
    steps: list[Request] = []
    responses = [
        IDENTIFY_OK,
        vector_data(
            c1218_vectors, "responses", "negotiate ok: 64-byte packets, 2 packets, 9600, toggle set"
        ),
        OK,
    ]
    for response in responses:
        request = session.next_open_request()
        assert request is not None
        steps.append(request)
        assert session.handle_response(request, response).code is ResponseCode.OK

    assert session.next_open_request() is None  # no password: no Security
    assert [s.service for s in steps] == [Service.IDENTIFY, Service.NEGOTIATE, Service.LOGON]
    assert steps[1].data == vector_data(
        c1218_vectors, "requests", "negotiate 512 bytes, 2 packets, 9600 (code 0x06)"
    )
    assert steps[2].data == vector_data(c1218_vectors, "requests", "logon user id 2 user FIELDKIT")
    assert session.state is SessionState.LOGGED_ON
    info = session.info()
    assert (info.standard, info.version, info.revision) == (0, 1, 0)
    # What the meter granted, not what we asked for.
    assert (info.packet_size, info.nbr_packets, info.baud) == (64, 2, 9600)
    assert info.max_read_size == (64 - 8) * 2 - 4
    assert session.take_baud_switch() is None


def test_with_a_password_security_follows_logon(c1218_vectors: dict[str, Any]) -> None:
    session = PsemSession(password=b"FIELD-KIT-PEER-2026")
    negotiated(session, b"\x00\x01\x00\x01\x06")
    assert answer(session, OK) is ResponseCode.OK  # logon
    request = session.next_open_request()
    assert request is not None
    assert request.service is Service.SECURITY
    assert request.sensitive
    assert "FIELD" not in repr(request)
    assert request.data == vector_data(
        c1218_vectors,
        "requests",
        "security, password 'FIELD-KIT-PEER-2026' space-padded to 20 bytes",
    )
    assert session.handle_response(request, OK).code is ResponseCode.OK
    assert session.state is SessionState.SECURED
    assert session.next_open_request() is None


def test_wrong_password_leaves_the_session_logged_on_but_not_secured() -> None:
    session = PsemSession(password=b"1234")
    negotiated(session, b"\x00\x01\x00\x01\x06")
    answer(session, OK)
    assert answer(session, b"\x01") is ResponseCode.ERR
    assert session.state is SessionState.LOGGED_ON


def test_sns_to_negotiate_keeps_the_defaults() -> None:
    session = PsemSession(packet_size=1024, max_packets=8, baud=19200)
    answer(session, IDENTIFY_OK)
    assert answer(session, b"\x02") is ResponseCode.SNS
    assert session.state is SessionState.NEGOTIATED
    assert (session.packet_size, session.nbr_packets, session.baud) == (64, 1, 9600)
    assert session.max_read_size == 52
    assert session.take_baud_switch() is None
    request = session.next_open_request()
    assert request is not None
    assert request.service is Service.LOGON


def test_the_port_switches_after_the_ack_of_the_negotiate_answer() -> None:
    session = PsemSession(packet_size=256, max_packets=4, baud=19200)
    link = LinkConnection()
    answer(session, IDENTIFY_OK)
    request = session.next_open_request()
    assert request is not None
    assert request.data == bytes.fromhex("6101000408")  # asks for 19200
    link.send_message(request.data, session.packet_size, 0.0)
    link.data_to_send()

    grant = b"\x00\x01\x00\x04\x08"  # 256 bytes, 4 packets, 19200
    link.receive_data(b"\x06" + Packet(grant).encode(), 0.1)
    assert link.next_event() == MessageSent()
    event = link.next_event()
    assert event == MessageReceived(grant)
    # The ACK is ready to go at the old speed before the session says to switch.
    assert link.data_to_send() == b"\x06"
    assert session.baud == 9600
    session.handle_response(request, grant)

    assert session.take_baud_switch() == 19200
    assert session.take_baud_switch() is None  # once
    assert session.baud == 19200
    assert isinstance(link.next_event(), NeedData)
    logon = session.next_open_request()
    assert logon is not None
    assert logon.service is Service.LOGON


def test_terminate_brings_the_speed_back_to_9600() -> None:
    session = PsemSession(baud=28800)
    negotiated(session, b"\x00\x01\x00\x01\x09")
    assert session.take_baud_switch() == 28800
    session.handle_response(session.terminate(), OK)
    assert session.state is SessionState.BASE
    assert session.take_baud_switch() == 9600
    assert session.packet_size == 64


@pytest.mark.parametrize("code", [b"\x09", b"\x0a", b"\x0b"])
def test_rno_isss_sme_lose_the_session(code: bytes) -> None:
    session = PsemSession()
    negotiated(session, b"\x00\x02\x00\x02\x06")
    answer(session, OK)
    reply = session.handle_response(session.read_full(1), code)
    assert reply.code in (ResponseCode.RNO, ResponseCode.ISSS, ResponseCode.SME)
    assert session.state is SessionState.BASE
    assert session.packet_size == 64
    request = session.next_open_request()
    assert request is not None
    assert request.service is Service.IDENTIFY


def test_services_out_of_their_state_are_refused() -> None:
    session = PsemSession()
    with pytest.raises(SessionStateError, match="read"):
        session.read_full(1)
    session.terminate()  # legal in every state
    answer(session, IDENTIFY_OK)
    with pytest.raises(SessionStateError):
        session.identify()
    with pytest.raises(SessionStateError):
        session.logoff()
    answer(session, b"\x02")
    answer(session, OK)
    assert session.state is SessionState.LOGGED_ON
    with pytest.raises(SessionStateError):
        session.identify()
    session.read_full(1)
    session.wait(6)
    session.handle_response(session.logoff(), OK)
    assert session.state is SessionState.IDENTIFIED
    with pytest.raises(SessionStateError):
        session.read_partial(1, 0, 4)


def test_read_answers_are_decoded_with_their_checksum() -> None:
    session = PsemSession()
    negotiated(session, b"\x00\x01\x00\x01\x06")
    answer(session, OK)
    request = session.read_partial(3, 0, 4)
    good = b"\x00\x00\x04\x01\x02\x03\x04\xf6"
    assert session.handle_response(request, good).data == b"\x01\x02\x03\x04"
    with pytest.raises(MalformedResponse):
        session.handle_response(request, good[:-1] + b"\x00")


def test_max_sizes_follow_the_grant_and_cap_at_65535() -> None:
    session = PsemSession(packet_size=8192, max_packets=255)
    negotiated(session, b"\x00\x20\x00\xff\x06")
    assert session.max_read_size == 65535
    small = PsemSession()
    negotiated(small, b"\x00\x00\x40\x02\x06")
    assert (small.max_read_size, small.max_write_size, small.max_partial_write_size) == (
        108,
        105,
        103,
    )


def test_bad_settings_fail_before_anything_is_sent() -> None:
    with pytest.raises(DriverError, match="baud"):
        PsemSession(baud=12345)
    with pytest.raises(DriverError, match="user name"):
        PsemSession(user="MUCH-TOO-LONG")
    with pytest.raises(DriverError, match="password"):
        PsemSession(password=b"x" * 21)


def test_a_short_ok_after_identify_looks_like_a_stale_answer() -> None:
    session = PsemSession()
    identify = session.identify()
    assert looks_stale(identify, b"\x00")
    assert not looks_stale(identify, IDENTIFY_OK)
    assert not looks_stale(identify, b"\x06")  # bsy is a real answer
    assert not looks_stale(Request(Service.LOGON, b"\x50"), b"\x00")


# --- answers that do not fit their request (a late answer put the session out of step) ---

READ_ANSWER = b"\x00\x00\x03" + b"\x01\x02\x03" + bytes(((-6) & 0xFF,))
# A read answer whose checksum is 0x00, so it even ends like an Identify answer.
READ_ANSWER_0 = b"\x00\x00\x03\x01\xff\x00\x00"


@pytest.mark.parametrize(
    ("request_", "response", "why"),
    [
        (Request(Service.IDENTIFY, b"\x20"), b"\x00", "too short"),
        (Request(Service.IDENTIFY, b"\x20"), READ_ANSWER_0, "shape of a table read answer"),
        (Request(Service.IDENTIFY, b"\x20"), b"\x00\x00\x01\x00\x07", "ends its feature list"),
        (Request(Service.LOGON, b"\x50"), READ_ANSWER, "carries no data"),
        (Request(Service.TERMINATE, b"\x21"), IDENTIFY_OK, "carries no data"),
        # Identify's answer taken for Negotiate's: a grant of 1-byte packets is impossible.
        (Request(Service.NEGOTIATE, bytes.fromhex("61040008 06")), IDENTIFY_OK, "granted packets"),
        (Request(Service.NEGOTIATE, bytes.fromhex("61010001 06")), b"\x00\x04\x00\x01\x06", "1024"),
        (
            Request(Service.NEGOTIATE, bytes.fromhex("61040002 06")),
            b"\x00\x04\x00\x08\x06",
            "8 packets",
        ),
        (Request(Service.NEGOTIATE, bytes.fromhex("61040002 06")), READ_ANSWER + b"\x00", "4 or 5"),
        (
            Request(Service.READ_PARTIAL, bytes.fromhex("3f 0017 000000 0002"), 23),
            READ_ANSWER,
            "announces 3 bytes",
        ),
    ],
)
def test_an_answer_that_cannot_be_the_reply_is_a_misfit(
    request_: Request, response: bytes, why: str
) -> None:
    reason = misfit(request_, response)
    assert reason is not None
    assert why in reason
    assert looks_stale(request_, response)


@pytest.mark.parametrize(
    ("request_", "response"),
    [
        (Request(Service.IDENTIFY, b"\x20"), IDENTIFY_OK),
        (Request(Service.IDENTIFY, b"\x20"), b"\x00\x00\x01\x00\x01\x02\x03\x00"),  # features
        (Request(Service.IDENTIFY, b"\x20"), b"\x0a"),  # isss is the meter's word
        (Request(Service.LOGON, b"\x50"), OK),
        (Request(Service.NEGOTIATE, bytes.fromhex("61040008 06")), b"\x00\x01\x00\x02\x06"),
        (Request(Service.NEGOTIATE, bytes.fromhex("60040008")), b"\x00\x04\x00\x08"),
        (Request(Service.READ_PARTIAL, bytes.fromhex("3f 0017 000000 0005"), 23), READ_ANSWER),
        (Request(Service.READ, bytes.fromhex("30 0017"), 23), READ_ANSWER),
    ],
)
def test_answers_that_fit_their_request_pass(request_: Request, response: bytes) -> None:
    assert misfit(request_, response) is None
