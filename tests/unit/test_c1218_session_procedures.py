"""SP9/SP10 inside a read's session, against an independent meter peer that runs procedures.

The peer (``ProcedurePeer``) lists SP9 and SP10 in ST0, takes the ST7 write and answers ST8
as the addendum (§A.4, §A.5) describes: the same TABLE_IDB and SEQ_NBR, RESULT_CODE 1 while
the procedure runs, and, until the new request is taken up, whatever ST8 held before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fieldkit.drivers.base import CancelToken, DemandReset, SetClock
from fieldkit.drivers.c1218.driver import C1218Options
from fieldkit.drivers.errors import MeterRefused, ReadCancelled
from tests.unit.test_review_driver import ST1, Clock, PeerMeter, driver_for, read_answer


def st0(tables: list[int], procedures: list[int]) -> bytes:
    """ST0 of a little-endian TM_FORMAT 2 meter that lists ``procedures`` (20 parameter bytes)."""
    used = bytearray(max(tables) // 8 + 1)
    for n in tables:
        used[n // 8] |= 1 << (n % 8)
    procs = bytearray(2)
    for n in procedures:
        procs[n // 8] |= 1 << (n % 8)
    head = bytes((0x02, 0x02, 0x88)) + b"PEER" + bytes((2, 0, 20, 16, 1, 0))
    dims = bytes((len(used), 0, len(procs), 0, 0, 0))
    return head + dims + bytes(used) + bytes(procs) + bytes(used)


GMT_FRIDAY = 0x15  # GMT_FLAG, day of week 5
LOCAL_ZONE_DST = 0x60  # TM_ZN_APPLIED and DST_APPLIED: the meter keeps local time


@dataclass
class ProcedurePeer(PeerMeter):
    """A meter that runs SP9/SP10: ST7 written, ST8 answered after ``busy_reads`` reads."""

    st8: bytes = bytes.fromhex("0a000100")  # what ST8 holds before this session
    busy_reads: int = 0  # ST8 reads that still show the old content, then result 1
    result: int = 0
    st7_writes: list[bytes] = field(default_factory=list)
    _reads_left: int = 0
    _answer_next: bytes | None = None

    def _answer(self, request: bytes) -> bytes:
        service = request[0]
        table = int.from_bytes(request[1:3], "big") if len(request) >= 3 else -1
        if service == 0x40 and table == 7:
            count = int.from_bytes(request[3:5], "big")
            data = request[5 : 5 + count]
            self.st7_writes.append(data)
            self._reads_left = self.busy_reads
            self._answer_next = data[:3] + bytes((self.result,))
            return b"\x00"
        if service == 0x30 and table == 8:
            if self._answer_next is not None:
                if self._reads_left > 0:
                    self._reads_left -= 1
                else:
                    self.st8 = self._answer_next
                    self._answer_next = None
            return read_answer(self.st8)
        return super()._answer(request)


def peer(
    qualifier: int = GMT_FRIDAY, procedures: tuple[int, ...] = (9, 10), **kw: object
) -> ProcedurePeer:
    tables = {
        0: st0([0, 1, 7, 8, 52], list(procedures)),
        1: ST1,
        52: bytes((25, 3, 14, 15, 9, 20, qualifier)),
    }
    return ProcedurePeer(Clock(), tables=tables, **kw)  # type: ignore[arg-type]


def reads_of(meter: PeerMeter, table: int) -> int:
    return sum(1 for r in meter.requests if r[0] == 0x30 and r[1:3] == table.to_bytes(2, "big"))


def test_set_clock_writes_the_addendum_layout_in_the_meters_time_base() -> None:
    meter = peer()
    session = driver_for(meter).session()
    with session:
        result = session.run_procedure(SetClock(datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)))
    assert result.ok, result.message
    (st7,) = meter.st7_writes
    # proc 10 little-endian, SEQ_NBR, mask 07, 2025-03-14 15:09:26 (UTC: GMT meter), qual.
    assert st7[:2] == b"\x0a\x00"
    assert st7[3:] == bytes.fromhex("07 19030e0f091a 15")


def test_set_clock_on_a_local_time_meter_writes_local_time_with_the_dst_flag() -> None:
    meter = peer(qualifier=LOCAL_ZONE_DST | 2)
    options = C1218Options(meter_tz=ZoneInfo("America/Chicago"))
    session = driver_for(meter, options).session()
    with session:
        session.run_procedure(SetClock(datetime(2025, 7, 1, 17, 0, 0, tzinfo=UTC)))
    (st7,) = meter.st7_writes
    # 12:00 CDT on a Tuesday (2): zone and DST applied kept, DST flag set.
    assert st7[3:] == bytes.fromhex("07 190701 0c0000 6a")


def test_a_stale_st8_answer_from_an_earlier_session_is_not_taken_for_this_one() -> None:
    # ST8 still holds the answer to an SP10 an earlier session ran with SEQ_NBR 1, and this
    # meter takes a moment before it posts the new answer (the addendum's "answers an older
    # request"). This time it refuses the set (3: conflicts with its setup): the kit must
    # report that, not the earlier success.
    meter = peer(st8=bytes.fromhex("0a000100"), busy_reads=2, result=3)
    session = driver_for(meter).session()
    with session:
        result = session.run_procedure(SetClock(datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)))
    (st7,) = meter.st7_writes
    assert st7[2] != 1  # a sequence number the stale answer does not carry
    assert result.code == 3
    assert not result.ok


def test_demand_reset_uses_a_fresh_sequence_number_each_call() -> None:
    meter = peer(st8=bytes.fromhex("09000100"))
    session = driver_for(meter).session()
    with session:
        first = session.run_procedure(DemandReset())
        second = session.run_procedure(DemandReset())
    assert first.ok
    assert second.ok
    seqs = [w[2] for w in meter.st7_writes]
    assert [w[:2] + w[3:] for w in meter.st7_writes] == [bytes.fromhex("090001")] * 2
    assert len(set(seqs)) == 2
    assert 1 not in seqs


def test_a_procedure_not_listed_in_st0_is_refused_before_any_table_is_touched() -> None:
    meter = peer(procedures=())
    session = driver_for(meter).session()
    with session, pytest.raises(MeterRefused, match="does not list standard procedure 10"):
        session.run_procedure(SetClock(datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)))
    assert reads_of(meter, 52) == 0
    assert meter.st7_writes == []


def test_cancel_while_polling_st8_ends_within_half_a_second() -> None:
    meter = peer(busy_reads=1000)  # the meter never posts the answer
    token = CancelToken()
    start = meter.clock.now

    def sleep(seconds: float) -> None:
        meter.clock.sleep(seconds)
        if meter.clock.now - start >= 2.0 and not token.cancelled:
            token.cancel()
            cancelled_at.append(meter.clock.now)

    cancelled_at: list[float] = []
    driver = driver_for(meter)
    driver._sleep = sleep
    session = driver.session(cancel=token)
    with pytest.raises(ReadCancelled), session:
        session.run_procedure(DemandReset())
    assert cancelled_at
    assert meter.clock.now - cancelled_at[0] <= 0.5


# --- the port is let go whatever happens while closing ------------------------------------


@dataclass
class CountingPeer(ProcedurePeer):
    closed: int = 0

    def close(self) -> None:
        self.closed += 1


def test_the_port_is_closed_when_closing_the_session_is_interrupted() -> None:
    # A second Ctrl-C (KeyboardInterrupt) or a progress display that fails while Logoff and
    # Terminate go out must not leave the serial port open: the next read could not open it.
    meter = CountingPeer(Clock(), tables=peer().tables)

    def progress(p: object) -> None:
        if getattr(p, "stage", None) == "close":
            raise KeyboardInterrupt

    session = driver_for(meter).session(progress=progress)
    with pytest.raises(KeyboardInterrupt), session:
        session.read_snapshot()
    assert meter.closed == 1
    assert session.stats.session_seconds is not None


def test_the_port_is_closed_when_the_session_cannot_be_built_on_it() -> None:
    meter = CountingPeer(Clock(), tables=peer().tables)
    driver = driver_for(meter)

    def progress(p: object) -> None:
        if getattr(p, "stage", None) == "identify":
            raise RuntimeError("display gone")

    session = driver.session(progress=progress)
    with pytest.raises(RuntimeError), session:
        pass
    assert meter.closed == 1
