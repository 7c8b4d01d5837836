"""The meter's own state: identity, clock, status flags, frequency, temperature."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fieldkit.model import (
    CheckStatus,
    ClockReading,
    MeterIdentity,
    ServiceType,
    SiteExpectation,
    StatusFlags,
    Unavailable,
)

from .test_checks_support import FAIL, PASS, READ_AT, SKIP, WARN, causes_text, check, expect

# --- meter_identity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["0012345678", "12345678", " 12345678 ", "98765432"],  # ST5 id (padded or not), or serial
)
def test_identity_matches_meter_id_or_serial(number: str) -> None:
    r = check("meter_identity", expectation=SiteExpectation(meter_number=number))
    assert r.status is PASS, r.message


def test_identity_mismatch_shows_both_numbers() -> None:
    r = check("meter_identity", expectation=SiteExpectation(meter_number="55555555"))
    assert r.status is FAIL
    assert "55555555" in r.message
    assert "12345678" in r.message
    assert "different meter" in causes_text(r)


def test_identity_letters_compare_case_blind_but_not_loosely() -> None:
    ident = MeterIdentity("FKIT", "SIM", "AB00123", meter_id="ab00123\x00\x00")
    r = check("meter_identity", expectation=SiteExpectation(meter_number="AB00123"), identity=ident)
    assert r.status is PASS
    other = check(
        "meter_identity", expectation=SiteExpectation(meter_number="AB0123"), identity=ident
    )
    assert other.status is FAIL


def test_identity_skips_without_a_meter_number() -> None:
    assert check("meter_identity").status is SKIP


# --- clock_drift -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drift", "status"),
    [
        (0.0, PASS),
        (60.0, PASS),
        (-60.0, PASS),
        (61.0, WARN),
        (-61.0, WARN),
        (240.0, WARN),
        (241.0, FAIL),
        (-241.0, FAIL),
    ],
)
def test_clock_drift_limits(drift: float, status: CheckStatus) -> None:
    assert check("clock_drift", drift_s=drift).status is status


@pytest.mark.parametrize(
    ("drift", "uncertainty", "status"),
    [
        (61.0, 0.0, WARN),
        (61.0, 1.5, PASS),  # within the read's own blur of the 60 s limit: not proven
        (62.0, 1.5, WARN),
        (241.0, 1.5, WARN),
        (242.0, 1.5, FAIL),
        (-242.0, 1.5, FAIL),
    ],
)
def test_clock_drift_limits_allow_for_the_reading_uncertainty(
    drift: float, uncertainty: float, status: CheckStatus
) -> None:
    clock = ClockReading(
        READ_AT + timedelta(seconds=drift), READ_AT, uncertainty_seconds=uncertainty
    )
    r = check("clock_drift", clock=clock)
    assert r.status is status
    if uncertainty:
        assert f"±{uncertainty:.1f} s" in (r.measured or "")


def test_clock_drift_says_fast_or_slow() -> None:
    assert "75 s fast" in check("clock_drift", drift_s=75.0).message
    assert "300 s slow" in check("clock_drift", drift_s=-300.0).message


def test_an_hour_off_points_at_daylight_saving() -> None:
    r = check("clock_drift", drift_s=3600.0)
    assert r.status is FAIL
    assert "daylight-saving" in causes_text(r)


def test_drift_with_a_battery_flag_blames_the_battery() -> None:
    r = check("clock_drift", drift_s=500.0, flags={"low_battery"})
    assert causes_text(r).startswith("battery")


def test_clock_not_read_skips() -> None:
    assert check("clock_drift", clock=None).status is SKIP


# --- status_flags ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag",
    [
        "ram_failure",
        "rom_failure",
        "nonvolatile_memory_failure",
        "self_check_error",
        "measurement_error",
        "tamper_detect",
        "reverse_rotation",
    ],
)
def test_failure_flags_fail(flag: str) -> None:
    r = check("status_flags", flags={flag})
    assert r.status is FAIL
    assert flag in r.message


@pytest.mark.parametrize("flag", ["low_battery", "clock_error", "demand_overload", "power_failure"])
def test_warning_flags_warn(flag: str) -> None:
    r = check("status_flags", flags={flag})
    assert r.status is WARN
    assert r.likely_causes


def test_fail_wins_and_both_are_listed() -> None:
    r = check("status_flags", flags={"low_battery", "tamper_detect"})
    assert r.status is FAIL
    assert "tamper_detect" in r.message
    assert "low_battery" in r.message


def test_reverse_rotation_is_expected_with_net_metering() -> None:
    r = check(
        "status_flags",
        expectation=SiteExpectation(net_metering=True),
        flags={"reverse_rotation"},
    )
    assert r.status is PASS
    assert "net-metering" in r.message


def test_meter_left_in_test_mode_warns() -> None:
    r = check("status_flags", status=StatusFlags(test_mode=True))
    assert r.status is WARN
    assert "test mode" in r.message


def test_no_status_read_skips() -> None:
    r = check("status_flags", status=None)
    assert r.status is SKIP
    assert r.message == "the meter's status (ST3) was not read"


def test_a_modbus_meter_without_status_registers_is_not_told_about_st3() -> None:
    # ST3 is a C12.19 table: on a Modbus read the words were wrong, and the driver's own
    # reason (its map has no status registers) was not passed on.
    r = check(
        "status_flags",
        status=None,
        protocol="modbus",
        unavailable=(Unavailable("status", "the map has no status registers"),),
    )
    assert r.status is SKIP
    assert r.message == "the meter's status flags were not read: the map has no status registers"


# --- frequency -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hz", "status"),
    [
        (60.0, PASS),
        (60.1, PASS),
        (59.9, PASS),
        (60.11, WARN),
        (59.89, WARN),
        (60.5, WARN),
        (59.5, WARN),
        (60.51, FAIL),
        (59.49, FAIL),
    ],
)
def test_frequency_bands(hz: float, status: CheckStatus) -> None:
    assert check("frequency", frequency=hz).status is status


def test_wild_frequency_points_at_an_ungrounded_pt_neutral() -> None:
    r = check("frequency", frequency=137.0)
    assert r.status is FAIL
    assert "pt neutral not grounded" in causes_text(r)


def test_frequency_not_reported_skips() -> None:
    assert check("frequency", frequency=None).status is SKIP


# --- meter_temperature -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "status"),
    [(35.0, PASS), (69.9, PASS), (70.0, WARN), (89.9, WARN), (90.0, FAIL), (110.0, FAIL)],
)
def test_hot_socket_limits(celsius: float, status: CheckStatus) -> None:
    r = check("meter_temperature", temperature_c=celsius)
    assert r.status is status
    if status is not PASS:
        assert "socket" in causes_text(r)


def test_no_temperature_skips() -> None:
    r = check("meter_temperature", temperature_c=None)
    assert r.status is SKIP
    assert "does not report" in r.message


def test_checks_never_need_a_work_order_service_to_judge_the_meter_itself() -> None:
    r = check("meter_temperature", expectation=expect(ServiceType.WYE), temperature_c=95.0)
    assert r.status is FAIL
