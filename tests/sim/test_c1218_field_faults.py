"""Issue 7: a C12.18 read that survives the field, against the simulated meter's faults.

Every fault here is one the simulator injects on its own side of the wire (see
docs/simulators.md, "Fault options"); the driver is given short timeouts so the whole file
runs in a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fieldkit.drivers.base import read_once
from fieldkit.drivers.c1218.driver import C1218Driver, C1218Options
from fieldkit.drivers.c1218.link import LinkConfig
from fieldkit.drivers.c1218.profile import ProfileRegistry
from fieldkit.drivers.errors import DecodeError, SessionLost
from simulators.c1218.options import MALFORMED_KINDS, SimOptions
from tests.helpers import run_cli, scenario_data
from tests.sim.test_c1218_driver_sim import assert_matches_scenario

pytestmark = pytest.mark.sim

FAST = C1218Options(link=LinkConfig(response_timeout=0.3, traffic_timeout=0.6))


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_a_malformed_table_is_asked_again_then_unavailable_and_the_rest_is_right(
    sim: Any, kind: str
) -> None:
    simulator = sim("healthy-16s", SimOptions(malformed_table=23, malformed_kind=kind))
    outcome = read_once(C1218Driver(simulator.url))
    assert outcome.ok, outcome.error
    snapshot = outcome.snapshot
    assert snapshot is not None
    reads_of_23 = [
        f.data for f in outcome.frames if f.direction == "tx" and f.data[6:9] == b"\x30\x00\x17"
    ]
    assert len(reads_of_23) == 2  # asked once more, and no more than that
    (registers,) = [u for u in snapshot.unavailable if u.item == "registers"]
    assert registers.reason.startswith("ST23 (current register data): the meter's answer")
    assert "malformed twice" in registers.reason
    assert snapshot.registers == ()
    # Everything else is the meter's truth.
    data = scenario_data("healthy-16s")
    for expected in data["phase"]:
        got = snapshot.phase(expected["name"])
        assert got is not None
        assert got.voltage == pytest.approx(expected["voltage"], abs=0.01)
        assert got.current_angle == pytest.approx(expected["current_angle"], abs=0.01)
    assert snapshot.identity.serial_number == data["meter"]["serial"]
    assert snapshot.clock is not None
    assert {e["code"] for e in data["event"]} <= {e.code for e in snapshot.events}
    assert [u.item for u in snapshot.unavailable] == ["registers"]


def test_one_malformed_answer_costs_one_more_read_and_nothing_else(sim: Any) -> None:
    simulator = sim("healthy-16s", SimOptions(malformed_table=23, malformed_times=1))
    snapshot = C1218Driver(simulator.url).read_snapshot()
    assert_matches_scenario(snapshot, "healthy-16s")


def test_a_malformed_identity_table_ends_the_read_saying_which(sim: Any) -> None:
    simulator = sim("healthy-2s", SimOptions(malformed_table=1))
    outcome = read_once(C1218Driver(simulator.url))
    assert isinstance(outcome.error, DecodeError)
    assert str(outcome.error).startswith("ST1 (manufacturer identification) came back malformed")
    assert outcome.snapshot is None


def test_a_late_answer_past_the_timeout_does_not_put_the_read_out_of_step(sim: Any) -> None:
    # ST23's answer comes 1 s after the request, long after the driver gave up on it (0.6 s):
    # it arrives while the session is being restarted and must not answer Identify.
    simulator = sim("healthy-16s", SimOptions(late_table=23, late_ms=1000))
    outcome = read_once(C1218Driver(simulator.url, FAST))
    assert outcome.ok, outcome.error
    assert outcome.snapshot is not None
    assert_matches_scenario(outcome.snapshot, "healthy-16s")
    assert outcome.stats.restarts == 1


def test_a_late_answer_to_every_restart_names_the_real_cause(sim: Any) -> None:
    # With no restart left, the error says what went wrong, not a confusing symptom.
    simulator = sim("healthy-2s", SimOptions(late_table=23, late_ms=1000))
    no_restarts = C1218Options(link=FAST.link, session=FAST.session.__class__(session_restarts=0))
    outcome = read_once(C1218Driver(simulator.url, no_restarts))
    assert isinstance(outcome.error, SessionLost)
    message = str(outcome.error)
    assert message.startswith("the meter stopped answering after ST22; 7 of 13 items read")
    assert "sent no answer within 0.6 s" in message
    assert outcome.snapshot is not None
    assert outcome.snapshot.incomplete == message


def test_st0_longer_than_one_packet_is_read_in_parts_when_negotiate_is_declined(
    sim: Any,
) -> None:
    simulator = sim("healthy-16s", SimOptions(decline_negotiate=True, mfg_tables=300))
    outcome = read_once(C1218Driver(simulator.url))
    assert outcome.ok, outcome.error
    assert outcome.snapshot is not None
    assert_matches_scenario(outcome.snapshot, "healthy-16s")
    st0 = outcome.snapshot.frames
    sent = [f.data for f in st0 if f.direction == "tx"]
    assert max(len(frame) for frame in sent) <= 64  # single 64-byte packets throughout
    partial_st0 = [d for d in sent if d[6:9] == b"\x3f\x00\x00"]
    assert len(partial_st0) >= 2  # the header, then the rest in parts


@pytest.mark.parametrize("table", [11, 12, 15, 16])
def test_each_inconsistent_standard_route_table_explains_every_dropped_value(
    sim: Any, table: int
) -> None:
    baseline = C1218Driver(sim("healthy-16s").url, profiles=ProfileRegistry(())).read_snapshot()
    simulator = sim("healthy-16s", SimOptions(inconsistent=table))
    faulted = C1218Driver(simulator.url, profiles=ProfileRegistry(())).read_snapshot()
    assert baseline.unavailable == ()

    def values(snapshot: Any) -> set[tuple[str, str]]:
        out = {("register", r.id) for r in snapshot.registers if r.unit != "raw"}
        for name in ("frequency", "temperature_c", "total_active_power", "total_reactive_power"):
            if getattr(snapshot, name) is not None:
                out.add(("site", name))
        for ph in snapshot.phases:
            for name in (
                "voltage",
                "current",
                "voltage_angle",
                "current_angle",
                "power_factor",
                "active_power",
                "reactive_power",
            ):
                if getattr(ph, name) is not None:
                    out.add((ph.phase, name))
        return out

    dropped = values(baseline) - values(faulted)
    assert dropped, "the fault must cost something"
    assert any(f"ST{table}" in u.reason for u in faulted.unavailable), faulted.unavailable
    whole = {u.item for u in faulted.unavailable}
    own = [u for u in faulted.unavailable if u.item.startswith(("present value", "register "))]
    # A dropped value sits under an item that is unavailable as a whole, or has an entry of
    # its own naming the table at fault: never silently missing.
    loose = [d for d in dropped if ("registers" if d[0] == "register" else "phases") not in whole]
    assert len(own) >= len(loose), (loose, faulted.unavailable)
    assert all(u.reason.startswith(("ST11", "ST12", "ST15", "ST16")) for u in own)
    # The values that did come through are still the meter's.
    for ph in faulted.phases:
        ref = baseline.phase(ph.phase)
        assert ref is not None
        if ph.voltage is not None:
            assert ph.voltage == pytest.approx(ref.voltage, abs=0.01)


@pytest.mark.parametrize("scenario", ["healthy-2s", "healthy-16s"])
def test_values_under_combined_noise_are_the_simulators_truth(sim: Any, scenario: str) -> None:
    simulator = sim(
        scenario,
        SimOptions(
            corrupt_rate=0.04,
            drop_rate=0.03,
            busy=1,
            seed=11,
            malformed_table=28,
            malformed_kind="checksum",
            malformed_times=1,
            late_table=52,
            late_ms=900,
        ),
    )
    fast = C1218Options(link=LinkConfig(response_timeout=0.3, traffic_timeout=0.6))
    snapshot = C1218Driver(simulator.url, fast).read_snapshot()
    assert_matches_scenario(snapshot, scenario)
    assert simulator.stats.corrupted_packets > 0


def test_a_mid_read_stall_prints_the_partial_snapshot_exits_1_and_keeps_the_capture(
    sim: Any, tmp_path: Path
) -> None:
    simulator = sim("healthy-16s", SimOptions(stop_after=6, traffic_timeout=0.5))
    capture = tmp_path / "stall.json"
    result = run_cli(
        "read",
        "--port",
        simulator.url,
        "--response-timeout",
        "0.3",
        "--json",
        "--capture",
        str(capture),
    )
    assert result.code == 1
    document = json.loads(result.stdout)
    assert document["incomplete"].startswith("the meter stopped answering after ST21;")
    assert "6 of 13 items read" in document["incomplete"]
    assert document["identity"]["serial_number"] == scenario_data("healthy-16s")["meter"]["serial"]
    assert {u["item"] for u in document["unavailable"]} >= {"registers", "phases", "events"}
    assert result.stderr.startswith("fieldkit: the meter stopped answering after ST21;")
    kept = json.loads(capture.read_text())
    assert kept["result"] == "incomplete"
    assert kept["frames"]
