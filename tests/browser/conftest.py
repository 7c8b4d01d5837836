"""The office pages in headless Chromium against a real ``syncserver serve``.

Once for this package's tests (not per session: see ``browser``): a SQLite database under
tmp with the example CIS files, an office user (olga), an admin (ada) and a technician
(demo-tech), made with tests/server's helpers; the technician's laptop enrols through the
real API, simulated meters of several scenarios are read by the real driver and judged by
the real checks (the clock-drift meter also on three earlier days, ``HISTORY``), and the
visits are pushed through the real push API. Then the server runs
as a subprocess on 127.0.0.1 and Playwright drives Debian's chromium (never a downloaded
build).

Without chromium or Playwright the tests skip with the reason, unless
``FIELDKIT_REQUIRE_CHROMIUM=1`` (``.ci/run`` sets it): then they fail. With
``FIELDKIT_SCREENSHOTS=DIR`` the tests save PNG screenshots of the main pages into DIR
(``docs/office-guide`` for the office guide).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldkit.sync.schema import Outcome
from syncserver.db.engine import Database
from syncserver.db.migrate import upgrade
from tests.helpers import field_visit
from tests.server.conftest import EXAMPLES, PASSWORD, add_user, enroll_code, import_file
from tests.syncserver_process import ServerProcess

CHROMIUM = "/usr/bin/chromium"

# (scenario, work order it answers, how the technician closed it). The work orders are the
# example CIS file's, for the scenario's meter.
VISITS: list[tuple[str, str, Outcome]] = [
    ("healthy-2s", "WO-2026-10404", "resolved"),
    ("reversed-ct-16s", "WO-2026-10408", "follow_up"),
    ("clock-drift-2s", "WO-2026-10401", "resolved"),
    ("tamper-2s", "WO-2026-10410", "follow_up"),
    ("missing-phase-16s", "WO-2026-10407", "replace_meter"),
    ("low-voltage-2s", "WO-2026-10406", "customer_side"),
]

# The clock-drift meter's earlier visits, so that its history page has a history: the same
# meter read by the same driver on earlier days, its clock running away (3 s, 21 s, 48 s:
# each still a pass, under the 60 s warning) and its register counting about 26 kWh a day up
# to the 12,044 kWh of today's visit, each against the billed read of 30 days before it.
HISTORY_METER = "M2S-0034567"
HISTORY: list[tuple[float, float, float]] = [  # (days ago, drift s, kWh delivered)
    (270.0, 3.0, 9_700.0),
    (180.0, 21.0, 10_480.0),
    (90.0, 48.0, 11_260.0),
]


@dataclass(frozen=True)
class Office:
    """The running server and what the tests know about its data."""

    url: str
    db: str
    visits: dict[str, str]
    """Scenario name → the visit id its push created."""


def _enroll_and_push(url: str, code: str) -> dict[str, str]:
    api = httpx.Client(base_url=url + "/api/v1", timeout=30.0)
    enrolled = api.post(
        "/devices/enroll",
        json={"schema_version": 1, "document": "enroll_request", "code": code,
              "device_name": "van 7"},
    )  # fmt: skip
    assert enrolled.status_code == 200, enrolled.text
    device, token = enrolled.json()["device_id"], enrolled.json()["token"]
    ids: dict[str, str] = {}
    ops = []
    for days_ago, drift, kwh in HISTORY:
        changes = {
            "clock": {"drift_seconds": drift},
            "registers": {"kwh_delivered": kwh},
            "work_order": {"last_read_kwh": kwh - 780.0, "last_visit_days_ago": 90},
        }
        earlier = field_visit(
            "clock-drift-2s", None, "resolved", changes=changes, days_ago=days_ago
        )
        ops.append({"op_id": earlier["op_id"], "kind": "visit", "document": earlier})
    for scenario, work_order, outcome in VISITS:
        document = field_visit(scenario, work_order, outcome)
        ids[scenario] = document["visit_id"]
        ops.append({"op_id": document["op_id"], "kind": "visit", "document": document})
    answer = api.post(
        "/sync/push",
        json={"schema_version": 1, "document": "sync_push", "device_id": device, "ops": ops},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    statuses = [r["status"] for r in answer.json()["results"]]
    assert statuses == ["applied"] * len(ops), answer.text
    return ids


def _chromium() -> str | None:
    """Debian's chromium: /usr/bin/chromium, or the first ``chromium`` on PATH."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _playwright_problem() -> str | None:
    if _chromium() is None:
        return f"no chromium at {CHROMIUM} or on PATH (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Playwright for Python is not installed: {exc}"
    return None


# Package scope, not session: while Playwright's sync API is alive it marks its event loop
# as running in the main thread, and every asyncio test after it (the app's Pilot tests
# under anyio) would fail with "Cannot run the event loop while another loop is running".
# Chromium and the office server stop once the last test of tests/browser has run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (for the tests of this package)."""
    problem = _playwright_problem()
    if problem is not None:
        if os.environ.get("FIELDKIT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"the browser tests need chromium here: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def office(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Office]:
    """``syncserver serve`` on the example data with the field visits pushed."""
    folder = tmp_path_factory.mktemp("office")
    db = str(folder / "server.db")
    database = Database(db)
    upgrade(database)
    for name, role in (("demo-tech", "technician"), ("olga", "office"), ("ada", "admin")):
        add_user(database, name, role)
    import_file(database, EXAMPLES / "cis-accounts.csv", "accounts")
    import_file(database, EXAMPLES / "cis-work-orders.csv", "work_orders")
    code = enroll_code(database, "demo-tech")
    database.dispose()
    server = ServerProcess(db, folder / "server.log")
    server.start()
    try:
        ids = _enroll_and_push(server.url, code)
        yield Office(server.url, db, ids)
    finally:
        server.stop()


@pytest.fixture
def page_for(browser: Any, office: Office) -> Iterator[Any]:
    """``page_for(width, height)``: a fresh browser context (no cookies) and its page."""
    contexts: list[Any] = []

    def open_page(width: int = 1366, height: int = 768, **options: Any) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=office.url, **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def log_in(page: Any, name: str) -> None:
    """Sign ``name`` in through the login form, as a person would."""
    page.goto("/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/exceptions**")


def screenshot(page: Any, name: str) -> None:
    """Save the page (whole) or a locator's element as ``NAME.png`` in
    ``$FIELDKIT_SCREENSHOTS`` (nothing when unset)."""
    folder = os.environ.get("FIELDKIT_SCREENSHOTS")
    if not folder:
        return
    target = Path(folder)
    if not target.is_absolute():
        target = Path(__file__).resolve().parents[2] / target
    target.mkdir(parents=True, exist_ok=True)
    whole = {"full_page": True} if hasattr(page, "goto") else {}
    page.screenshot(path=str(target / f"{name}.png"), **whole)
