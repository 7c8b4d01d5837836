"""When the kit trusts the laptop's clock, and when a demand reset is locked out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fieldkit.adjust import AdjustRefused, clock_trust, demand_reset_lockout, run_adjustment
from fieldkit.drivers.base import create_driver
from fieldkit.model import MeterEvent, MeterIdentity, MeterSnapshot

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def trust(source: str = "auto", **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("ntp", lambda: None)
    kw.setdefault("last_sync", None)
    return clock_trust(source, max_server_age=DAY, now=NOW, **kw)  # type: ignore[arg-type]


def test_ntp_synchronised_is_trusted() -> None:
    got = trust(ntp=lambda: True)
    assert got.trusted
    assert "NTP" in got.source
    assert got.reference(NOW) == NOW


@pytest.mark.parametrize(("state", "says"), [(False, "says it is not"), (None, "cannot say")])
def test_ntp_not_synchronised_and_no_sync_is_refused(state: bool | None, says: str) -> None:
    got = trust(ntp=lambda: state)
    assert not got.trusted
    assert says in got.source
    assert "never synced with the office server" in got.source


def test_a_recent_server_time_is_trusted_and_corrects_the_laptop() -> None:
    # The laptop was 3 s fast at the sync an hour ago: the reference is 3 s behind it.
    sync = (NOW - timedelta(hours=1), NOW - timedelta(hours=1) + timedelta(seconds=3))
    got = trust("server", last_sync=sync)
    assert got.trusted
    assert got.correction_seconds == pytest.approx(3.0)
    assert got.reference(NOW) == NOW - timedelta(seconds=3)
    assert "+3.0 s" in got.source


def test_an_old_server_time_or_a_clock_gone_back_is_refused() -> None:
    old = (NOW - 3 * DAY, NOW - 3 * DAY)
    assert "72 h ago" in trust("server", last_sync=old).source
    future = (NOW + DAY, NOW + DAY)
    assert "gone back" in trust("server", last_sync=future).source
    # "ntp" alone never looks at the server's time.
    assert not trust("ntp", last_sync=(NOW, NOW)).trusted


def test_trust_system_clock_is_said_in_the_source() -> None:
    got = trust(trust_system_clock=True, ntp=lambda: False)
    assert got.trusted
    assert got.trust_system_clock
    assert "--trust-system-clock" in got.source


def test_set_clock_is_refused_before_any_session_when_untrusted() -> None:
    driver = create_driver("c1218", "socket://127.0.0.1:9")
    with pytest.raises(AdjustRefused, match="--trust-system-clock"):
        run_adjustment(driver, "set_clock", technician="ann", trust=trust())


def snapshot(*events: MeterEvent) -> MeterSnapshot:
    return MeterSnapshot("c1218", MeterIdentity("FKIT", "SIM", "SN-1"), NOW, events=events)


def test_lockout_from_this_laptop_or_from_the_meter_log() -> None:
    period = timedelta(days=25)
    assert (
        demand_reset_lockout(snapshot(), last_by_this_laptop=None, lockout=period, now=NOW) is None
    )
    said = demand_reset_lockout(
        snapshot(), last_by_this_laptop=NOW - 2 * DAY, lockout=period, now=NOW
    )
    assert said is not None
    assert "this laptop" in said
    recent = MeterEvent(20, "Demand reset", timestamp=NOW - 3 * DAY)
    said = demand_reset_lockout(snapshot(recent), last_by_this_laptop=None, lockout=period, now=NOW)
    assert said is not None
    assert "the meter logged" in said
    old = MeterEvent(20, "Demand reset", timestamp=NOW - 30 * DAY)
    mfg = MeterEvent(20, "vendor 20", timestamp=NOW - DAY, manufacturer=True)
    assert (
        demand_reset_lockout(snapshot(old, mfg), last_by_this_laptop=None, lockout=period, now=NOW)
        is None
    )
    assert (
        demand_reset_lockout(
            snapshot(recent), last_by_this_laptop=NOW, lockout=timedelta(0), now=NOW
        )
        is None
    )
