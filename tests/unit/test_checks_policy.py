"""Policy files: defaults, overrides, and a clear error naming the bad key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from fieldkit.checks import CHECK_IDS, DEFAULT_POLICY, PolicyError, Thresholds, load_policy, run
from fieldkit.checks.policy import ClassFloors, parse_policy
from fieldkit.model import METER_CLASSES, ServiceType

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
    for name in Thresholds.model_fields:
        section = getattr(DEFAULT_POLICY, name)
        # Keys whose default is "unset" (the global overrides) are shown commented out.
        keys = {k for k in type(section).model_fields if getattr(section, k) is not None}
        assert set(data[name]) == keys, name


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
    assert str(err.value) == f"{path}: [service_voltage] range_a_pct: must be a number, got 'x'"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[frequency]\nenabled = 1\n", "[frequency] enabled: must be true or false, got 1"),
        ("[frequency]\nwarn_hz = true\n", "[frequency] warn_hz: must be a number, got True"),
        (
            '[events]\nwarn_categories = "tamper"\n',
            "[events] warn_categories: must be a list of names",
        ),
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
        "[clock_drift] warn_seconds: must not exceed fail_seconds (300 > 240)",
    ),
    (
        "[voltage_imbalance]\nwarn_pct = 4\n",
        "[voltage_imbalance] warn_pct: must not exceed fail_pct (4 > 3)",
    ),
    (
        "[meter_temperature]\nwarn_c = 95\n",
        "[meter_temperature] warn_c: must not exceed fail_c (95 > 90)",
    ),
    ("[frequency]\npass_hz = 1.0\n", "[frequency] pass_hz: must not exceed warn_hz (1 > 0.5)"),
    (
        "[service_voltage]\nrange_a_pct = 10\n",
        "[service_voltage] range_a_pct: must not exceed range_b_low_pct (10 > 8.33333)",
    ),
    (
        "[service_voltage]\nlost_phase_pct = 95\n",
        "[service_voltage] lost_phase_pct: must be below the bottom of Range B (95 >= ",
    ),
    (
        "[phase_angle]\nenvelope_deg = 120\n",
        "[phase_angle] envelope_deg: must not exceed [polarity] tolerance_deg (120 > 90)",
    ),
    (
        "[general]\nlow_current_floor_a = 0\n",
        "[general] low_current_floor_a: must be greater than 0, got 0",
    ),
    (
        "[service_type]\nangle_tolerance_deg = 45\n",
        "[service_type] angle_tolerance_deg: must be above 0 and below 30, got 45",
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


def test_every_meter_class_has_a_floor() -> None:
    assert set(ClassFloors.model_fields) == {f"CL{n}" for n in METER_CLASSES}
    # 0.5 % of the class (SiteScan's lowest setting), the derivation docs/checks.md gives.
    for n in METER_CLASSES:
        assert DEFAULT_POLICY.light_load.floor_a.of(f"CL{n}") == pytest.approx(n * 0.005)


def test_one_class_floor_keeps_the_others(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, "[light_load]\nfloor_a = { CL200 = 2.0 }\n"))
    assert policy.light_load.floor_a.CL200 == 2.0
    assert policy.light_load.floor_a.CL20 == DEFAULT_POLICY.light_load.floor_a.CL20
    table = load_policy(_write(tmp_path, "[light_load.floor_a]\nCL20 = 0.2\n"))
    assert table.light_load.floor_a.CL20 == 0.2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[light_load]\nfloor_a = { CL250 = 1.0 }\n",
            "[light_load] floor_a: unknown key 'CL250' (known: CL10, CL100, CL150, CL2, CL20, "
            "CL200, CL320, CL480)",
        ),
        (
            "[light_load]\nfloor_a = { CL200 = -1 }\n",
            "[light_load] floor_a.CL200: must be greater than 0, got -1",
        ),
        ("[light_load]\nfloor_a = 1.0\n", "[light_load] floor_a: must be a table, got 1.0"),
        ("[light_load]\nlight_pct = 150\n", "[light_load] light_pct: must be below 100, got 150"),
        (
            "[general]\nlow_current_floor_a = 0.2\n[light_load]\nfloor_a = { CL20 = 0.1 }\n",
            "[general] low_current_floor_a: set together with [light_load] floor_a",
        ),
        ("general = 3\n", "general must be a table [general], got 3"),
    ],
)
def test_light_load_keys_are_checked(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, text))
    assert str(err.value).startswith(f"{tmp_path / 'policy.toml'}: {message}")
    assert "\n" not in str(err.value)


def test_old_global_floor_and_light_limit_still_load(tmp_path: Path) -> None:
    # Policy files written before the floor followed the class keep their meaning.
    path = _write(
        tmp_path,
        "[general]\nlow_current_floor_a = 0.3\n[inactive_phase_current]\nlight_load_a = 2.0\n",
    )
    policy = load_policy(path)
    assert policy.general.low_current_floor_a == 0.3
    assert policy.inactive_phase_current.light_load_a == 2.0


def test_thresholds_are_frozen() -> None:
    with pytest.raises(ValidationError):
        DEFAULT_POLICY.clock_drift.warn_seconds = 5.0  # type: ignore[misc]
