"""An office user's morning in headless Chromium: log in, the exceptions queue and its
filters, a visit with its phasor diagram, its review status, the report's CSV; and the
pages at an office screen's and a tablet's size."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import HISTORY, Office, log_in, screenshot
from tests.server.conftest import PASSWORD

pytestmark = pytest.mark.sim


def no_horizontal_overflow(page: Any) -> None:
    """The page fits its viewport's width (nothing to scroll sideways)."""
    scroll, width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= width, f"the page is {scroll}px wide in a {width}px viewport"


def test_logged_out_users_are_sent_to_the_login_page(page_for: Any, office: Office) -> None:
    page = page_for()
    page.goto("/exceptions?check=polarity")
    assert "/login" in page.url
    assert page.locator("input[name=username]").is_visible()
    screenshot(page, "login")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.content()
    # The right password lands on the page first asked for, filter and all.
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/exceptions?check=polarity")
    assert page.locator("select[name=check]").input_value() == "polarity"


def test_the_exceptions_queue_lists_the_field_problems_and_filters(
    page_for: Any, office: Office
) -> None:
    page = page_for()
    log_in(page, "olga")
    rows = page.locator("table.exceptions tbody tr")
    # Every faulty site is in the queue; the healthy one is not.
    assert rows.count() == 5
    text = page.locator("table.exceptions").inner_text()
    for meter in ("M16-0065432", "M2S-0034567", "M2S-0078901", "M16-0076543", "M2S-0045678"):
        assert meter in text
    assert "M2S-0012345" not in text
    screenshot(page, "exceptions")
    no_horizontal_overflow(page)

    page.select_option("select[name=check]", "polarity")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**check=polarity**")
    assert rows.count() == 1
    assert "M16-0065432" in rows.first.inner_text()
    assert "polarity" in rows.first.inner_text()

    page.select_option("select[name=check]", "")
    page.select_option("select[name=kind]", "tamper")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**kind=tamper**")
    assert rows.count() == 1
    assert "M2S-0078901" in rows.first.inner_text()

    # A date range before any visit: an empty queue that says so.
    page.goto("/exceptions?since=2020-01-01&until=2020-01-31")
    assert rows.count() == 0
    assert "matches these filters" in page.locator("main").inner_text()


@pytest.mark.parametrize(
    ("width", "height", "name"), [(1366, 768, "office screen"), (820, 1180, "tablet")]
)
def test_the_queue_fits_an_office_screen_and_a_tablet(
    page_for: Any, office: Office, width: int, height: int, name: str
) -> None:
    page = page_for(width, height)
    log_in(page, "olga")
    assert page.locator("table.exceptions tbody tr").count() == 5
    no_horizontal_overflow(page)
    if name == "tablet":
        screenshot(page, "exceptions-tablet")


def test_a_visit_shows_its_phasors_and_its_review_is_saved_and_audited(
    page_for: Any, office: Office
) -> None:
    page = page_for()
    log_in(page, "olga")
    # From the queue to the reversed-CT visit, as a reviewer clicks through.
    page.select_option("select[name=check]", "polarity")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**check=polarity**")
    page.click("table.exceptions tbody tr >> a")
    visit_id = office.visits["reversed-ct-16s"]
    page.wait_for_url(f"**/visits/{visit_id}")
    assert page.locator("h1").inner_text().startswith(f"Visit {visit_id}")

    # The phasor diagram is an SVG in the page: three voltages, three currents measured,
    # and the wye's expected positions drawn faint behind them.
    svg = page.locator("svg.phasor")
    assert svg.is_visible()
    assert svg.locator("line.measured.voltage").count() == 3
    assert svg.locator("line.measured.current").count() == 3
    assert svg.locator(".expected").count() >= 3
    box = svg.bounding_box()
    assert box is not None
    assert box["width"] > 150
    assert box["height"] > 150
    verdicts = page.locator("table.verdicts").inner_text()
    assert "polarity" in verdicts
    assert "fail" in verdicts
    assert "WO-2026-10408" in page.locator("#identity ~ dl").inner_text()
    screenshot(page, "visit")
    screenshot(page.locator("section.card:has(svg.phasor)"), "phasor")

    # The frame capture downloads through the browser as a capture document.
    with page.expect_download() as download:
        page.click("text=Download the frame capture")
    saved = download.value.path()
    assert saved is not None
    capture = json.loads(Path(saved).read_text())
    assert capture["document"] == "capture"
    assert capture["frames"]

    # Change the review status with a comment; it is there after a reload.
    page.select_option("select[name=status]", "action_needed")
    page.fill("textarea[name=comment]", "Send the meter shop: CT on phase B reversed.")
    page.click("#review button[type=submit]")
    page.wait_for_load_state()
    page.reload()
    assert page.locator(".review-status").inner_text() == "action_needed"
    assert "CT on phase B reversed" in page.locator("ul.comments").inner_text()
    assert "olga" in page.locator("ul.comments").inner_text()
    screenshot(page, "visit-review")
    # The queue shows the new status, and the audit log holds the change.
    page.goto("/exceptions?review_status=action_needed")
    assert page.locator("table.exceptions tbody tr").count() == 1
    with sqlite3.connect(office.db) as connection:
        audited = connection.execute(
            "SELECT actor_id, detail FROM audit_log WHERE action = 'visit.review' "
            "AND entity_id = ?",
            (visit_id,),
        ).fetchall()
    assert [(actor, json.loads(detail)) for actor, detail in audited] == [
        ("olga", {"from": "new", "to": "action_needed"})
    ]


def test_the_pages_read_without_javascript(page_for: Any, office: Office) -> None:
    page = page_for(java_script_enabled=False)
    log_in(page, "olga")
    assert page.locator("table.exceptions tbody tr").count() == 5
    page.goto(f"/visits/{office.visits['missing-phase-16s']}")
    verdicts = page.locator("table.verdicts").inner_text()
    assert "service_voltage" in verdicts
    assert page.locator("svg.phasor line.measured.voltage").count() >= 2
    assert "replace_meter" in page.locator("#identity ~ dl").inner_text()


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (800, 1100)])
def test_search_an_account_open_it_and_its_meter_history_plot(
    page_for: Any, office: Office, width: int, height: int
) -> None:
    page = page_for(width, height)
    log_in(page, "olga")
    page.click("nav >> text=Search")
    page.fill("input[name=q]", "lindqvist")
    page.click("button:has-text('Search')")
    if width == 1366:
        screenshot(page, "search")
    page.click("table.accounts >> text=101-1533-14")
    assert "/accounts/101-1533-14" in page.url
    assert "James Lindqvist" in page.inner_text("main")
    no_horizontal_overflow(page)
    if width == 1366:
        screenshot(page, "account")
    page.click("table.meters >> text=M2S-0034567")
    assert "/meters/M2S-0034567" in page.url
    drift = page.locator("svg.plot").first
    assert drift.is_visible()
    assert "Clock drift" in drift.inner_html()
    # Today's visit and the three before it, oldest on the left; the clock ran away.
    visits = len(HISTORY) + 1
    assert f"All {visits} visits, oldest on the left" in page.inner_text("#trends ~ p")
    assert drift.locator("circle").count() == visits
    changed = page.locator("table.changes tbody tr")
    assert [changed.nth(i).inner_text().split("\t")[:3] for i in range(changed.count())] == [
        ["clock_drift", "pass", "fail"]
    ]
    assert page.locator("section[aria-labelledby=visits] tbody tr").count() == visits
    no_horizontal_overflow(page)
    if width == 1366:
        screenshot(page, "meter-history")
