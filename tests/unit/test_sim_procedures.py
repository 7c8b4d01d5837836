"""The simulated meter's side of SP9/SP10, on the reference's worked bytes (addendum §A.4)."""

from __future__ import annotations

from datetime import UTC, datetime

from simulators.c1218.physics import MeterClock
from simulators.c1218.procedures import MeterState, run_procedure
from simulators.scenario import ClockSection

NOW = datetime(2025, 3, 14, 15, 0, 0, tzinfo=UTC).timestamp()


def state(drift: float = 540.0) -> MeterState:
    return MeterState(MeterClock(ClockSection(drift_seconds=drift, utc=True)))


def run(data: bytes, st: MeterState, **kw: object) -> tuple[int, bytes]:
    done = run_procedure(
        data, state=st, data_order="little", tm_format=2, zone=UTC, now=NOW, user_id=2, **kw
    )  # type: ignore[arg-type]
    st8 = done.st8()
    assert st8[:3] == data[:3]  # the same TABLE_IDB_BFLD and SEQ_NBR come back
    return st8[3], st8[4:]


def test_sp10_worked_bytes_set_the_clock_and_log_events_3_and_4() -> None:
    st = state()
    before = st.clock.at(NOW)
    code, response = run(bytes.fromhex("0a002a0719030e0f091a6d"), st)
    assert code == 0
    assert st.clock.at(NOW) == datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
    # Response data: the time before and the time after, two LTIME_DATEs.
    assert response[:6] == bytes((25, 3, 14, before.hour, before.minute, before.second))
    assert response[6:] == bytes.fromhex("19030e0f091a")
    assert [e.code for e in st.events] == [3, 4]
    assert (st.events[0].time, st.events[1].time) == (before, st.clock.at(NOW))
    assert st.events[0].user_id == 2


def test_sp9_worked_bytes_reset_demand_and_log_event_20() -> None:
    st = state()
    code, response = run(bytes.fromhex("09002b01"), st)
    assert (code, response) == (0, b"")
    assert st.demand_resets_done == 1
    assert st.demand_reset_at == st.clock.at(NOW)
    assert [e.code for e in st.events] == [20]


def test_big_endian_procedure_id() -> None:
    st = state()
    done = run_procedure(
        bytes.fromhex("000901" "01"), state=st, data_order="big", tm_format=1, zone=UTC,
        now=NOW, user_id=0,
    )  # fmt: skip
    assert done.result == 0
    assert st.demand_resets_done == 1


def test_unknown_procedures_and_bad_parameters_are_answered_in_st8() -> None:
    st = state()
    assert run(bytes.fromhex("03000501"), st)[0] == 6  # SP3 clear data: never run
    assert run(bytes.fromhex("09080501"), st)[0] == 6  # a manufacturer procedure 9
    assert run(bytes.fromhex("09000502"), st)[0] == 2  # self read: not modelled
    assert run(bytes.fromhex("0a00060719031e"), st)[0] == 2  # too short
    assert run(bytes.fromhex("0a0007071913010f091a6d"), st)[0] == 2  # month 19
    assert st.events == []
    assert st.demand_resets_done == 0


def test_a_forced_result_runs_nothing() -> None:
    st = state()
    code, response = run(bytes.fromhex("09002b01"), st, forced_result=4)
    assert (code, response) == (4, b"")
    assert st.demand_resets_done == 0
    assert st.procedures_run == [(9, 4)]
