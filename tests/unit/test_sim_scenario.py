"""Scenario files: every shipped one is valid and consistent; bad ones fail in one line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fieldkit.model import ServiceType
from simulators.c1218.physics import instruments
from simulators.scenario import (
    ScenarioError,
    list_scenarios,
    load_scenario,
    parse_scenario,
    resolve_scenario_path,
)

SHIPPED = [
    "clock-drift-2s",
    "crossed-phase-16s",
    "healthy-16s",
    "healthy-2s",
    "hot-socket-2s",
    "low-voltage-16s",
    "low-voltage-2s",
    "missing-phase-16s",
    "reversed-ct-16s",
    "secured-2s",
    "tamper-2s",
    "voltage-imbalance-16s",
    "wrong-meter-2s",
]

MINIMAL = 'name = "m"\n[[phase]]\nname = "A"\nvoltage = 240\ncurrent = 1\n'


def test_every_scenario_the_brief_names_is_shipped() -> None:
    assert list_scenarios() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_is_valid_and_named_like_its_file(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.description
    assert scenario.work_order is not None


@pytest.mark.parametrize("name", SHIPPED)
def test_work_order_matches_the_meter(name: str) -> None:
    scenario = load_scenario(name)
    order = scenario.work_order
    assert order is not None
    assert order.service_type == scenario.meter.service_type
    assert order.form == scenario.meter.form
    if name == "wrong-meter-2s":
        assert order.meter_number != scenario.meter.meter_id
    else:
        assert order.meter_number == scenario.meter.meter_id


@pytest.mark.parametrize("name", SHIPPED)
def test_registers_grow_plausibly_since_the_last_read(name: str) -> None:
    scenario = load_scenario(name)
    order = scenario.work_order
    assert order is not None
    assert order.last_read_kwh is not None
    assert order.last_read_days_ago
    per_day = (scenario.registers.kwh_delivered - order.last_read_kwh) / order.last_read_days_ago
    assert 20 <= per_day <= 40
    assert scenario.registers.kwh_received == 0
    assert not order.net_metering
    assert instruments(scenario).total_active_power > 1000  # clearly delivering


@pytest.mark.parametrize("name", [n for n in SHIPPED if n.startswith("healthy")])
def test_healthy_sites_sit_well_inside_the_limits(name: str) -> None:
    scenario = load_scenario(name)
    meter = instruments(scenario)
    nominal = scenario.work_order.nominal_voltage if scenario.work_order else 0
    currents = [e.current for e in meter.elements]
    average = sum(currents) / len(currents)
    for element in meter.elements:
        assert abs(element.voltage / nominal - 1) < 0.02
        assert abs(element.current / average - 1) <= 0.15
        assert 0.92 <= element.power_factor <= 0.97
    assert abs(scenario.clock.drift_seconds) <= 5
    assert scenario.site.frequency == 60.0
    assert not scenario.status.flags


def test_16s_scenarios_faults_are_where_the_brief_puts_them() -> None:
    reversed_ct = {p.name: p for p in load_scenario("reversed-ct-16s").phase}
    assert math.isclose((reversed_ct["B"].current_angle - 120.0) % 360, 198.0)
    missing = {p.name: p for p in load_scenario("missing-phase-16s").phase}
    assert missing["C"].voltage == 0
    assert missing["C"].current > 5
    crossed = {p.name: p for p in load_scenario("crossed-phase-16s").phase}
    assert (crossed["B"].voltage_angle, crossed["C"].voltage_angle) == (240.0, 120.0)
    volts = [p.voltage for p in load_scenario("voltage-imbalance-16s").phase]
    average = sum(volts) / 3
    assert max(abs(v - average) for v in volts) / average > 0.03
    assert all(abs(v / 120 - 1) <= 0.05 for v in volts)


def test_2s_scenarios_faults() -> None:
    assert load_scenario("clock-drift-2s").clock.drift_seconds == 540
    assert load_scenario("low-voltage-2s").phase[0].voltage == 216
    assert load_scenario("hot-socket-2s").site.temperature_c == 95
    tamper = load_scenario("tamper-2s")
    assert set(tamper.status.flags) == {"tamper_detect", "reverse_rotation"}
    assert 47 in {e.code for e in tamper.event}
    secured = load_scenario("secured-2s").security
    assert sorted(p.level for p in secured.passwords) == [1, 2, 3]
    assert (secured.level_for_procedure(9), secured.level_for_procedure(10)) == (3, 2)
    assert load_scenario("healthy-2s").security.level_for_procedure(9) == 0  # no passwords


def test_defaults_of_a_minimal_file() -> None:
    scenario = parse_scenario(MINIMAL)
    assert scenario.link.max_packet_size == 256
    assert scenario.link.max_packets == 4
    assert scenario.link.bauds == (9600, 19200, 38400, 57600)
    assert scenario.link.traffic_timeout == 6.0
    assert scenario.meter.service_type is ServiceType.ONE_PHASE_3W
    assert scenario.site.temperature_c == 35.0
    assert scenario.clock.utc


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "[meter]\ncolour = 'red'\n", "t.toml: meter.colour: unknown key"),
        (MINIMAL + "[meter]\ndata_order = 'middle'\n", "t.toml: meter.data_order: "),
        (MINIMAL + "[meter]\nni_format1 = 5\n", "t.toml: meter.ni_format1: NI format 5"),
        (MINIMAL + "[link]\nbauds = [9601]\n", "t.toml: link.bauds: 9601 is not a C12.18"),
        (MINIMAL + "[status]\nflags = ['on_fire']\n", "t.toml: status.flags: unknown status"),
        (MINIMAL + "[[event]]\ncode = 1\nargument = 'xyz'\n", "t.toml: event[0].argument:"),
        (MINIMAL + "[clock]\nutc = false\n", "t.toml: clock: utc = false needs a timezone"),
        (MINIMAL + "[site]\nfrequency = nan\n", "t.toml: site.frequency:"),
        ('name = "m"\n', "t.toml: phase: required key is missing"),
        (
            MINIMAL.replace('"A"', '"B"'),
            "t.toml: phase: SIM-2S measures elements ['A']",
        ),
        ("name = ", "t.toml: not valid TOML"),
        (
            MINIMAL + "[security]\npasswords = [{ text = 'x', hex = '00' }]\n",
            "t.toml: security.passwords[0]: give exactly one of text or hex",
        ),
        (
            MINIMAL + "[[phase]]\nname = 'B'\nvoltage = -1\ncurrent = 1\n",
            "t.toml: phase[1].voltage:",
        ),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="t.toml")
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(message), line


def test_resolve_by_name_and_by_path(tmp_path: Path) -> None:
    assert resolve_scenario_path("healthy-2s").name == "healthy-2s.toml"
    own = tmp_path / "mine.toml"
    own.write_text(MINIMAL)
    assert load_scenario(str(own)).name == "m"
    assert load_scenario(own).name == "m"


def test_unknown_name_lists_what_exists() -> None:
    with pytest.raises(ScenarioError, match=r"no scenario called 'nope' .*healthy-2s"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario("missing/file.toml")


def test_password_padding_rules() -> None:
    text = MINIMAL + (
        "[security]\npasswords = [{ text = 'AB', padding = 'space' }, { hex = '0102' }]\n"
    )
    spaced, binary = parse_scenario(text).security.passwords
    assert spaced.accepts(b"AB".ljust(20, b" "))
    assert not spaced.accepts(b"AB".ljust(20, b"\x00"))
    assert binary.accepts(b"\x01\x02".ljust(20, b"\x00"))
    assert not binary.accepts(b"\x01\x02".ljust(20, b" "))
