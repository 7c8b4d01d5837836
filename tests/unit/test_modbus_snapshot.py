"""Derived angles, settings and the factory: what the Modbus driver builds before any I/O."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from fieldkit.drivers.base import create_driver
from fieldkit.drivers.errors import DriverSettingsError, PortError
from fieldkit.drivers.modbus.driver import split_port
from fieldkit.drivers.modbus.maps import load_map
from fieldkit.drivers.modbus.snapshot import build_snapshot, derive_current_angle, fold_pf_4q


def _phasor(volts: float, amps: float, shift_deg: float) -> tuple[float, float, float]:
    """P, Q, PF of a current ``shift_deg`` behind its voltage (lagging positive)."""
    s = volts * amps
    p = s * math.cos(math.radians(shift_deg))
    q = s * math.sin(math.radians(shift_deg))
    return p, q, p / s


@pytest.mark.parametrize("shift", [0.0, 17.0, 60.0, 89.0, 120.0, 180.0, 200.0, 300.0, 343.0])
@pytest.mark.parametrize("voltage_angle", [0.0, 120.0, 240.0])
def test_current_angle_from_pf_and_signs(shift: float, voltage_angle: float) -> None:
    p, q, pf = _phasor(120.0, 10.0, shift)
    got = derive_current_angle(voltage_angle, power_factor=pf, active_power=p, reactive_power=q)
    assert got is not None
    want = (voltage_angle + shift) % 360
    assert min(abs(got - want), 360 - abs(got - want)) < 1e-6


def test_angle_without_pf_uses_p_and_q() -> None:
    p, q, _ = _phasor(120.0, 10.0, 150.0)
    got = derive_current_angle(0.0, power_factor=None, active_power=p, reactive_power=q)
    assert got == pytest.approx(150.0)


def test_no_angle_without_reactive_power_or_without_power() -> None:
    assert (
        derive_current_angle(0.0, power_factor=0.9, active_power=100.0, reactive_power=None) is None
    )
    assert derive_current_angle(0.0, power_factor=1.0, active_power=0.0, reactive_power=0.0) is None


def test_pf_4q_folding() -> None:
    assert fold_pf_4q(0.9) == pytest.approx(0.9)  # Q1
    assert fold_pf_4q(1.1) == pytest.approx(0.9)  # Q4
    assert fold_pf_4q(-0.9) == pytest.approx(-0.9)  # Q2
    assert fold_pf_4q(-1.1) == pytest.approx(-0.9)  # Q3


def test_snapshot_marks_derived_angles_and_follows_rotation() -> None:
    m = load_map("eastron-sdm630")
    values: dict[tuple[str, str | None], float | str] = {}
    for name, shift in (("A", 17.0), ("B", 19.0), ("C", 18.0)):
        p, q, pf = _phasor(120.0, 10.0, shift)
        values |= {
            ("voltage", name): 120.0,
            ("current", name): 10.0,
            ("active_power", name): p,
            ("reactive_power", name): q,
            ("power_factor", name): pf,
        }
    at = datetime(2025, 1, 1, tzinfo=UTC)
    snap = build_snapshot(m, values, read_at=at)
    b = snap.phase("B")
    assert b is not None
    assert b.voltage_angle == 120.0
    assert b.current_angle == pytest.approx(139.0)
    assert b.derived == frozenset({"voltage_angle", "current_angle"})
    acb = build_snapshot(m, values, read_at=at, rotation="ACB").phase("B")
    assert acb is not None
    assert acb.current_angle == pytest.approx(259.0)
    assert snap.total_active_power == pytest.approx(sum(p.active_power or 0 for p in snap.phases))


def test_without_reactive_power_the_angle_is_unavailable() -> None:
    m = load_map("eastron-sdm630")
    snap = build_snapshot(
        m,
        {("voltage", "A"): 120.0, ("current", "A"): 5.0, ("power_factor", "A"): 0.9},
        read_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    a = snap.phase("A")
    assert a is not None
    assert a.current_angle is None
    assert a.derived == frozenset({"voltage_angle"})
    assert any(u.item == "current_angle A" for u in snap.unavailable)


# --- settings and the factory --------------------------------------------------------------------


def test_factory_builds_a_modbus_driver() -> None:
    driver = create_driver(
        "modbus", "socket://127.0.0.1:1", {"map": "eastron-sdm630", "device_id": 7}
    )
    assert driver.protocol == "modbus"
    assert driver.port == "socket://127.0.0.1:1"
    tcp = create_driver("modbus", "tcp://127.0.0.1", {"map": "schneider-pm5100", "parity": "even"})
    assert tcp.protocol == "modbus"


@pytest.mark.parametrize(
    ("settings", "setting", "words"),
    [
        ({}, "map", "register map"),
        ({"map": "nope"}, "map", "no map called 'nope'"),
        ({"map": "eastron-sdm630", "device_id": 0}, "device_id", "greater than or equal to 1"),
        ({"map": "eastron-sdm630", "device_id": 248}, "device_id", "less than or equal to 247"),
        ({"map": "eastron-sdm630", "baud": 9601}, "baud", "not a Modbus speed"),
        ({"map": "eastron-sdm630", "parity": "mark"}, "parity", "not a parity"),
        ({"map": "eastron-sdm630", "stop_bits": 3}, "stop_bits", "1 or 2"),
        ({"map": "eastron-sdm630", "retries": 9}, "retries", "less than or equal to 5"),
        ({"map": "eastron-sdm630", "password": "x"}, "password", "not a Modbus setting"),
    ],
)
def test_bad_settings_name_the_setting(
    settings: dict[str, object], setting: str, words: str
) -> None:
    with pytest.raises(DriverSettingsError) as caught:
        create_driver("modbus", "/dev/ttyUSB0", settings)
    assert caught.value.setting == setting
    assert words in caught.value.problem


def test_ports() -> None:
    assert split_port("tcp://10.0.0.5:1502") == ("tcp", "socket://10.0.0.5:1502")
    assert split_port("tcp://meter.local") == ("tcp", "socket://meter.local:502")
    assert split_port("socket://127.0.0.1:9") == ("rtu", "socket://127.0.0.1:9")
    assert split_port("/dev/ttyUSB0") == ("rtu", "/dev/ttyUSB0")
    with pytest.raises(PortError, match="tcp://HOST:PORT"):
        split_port("tcp://:99999")
