"""The office's other pages in headless Chromium: the weekly report and its CSV download,
and a work order created, dispatched and cancelled through the forms."""

from __future__ import annotations

import csv
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import VISITS, Office, log_in, screenshot

pytestmark = pytest.mark.sim


def test_the_report_shows_the_week_and_exports_the_same_rows_as_csv(
    page_for: Any, office: Office
) -> None:
    page = page_for()
    log_in(page, "olga")
    page.click("header nav >> text=Reports")
    page.wait_for_url("**/reports")
    rows = page.locator("table.report tbody tr")
    assert rows.count() >= 1
    assert "demo-tech" in rows.first.inner_text()
    # The chart is drawn on the server: one bar segment per technician and week.
    bars = page.locator("svg.chart rect.bar")
    assert sum(int(bars.nth(i).get_attribute("data-value")) for i in range(bars.count())) == len(
        VISITS
    )
    screenshot(page, "reports")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    assert download.value.suggested_filename.startswith("fieldkit-report-")
    saved = download.value.path()
    assert saved is not None
    with Path(saved).open(newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert [r["technician"] for r in exported] == ["demo-tech"] * rows.count()
    assert sum(int(r["visits"]) for r in exported) == len(VISITS)
    outcomes = Counter(outcome for _, _, outcome in VISITS)
    for code, count in outcomes.items():
        assert sum(int(r[f"outcome_{code}"]) for r in exported) == count
    with sqlite3.connect(office.db) as connection:
        failed = connection.execute(
            "SELECT count(*) FROM visit_checks WHERE status = 'fail'"
        ).fetchone()[0]
    assert sum(int(r["checks_failed"]) for r in exported) == failed
    # The page's table and the file agree row by row.
    for i, row in enumerate(exported):
        cells = rows.nth(i).locator("td")
        assert cells.nth(2).inner_text() == row["visits"]


def test_a_work_order_is_created_dispatched_and_cancelled(page_for: Any, office: Office) -> None:
    page = page_for()
    log_in(page, "olga")
    page.click("header nav >> text=Work orders")
    page.wait_for_url("**/work-orders")
    page.click("details.create summary")
    page.fill("input[name=meter_number]", "M2S-0012345")
    page.select_option("form[action='/work-orders'] select[name=kind]", "high_bill")
    page.select_option("form[action='/work-orders'] select[name=priority]", "high")
    page.select_option("form[action='/work-orders'] select[name=technician]", "demo-tech")
    page.fill("input[name=work_order_id]", "WO-BROWSER-1")
    page.fill("textarea[name=notes]", "Bill doubled since October")
    page.click("form[action='/work-orders'] button[type=submit]")
    page.wait_for_url("**/work-orders/WO-BROWSER-1?done=created")
    assert page.locator(".notice").inner_text() == "WO-BROWSER-1 created."
    facts = page.locator("dl.facts").inner_text()
    assert "dispatched" in facts
    assert "demo-tech" in facts
    assert "Bill doubled since October" in facts
    screenshot(page, "work-order")

    page.click("text=Cancel this work order")
    page.wait_for_url("**/work-orders/WO-BROWSER-1?done=cancelled")
    assert page.locator("dd.wo-cancelled").inner_text() == "cancelled"
    # Cancelling again is refused in one line, and nothing changes.
    page.click("text=Cancel this work order")
    assert page.locator("p.error").inner_text() == (
        "Not cancelled: WO-BROWSER-1 is cancelled: the office cancelled this work order"
    )
    page.goto("/work-orders?status=cancelled")
    assert "WO-BROWSER-1" in page.locator("table.work-orders").inner_text()
    with sqlite3.connect(office.db) as connection:
        audited = connection.execute(
            "SELECT action, actor_id FROM audit_log WHERE entity_id = 'WO-BROWSER-1' ORDER BY seq"
        ).fetchall()
        fed = connection.execute(
            "SELECT f.op, f.reason FROM feed f JOIN work_orders w ON w.id = f.work_order_pk "
            "WHERE w.work_order_id = 'WO-BROWSER-1' ORDER BY f.seq"
        ).fetchall()
    assert audited == [
        ("work_order.create", "olga"),
        ("work_order.assign", "olga"),
        ("work_order.cancel", "olga"),
    ]
    assert fed == [("upsert", None), ("remove", "cancelled")]


def test_the_admin_sees_users_devices_and_a_verified_audit_chain(
    page_for: Any, office: Office
) -> None:
    page = page_for()
    log_in(page, "ada")
    page.click("header nav >> text=Admin")
    page.wait_for_url("**/admin")
    assert "olga" in page.locator("table.users").inner_text()
    devices = page.locator("table.devices").inner_text()
    assert "van 7" in devices
    assert "demo-tech" in devices
    screenshot(page, "admin")
    # An enrolment code is shown once: reloading the page it lands on makes no new one.
    page.select_option("form[action='/admin/enroll-codes'] select[name=technician]", "demo-tech")
    page.click("text=Make an enrolment code")
    page.wait_for_url("**/admin#enroll-code")
    code = page.locator("#enroll-code").inner_text()
    assert len(code) == 14
    with sqlite3.connect(office.db) as connection:
        made = connection.execute("SELECT count(*) FROM enroll_codes").fetchone()[0]
    page.reload()
    assert page.locator("#enroll-code").count() == 0
    assert code not in page.content()
    with sqlite3.connect(office.db) as connection:
        assert connection.execute("SELECT count(*) FROM enroll_codes").fetchone()[0] == made
    page.click("text=Audit log")
    page.wait_for_url("**/admin/audit")
    with sqlite3.connect(office.db) as connection:
        entries = connection.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    assert page.locator(".chain-ok").inner_text() == f"Chain verified, {entries} entries."
    page.click("text=Check the whole chain")
    page.wait_for_url("**/admin/audit?done=checked")
    assert page.locator(".chain-ok").inner_text() == f"Chain verified, {entries} entries."
    assert f"by ada: intact, {entries} entries" in page.locator("form.card").inner_text()
    screenshot(page, "admin-audit")
