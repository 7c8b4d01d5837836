"""The C12.18 driver against the simulated meter: real sockets, real ptys, real faults."""

from __future__ import annotations

from typing import Any

import pytest

from fieldkit.drivers.c1218.client import SessionConfig
from fieldkit.drivers.c1218.driver import C1218Driver, C1218Options
from fieldkit.drivers.c1218.link import LinkConfig
from fieldkit.drivers.c1218.services import pad_password
from fieldkit.drivers.errors import SecurityDenied
from fieldkit.model import MeterSnapshot
from simulators.c1218.options import SimOptions
from tests.helpers import scenario_data

pytestmark = pytest.mark.sim


def assert_matches_scenario(snapshot: MeterSnapshot, name: str) -> None:
    """Every value the scenario put in the meter comes back out, scaled and named."""
    data = scenario_data(name)
    meter = data["meter"]
    assert snapshot.identity.manufacturer == meter["manufacturer"]
    assert snapshot.identity.model == meter["model"]
    assert snapshot.identity.serial_number == meter["serial"]
    assert snapshot.identity.meter_id == meter["meter_id"]
    assert snapshot.unavailable == ()
    for expected in data["phase"]:
        got = snapshot.phase(expected["name"])
        assert got is not None
        assert got.voltage == pytest.approx(expected["voltage"], abs=0.01)
        assert got.current == pytest.approx(expected["current"], abs=0.001)
        assert got.voltage_angle == pytest.approx(expected["voltage_angle"], abs=0.01)
        assert got.current_angle == pytest.approx(expected["current_angle"], abs=0.01)
    assert snapshot.frequency == pytest.approx(data.get("site", {}).get("frequency", 60.0))
    kwh = snapshot.register("kwh_delivered")
    assert kwh is not None
    # Registers accumulate from the load while the simulator runs: never below the start.
    assert kwh.value >= data["registers"]["kwh_delivered"]
    assert kwh.value < data["registers"]["kwh_delivered"] + 1
    assert snapshot.clock is not None
    drift = data.get("clock", {}).get("drift_seconds", 0.0)
    # ST52 has one-second resolution: the meter's clock is truncated to the second.
    assert snapshot.clock.drift_seconds == pytest.approx(drift, abs=1.6)
    event_codes = {e.code for e in snapshot.events}
    assert {e["code"] for e in data.get("event", [])} <= event_codes


@pytest.mark.parametrize("scenario", ["healthy-2s", "healthy-16s"])
def test_reads_scenario_over_socket(sim: Any, scenario: str) -> None:
    simulator = sim(scenario)
    snapshot = C1218Driver(simulator.url).read_snapshot()
    assert_matches_scenario(snapshot, scenario)


@pytest.mark.parametrize("scenario", ["healthy-2s", "healthy-16s"])
def test_reads_scenario_over_pty(sim: Any, scenario: str) -> None:
    simulator = sim(scenario, pty=True)
    assert simulator.url.startswith("/dev/")
    snapshot = C1218Driver(simulator.url).read_snapshot()
    assert_matches_scenario(snapshot, scenario)


@pytest.mark.parametrize("scenario", ["healthy-2s", "healthy-16s"])
def test_correct_values_through_corruption_and_busy(sim: Any, scenario: str) -> None:
    simulator = sim(scenario, SimOptions(corrupt_rate=0.05, busy=2, seed=7))
    driver = C1218Driver(simulator.url)
    snapshot = driver.read_snapshot()
    assert_matches_scenario(snapshot, scenario)
    stats = simulator.stats
    assert stats.busy_answers == 2
    assert stats.corrupted_packets > 0  # the faults really happened


def test_negotiated_limits_are_used(sim: Any) -> None:
    # The simulated meter grants at most 256-byte packets: a 16S read needs partial log reads.
    simulator = sim("healthy-16s")
    options = C1218Options(session=SessionConfig(packet_size=2048, max_packets=16))
    driver = C1218Driver(simulator.url, options)
    snapshot = driver.read_snapshot()
    assert_matches_scenario(snapshot, "healthy-16s")
    sent = [f.data for f in snapshot.frames if f.direction == "tx"]
    assert max(len(frame) for frame in sent) <= 256


def test_secured_meter_reads_with_the_reader_password(sim: Any) -> None:
    simulator = sim("secured-2s")
    reader = scenario_data("secured-2s")["security"]["passwords"][0]["text"]
    options = C1218Options(session=SessionConfig(password=pad_password(reader)))
    snapshot = C1218Driver(simulator.url, options).read_snapshot()
    assert_matches_scenario(snapshot, "secured-2s")
    # The password never reaches the frame capture.
    assert all(reader.encode() not in f.data for f in snapshot.frames)


def test_secured_meter_without_password_says_so(sim: Any) -> None:
    simulator = sim("secured-2s")
    with pytest.raises(SecurityDenied, match="--password"):
        C1218Driver(simulator.url).read_snapshot()


def test_wrong_password_is_a_security_error(sim: Any) -> None:
    simulator = sim("secured-2s")
    options = C1218Options(session=SessionConfig(password=pad_password("NOT-IT")))
    with pytest.raises(SecurityDenied, match="password"):
        C1218Driver(simulator.url, options).read_snapshot()


def test_meter_that_stops_mid_read_ends_with_a_driver_error(sim: Any) -> None:
    from fieldkit.drivers.errors import DriverError

    simulator = sim("healthy-16s", SimOptions(stop_after=3, traffic_timeout=0.5))
    fast = C1218Options(link=LinkConfig(response_timeout=0.3, traffic_timeout=0.5))
    with pytest.raises(DriverError):
        C1218Driver(simulator.url, fast).read_snapshot()


def test_spy_url_writes_a_hex_dump_of_the_exchange(sim: Any, tmp_path: Any) -> None:
    simulator = sim("healthy-2s", pty=True)
    dump = tmp_path / "spy.txt"
    snapshot = C1218Driver(f"spy://{simulator.url}?file={dump}").read_snapshot()
    assert_matches_scenario(snapshot, "healthy-2s")
    text = dump.read_text()
    assert "TX   0000  EE 00 00 00 00 01 20 13  10" in text  # Identify, as on the wire
    assert "RTS  active" in text  # probe power: RTS on ...
    assert "DTR  inactive" in text  # ... DTR off


@pytest.mark.parametrize("scenario", ["healthy-2s", "healthy-16s", "reversed-ct-16s"])
def test_meter_without_a_profile_is_read_by_the_standard_route(sim: Any, scenario: str) -> None:
    # A model no profile knows: units and phases come from the meter's own ST11/12/16/27.
    from fieldkit.drivers.c1218.profile import ProfileRegistry

    simulator = sim(scenario)
    with_profile = C1218Driver(simulator.url).read_snapshot()
    without = C1218Driver(simulator.url, profiles=ProfileRegistry(())).read_snapshot()
    assert without.unavailable == ()
    for expected in scenario_data(scenario)["phase"]:
        got, ref = without.phase(expected["name"]), with_profile.phase(expected["name"])
        assert got is not None
        assert ref is not None
        assert got.voltage == pytest.approx(ref.voltage)
        assert got.current == pytest.approx(ref.current)
        assert got.voltage_angle == pytest.approx(ref.voltage_angle)
        assert got.current_angle == pytest.approx(ref.current_angle)
        assert got.active_power == pytest.approx(ref.active_power)
    assert without.frequency == pytest.approx(with_profile.frequency)
    assert without.total_active_power == pytest.approx(with_profile.total_active_power)
    for reg in ("kwh_delivered", "kwh_received", "kw_demand_max"):
        a, b = without.register(reg), with_profile.register(reg)
        assert a is not None
        assert b is not None
        assert a.unit == b.unit
        assert a.value == pytest.approx(b.value, abs=0.01)


def test_profile_pointing_at_a_missing_manufacturer_table_says_which(
    sim: Any, tmp_path: Any
) -> None:
    from fieldkit.drivers.c1218.profile import ProfileRegistry, builtin_profile_dir

    # A utility's own profile for the 2S adds a temperature from MT62, which this meter
    # does not have: that item is unavailable, named as MT62, and the rest is read.
    own = (builtin_profile_dir() / "fkit-sim-2s.toml").read_text()
    own += '\n[[quantity]]\nname = "temperature_c"\ntable = 2110\noffset = 0\ntype = "i16"\n'
    (tmp_path / "site.toml").write_text(own)
    simulator = sim("healthy-2s")
    snapshot = C1218Driver(
        simulator.url, profiles=ProfileRegistry.from_dirs(tmp_path)
    ).read_snapshot()
    reasons = {u.item: u.reason for u in snapshot.unavailable}
    assert "MT62" in reasons["phases"]
    assert "ST2110" not in reasons["phases"]
    assert snapshot.phase("A") is not None
