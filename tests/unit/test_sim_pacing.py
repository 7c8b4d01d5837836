"""Baud pacing of the simulated wire (10 bits per byte), both directions."""

from __future__ import annotations

import pytest

from simulators.c1218.pacing import WirePacer

T0 = 100.0
BYTE_9600 = 10 / 9600


def test_disabled_pacer_passes_bytes_through_and_counts_wire_time() -> None:
    pacer = WirePacer(enabled=False)
    pacer.inbound(b"abc", T0, 9600)
    assert pacer.take_inbound(T0) == [b"abc"]
    pacer.outbound(b"xy", T0)
    assert pacer.take_outbound(T0, 9600) == b"xy"
    assert pacer.wire_seconds == pytest.approx(5 * BYTE_9600)


def test_client_bytes_reach_the_meter_when_their_last_byte_has_arrived() -> None:
    pacer = WirePacer(enabled=True)
    pacer.inbound(bytes(96), T0, 9600)  # 960 bits: 0.1 s
    assert pacer.take_inbound(T0 + 0.099) == []
    assert pacer.next_deadline(9600) == pytest.approx(T0 + 0.1)
    assert pacer.take_inbound(T0 + 0.1) == [bytes(96)]


def test_back_to_back_client_writes_queue_on_the_line() -> None:
    pacer = WirePacer(enabled=True)
    pacer.inbound(bytes(96), T0, 9600)
    pacer.inbound(bytes(96), T0, 9600)  # cannot start before the first has finished
    assert pacer.take_inbound(T0 + 0.15) == [bytes(96)]
    assert pacer.take_inbound(T0 + 0.2) == [bytes(96)]


def test_meter_bytes_are_released_no_faster_than_the_baud() -> None:
    pacer = WirePacer(enabled=True)
    pacer.outbound(bytes(range(20)), T0)
    assert pacer.take_outbound(T0, 9600) == b""
    first = pacer.take_outbound(T0 + 5 * BYTE_9600, 9600)
    assert first == bytes(range(5))
    rest = pacer.take_outbound(T0 + 1.0, 9600)
    assert rest == bytes(range(5, 20))


def test_faster_baud_releases_sooner() -> None:
    slow, fast = WirePacer(enabled=True), WirePacer(enabled=True)
    for pacer in (slow, fast):
        pacer.outbound(bytes(60), T0)
    at = T0 + 60 * 10 / 57600
    assert len(fast.take_outbound(at, 57600)) == 60
    assert len(slow.take_outbound(at, 9600)) == 10
