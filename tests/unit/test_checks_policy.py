"""Policy files: defaults, overrides, and a clear error naming the bad key."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from fieldkit.checks import CHECK_IDS, DEFAULT_POLICY, PolicyError, Thresholds, load_policy, run
from fieldkit.checks.policy import parse_policy
from fieldkit.model import ServiceType

from .test_checks_support import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    check,
    expect,
    healthy_phases,
    phase,
    result,
    snapshot,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "policy.example.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_check_has_a_policy_section_with_enabled() -> None:
    for check_id in CHECK_IDS:
        section = getattr(DEFAULT_POLICY, check_id)
        assert section.enabled is True


def test_example_file_holds_every_key_at_its_default() -> None:
    assert load_policy(EXAMPLE) == DEFAULT_POLICY
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section in fields(Thresholds):
        keys = {f.name for f in fields(getattr(DEFAULT_POLICY, section.name))}
        assert set(data[section.name]) == keys, section.name


def test_a_good_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[clock_drift]\nwarn_seconds = 30\n\n[service_voltage]\nrange_a_pct = 3.0\n"
        '[events]\nwarn_categories = ["tamper"]\n',
    )
    policy = load_policy(path)
    assert policy.clock_drift.warn_seconds == 30.0
    assert policy.clock_drift.fail_seconds == DEFAULT_POLICY.clock_drift.fail_seconds
    assert policy.service_voltage.range_a_pct == 3.0
    assert policy.events.warn_categories == ("tamper",)
    assert policy.frequency == DEFAULT_POLICY.frequency


def test_a_changed_threshold_changes_the_verdict(tmp_path: Path) -> None:
    phases = [
        phase("A", 124.0, 0.0, 10, 0),
        phase("B", 120, 120, 10, 120),
        phase("C", 120, 240, 10, 240),
    ]
    work_order = expect(ServiceType.WYE)
    snap_default = check("service_voltage", phases, work_order)
    assert snap_default.status is PASS  # 3.3 % is inside the default ±5 %
    strict = load_policy(_write(tmp_path, "[service_voltage]\nrange_a_pct = 3.0\n"))
    assert result(run(snapshot(phases), work_order, strict), "service_voltage").status is WARN


def test_disabled_check_skips_with_the_reason(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, "[frequency]\nenabled = false\n"))
    results = run(snapshot(frequency=75.0), expect(), policy)
    r = result(results, "frequency")
    assert r.status is SKIP
    assert r.message == "disabled by policy"
    assert [x.id for x in results] == list(CHECK_IDS)


def test_unknown_key_names_file_section_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "[clock_drift]\nwarn_secs = 30\n")
    with pytest.raises(PolicyError, match=r"policy\.toml: \[clock_drift\] unknown key 'warn_secs'"):
        load_policy(path)


def test_unknown_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"unknown section \[voltage\]"):
        load_policy(_write(tmp_path, "[voltage]\nrange_a_pct = 5\n"))


def test_wrong_type_reads_like_the_brief(tmp_path: Path) -> None:
    path = _write(tmp_path, '[service_voltage]\nrange_a_pct = "x"\n')
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value) == f"{path}: [service_voltage] range_a_pct must be a number, got 'x'"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[frequency]\nenabled = 1\n", "[frequency] enabled must be true or false, got 1"),
        ("[frequency]\nwarn_hz = true\n", "[frequency] warn_hz must be a number, got True"),
        ('[events]\nwarn_categories = "tamper"\n', "warn_categories must be a list of names"),
        ('[events]\nwarn_categories = ["gremlins"]\n', "unknown category 'gremlins'"),
        ('[status_flags]\nfail_flags = ["on_fire"]\n', "unknown flag 'on_fire'"),
        ("enabled = false\n", "unknown key 'enabled' at the top level"),
    ],
)
def test_wrong_types_and_names_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, text))
    assert fragment in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "policy.toml"))


NONSENSE = [
    (
        "[clock_drift]\nwarn_seconds = 300\n",
        "[clock_drift] warn_seconds (300) must not exceed fail_seconds (240)",
    ),
    (
        "[voltage_imbalance]\nwarn_pct = 4\n",
        "[voltage_imbalance] warn_pct (4) must not exceed fail_pct (3)",
    ),
    (
        "[meter_temperature]\nwarn_c = 95\n",
        "[meter_temperature] warn_c (95) must not exceed fail_c (90)",
    ),
    ("[frequency]\npass_hz = 1.0\n", "[frequency] pass_hz (1) must not exceed warn_hz (0.5)"),
    (
        "[service_voltage]\nrange_a_pct = 10\n",
        "[service_voltage] range_a_pct (10) must not exceed range_b_low_pct",
    ),
    (
        "[service_voltage]\nlost_phase_pct = 95\n",
        "[service_voltage] lost_phase_pct (95) must be below",
    ),
    (
        "[phase_angle]\nenvelope_deg = 120\n",
        "[phase_angle] envelope_deg (120) must not exceed [polarity]",
    ),
    (
        "[general]\nlow_current_floor_a = 0\n",
        "[general] low_current_floor_a must be greater than 0",
    ),
    (
        "[service_type]\nangle_tolerance_deg = 45\n",
        "[service_type] angle_tolerance_deg must be above 0 and below 30",
    ),
    ('[status_flags]\nwarn_flags = ["tamper_detect"]\n', "repeats 'tamper_detect'"),
]


@pytest.mark.parametrize(("text", "fragment"), NONSENSE)
def test_nonsense_values_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, text))
    assert fragment in str(err.value)


def test_broken_toml_and_missing_file_are_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(_write(tmp_path, "[clock_drift\nwarn_seconds = 1\n"))
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "nowhere.toml")


def test_parse_policy_takes_a_plain_mapping() -> None:
    policy = parse_policy({"meter_temperature": {"warn_c": 65}}, source="work-order 17")
    assert policy.meter_temperature.warn_c == 65.0
    with pytest.raises(PolicyError, match=r"^work-order 17: "):
        parse_policy({"meter_temperature": {"warn_c": "hot"}}, source="work-order 17")


def test_policy_floor_changes_which_elements_are_judged() -> None:
    phases = healthy_phases(ServiceType.WYE, amps=0.5)
    default = result(run(snapshot(phases), expect(ServiceType.WYE)), "polarity")
    assert default.status is PASS
    high_floor = parse_policy({"general": {"low_current_floor_a": 1.0}})
    raised = result(run(snapshot(phases), expect(ServiceType.WYE), high_floor), "polarity")
    assert raised.status is SKIP
    assert FAIL not in {
        r.status for r in run(snapshot(phases), expect(ServiceType.WYE), high_floor)
    }
