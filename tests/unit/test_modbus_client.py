"""The Modbus RTU link's retries on a half-duplex line, with explicit bytes and explicit times.

:class:`Rs485Line` is a two-wire RS-485 bus with one meter on it, on a virtual clock: each
request gets its scripted answer one character time per byte after a 2 ms turnaround, and a
request written while the meter is still talking collides on the bus (the meter hears
garbage and stays silent), as on a real line. Found by the link-fault campaign
(tests/reliability/test_modbus_link_faults.py): after a corrupted byte count the parser ends
the frame early, and a retry sent at once collides with the rest of the bad answer and then
reads its tail.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest

from fieldkit.drivers.errors import LinkError, NoResponse, ReadCancelled
from fieldkit.drivers.modbus.client import ModbusLink
from fieldkit.drivers.modbus.codec import ReadRequest, crc16, rtu_char_time, rtu_frame_gap

BAUD = 9600
CHAR = rtu_char_time(BAUD)
REQUEST = ReadRequest(device_id=1, function=3, address=0, count=10)
VALUES = tuple(range(1000, 1010))


def rtu(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


GOOD = rtu(bytes([1, 3, 20]) + struct.pack(">10H", *VALUES))
# One bit flipped on the wire in the byte count (20 -> 4): the parser takes 9 bytes as the
# whole frame, finds the CRC wrong, and 16 bytes of the same answer are still to come.
SHORT_COUNT = GOOD[:2] + bytes([GOOD[2] ^ 0x10]) + GOOD[3:]


@dataclass
class Rs485Line:
    """One meter on a half-duplex bus, on a virtual clock; a Transport and its clock."""

    answers: list[bytes]
    now: float = 0.0
    url: str = "rs485://test"
    incoming: list[tuple[float, int]] = field(default_factory=list)  # (arrival, byte)
    writes: list[tuple[float, bytes]] = field(default_factory=list)
    collisions: int = 0
    talking_until: float = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def write(self, data: bytes) -> None:
        self.writes.append((self.now, data))
        if self.now < self.talking_until:
            self.collisions += 1  # both frames garbled: the meter hears noise, answers nothing
            return
        if not self.answers:
            return
        start = self.now + len(data) * CHAR + 0.002
        answer = self.answers.pop(0)
        self.incoming += [(start + (i + 1) * CHAR, b) for i, b in enumerate(answer)]
        self.talking_until = start + len(answer) * CHAR

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not any(t <= self.now for t, _ in self.incoming):
            due = min((t for t, _ in self.incoming), default=None)
            if due is None or due > self.now + timeout:
                self.now += timeout
                return b""
            self.now = due
        ready = [b for t, b in self.incoming if t <= self.now][:max_bytes]
        self.incoming = self.incoming[len(ready) :]
        return bytes(ready)

    def set_baudrate(self, baudrate: int) -> None:
        pass

    def flush_input(self) -> None:
        self.incoming = [(t, b) for t, b in self.incoming if t > self.now]

    def close(self) -> None:
        pass


def link(line: Rs485Line, **kwargs: object) -> ModbusLink:
    options: dict[str, object] = {"baud": BAUD, "response_timeout": 1.0, "retries": 1}
    options |= kwargs
    return ModbusLink(
        line,
        framing="rtu",
        clock=line.clock,
        sleep=line.sleep,
        **options,  # type: ignore[arg-type]
    )


def test_the_short_frame_really_fails_its_crc() -> None:
    frame = SHORT_COUNT[: 5 + SHORT_COUNT[2]]
    assert crc16(frame[:-2]) != struct.unpack("<H", frame[-2:])[0]


def test_a_retry_after_a_corrupted_byte_count_waits_for_the_rest_of_the_bad_answer() -> None:
    line = Rs485Line([SHORT_COUNT, GOOD])

    values = link(line).read(REQUEST, where="the test line")

    assert values == VALUES
    assert line.collisions == 0
    assert len(line.writes) == 2
    bad_answer_ends = line.writes[0][0] + 8 * CHAR + 0.002 + len(GOOD) * CHAR
    assert line.writes[1][0] >= bad_answer_ends + rtu_frame_gap(BAUD)


def test_a_retry_after_a_corrupted_answer_costs_little_more_than_the_bad_answer() -> None:
    line = Rs485Line([SHORT_COUNT, GOOD])

    link(line).read(REQUEST, where="the test line")

    # The wait is for silence, not the whole response timeout: two answers' wire time,
    # two requests, turnarounds and the silence looked for, well under the 1 s timeout.
    wire = (2 * len(GOOD) + 16) * CHAR + 0.004
    assert line.now < wire + 0.1


def test_a_line_that_never_goes_quiet_ends_the_read_within_its_timeouts() -> None:
    babble = SHORT_COUNT + bytes(range(256)) * 8  # a meter stuck transmitting (2.4 s)
    line = Rs485Line([babble])

    with pytest.raises(LinkError) as caught:
        link(line, response_timeout=0.5).read(REQUEST, where="the test line")

    assert "bad CRC" in str(caught.value) or "do not fit" in str(caught.value)
    assert line.now <= 2 * (0.5 + 0.1) + 0.01


def test_cancel_ends_the_wait_for_silence_within_half_a_second() -> None:
    babble = SHORT_COUNT + bytes(range(256)) * 8
    line = Rs485Line([babble])
    cancel_at = 0.2

    def cancel() -> None:
        if line.now >= cancel_at:
            raise ReadCancelled("cancelled")

    with pytest.raises(ReadCancelled):
        link(line, cancel=cancel).read(REQUEST, where="the test line")

    assert line.now - cancel_at <= 0.5


def test_by_default_a_block_survives_two_corrupted_answers_in_a_row() -> None:
    # At a 1e-3 byte error rate about 2 % of 157-byte answers come back bad twice running;
    # the default of two retries is what lets those reads complete (docs/reliability.md).
    line = Rs485Line([SHORT_COUNT, SHORT_COUNT, GOOD])
    defaults = ModbusLink(line, framing="rtu", clock=line.clock, sleep=line.sleep, baud=BAUD)

    assert defaults.read(REQUEST, where="the test line") == VALUES
    assert len(line.writes) == 3


def test_a_silent_meter_is_reported_after_three_response_timeouts_by_default() -> None:
    line = Rs485Line([])
    defaults = ModbusLink(
        line, framing="rtu", clock=line.clock, sleep=line.sleep, baud=BAUD, response_timeout=1.0
    )

    with pytest.raises(NoResponse):
        defaults.read(REQUEST, where="the test line")

    assert len(line.writes) == 3
    assert 3.0 <= line.now <= 3 * (1.0 + 0.1) + 0.01
