"""The app on the whole demo system (fieldkit.demo_system, as ``fieldkit demo`` starts it): a
real ``syncserver serve`` seeded from the example CIS files, the simulated meters the example
orders name, and a laptop enrolled and synced — driven by a Pilot from the order list to the
office having the visit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Input, Select, TextArea

from fieldkit.cli.tui import laptop_app
from fieldkit.demo_system import DemoSystem
from fieldkit.tui.app import FieldkitApp
from fieldkit.tui.screens.adjust import AdjustScreen
from fieldkit.tui.screens.checks import ChecksScreen
from fieldkit.tui.screens.close import CloseScreen
from fieldkit.tui.screens.connect import ConnectScreen
from fieldkit.tui.screens.dialogs import ConfirmDialog
from fieldkit.tui.screens.site import SiteScreen
from fieldkit.tui.screens.sync import SyncScreen
from fieldkit.tui.screens.work_orders import WorkOrdersScreen
from tests.tui.helpers import screen_text, text_of, until
from tests.tui.test_visit import _choose_outcome

pytestmark = [pytest.mark.anyio, pytest.mark.sim]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSystem]:
    system = DemoSystem(tmp_path_factory.mktemp("demo") / "home")
    system.start()
    yield system
    system.stop()


@pytest.fixture
def app(demo: DemoSystem, monkeypatch: pytest.MonkeyPatch) -> FieldkitApp:
    """The app exactly as ``fieldkit demo`` runs it, on the demo laptop."""
    for name, value in demo.laptop_env.items():
        monkeypatch.setenv(name, value)
    built = laptop_app()
    built.port_lister = list  # this machine's serial ports are not the test's business
    return built


async def _open_order(app: FieldkitApp, pilot: Any, order: str) -> None:
    await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"), what="orders")
    await pilot.press("slash", *order.rsplit("-", 1)[1])  # its number: unique here
    await until(pilot, lambda: text_of(app, "#wo-status").startswith("1 of"), what=order)
    await pilot.press("enter", "enter")  # the search is done; open the one order
    await until(pilot, lambda: isinstance(app.screen, SiteScreen), what="site")
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, ConnectScreen), what="connect")


def _office(demo: DemoSystem) -> httpx.Client:
    demo._syncserver("create-user", "olga", "--role", "office", stdin="office-pass\n")
    token = demo._syncserver("create-token", "olga").strip()
    return httpx.Client(
        base_url=demo.server_url + "/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


async def test_a_whole_visit_from_the_office_order_to_the_office_having_it(
    demo: DemoSystem, app: FieldkitApp
) -> None:
    order = "WO-2026-10403"  # M16-0054321 at 31 Main Street: the healthy-16s meter
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        shown = screen_text(app)
        assert "WO-2026-10401" not in shown or "17 Mill Road" in shown
        assert "24 Depot Street" in shown  # the orders came from the office's CIS import
        assert "never synced" not in text_of(app, "#indicator")
        await pilot.press("slash", *"10403")
        await until(pilot, lambda: text_of(app, "#wo-status").startswith("1 of"))
        await pilot.press("enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        shown = screen_text(app)
        for fact in ("103-1243-07", "31 Main Street", "16S", "3ph-4w-wye", "51230.7 kWh"):
            assert fact in shown
        await until(pilot, lambda: "None saved" in text_of(app, "#site-visits-status"))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen))
        meter = next(m for m in demo.meters if m.meter_number == "M16-0054321")
        # The demo told the laptop where this meter is: the form is filled in.
        assert app.screen.query_one("#connect-port", Input).value == meter.url
        assert app.screen.query_one("#connect-protocol", Select).value == "c1218"
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), 30, "checks")
        assert text_of(app, "#checks-verdict").startswith("PASS")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("ctrl+y")
        await until(pilot, lambda: "done" in text_of(app, "#adjust-message"), 20, "reset")
        await pilot.press("escape")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        assert "1 adjustment(s) tried, 1 done" in text_of(app, "#close-summary")
        await _choose_outcome(app, pilot, "resolved")
        app.screen.query_one("#close-notes", TextArea).focus()
        await pilot.press(*"good")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED as" in text_of(app, "#close-status"))
        short = text_of(app, "#close-status").split("SAVED as ")[1].split()[0]
        await until(pilot, lambda: "1 pending" in text_of(app, "#indicator"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen))
        await until(pilot, lambda: f"visit {order} at meter M16-0054321" in screen_text(app))
        assert "pending" in screen_text(app)
        await pilot.press("s")
        await until(pilot, lambda: "Synced:" in text_of(app, "#sync-message"), 30, "sync")
        assert text_of(app, "#sync-message").startswith("Synced: 1 sent,")
        assert text_of(app, "#sync-message").endswith("0 rejected.")
        assert text_of(app, "#sync-summary").startswith("Last sync: ")
        await until(pilot, lambda: "0 pending" in text_of(app, "#indicator"))
        assert f"visit {order}" not in screen_text(app)

    office = _office(demo)
    [summary] = office.get("/visits", params={"work_order": order}).json()
    assert summary["visit_id"].startswith(short)
    assert (summary["technician"], summary["account_number"]) == ("demo-tech", "103-1243-07")
    whole = office.get(f"/visits/{summary['visit_id']}").json()["document"]
    assert whole["outcome"] == "resolved"
    assert [(a["kind"], a["result"]) for a in whole["adjustments"]] == [("demand_reset", "done")]
    assert [n["text"] for n in whole["notes"]] == ["good"]


# The default run reads one of each kind; FIELDKIT_DEMO_ALL_METERS=1 reads all twelve (~50 s).
SAMPLE = {"reversed-ct-16s", "secured-2s", "wrong-meter-2s", "healthy-2s"}


@pytest.mark.slow
async def test_every_ordered_meter_answers_the_app_as_the_demo_set_it_up(
    demo: DemoSystem, app: FieldkitApp
) -> None:
    """Each example order whose meter the demo simulates is read from the filled-in form:
    Modbus meters with their map, the secured meter with the kept password."""
    every = os.environ.get("FIELDKIT_DEMO_ALL_METERS") == "1"
    orders = {
        "M2S-0034567": "WO-2026-10401",
        "M16-0087654": "WO-2026-10402",
        "M16-0054321": "WO-2026-10403",
        "M2S-0012345": "WO-2026-10404",
        "M2S-0056789": "WO-2026-10405",
        "M2S-0045678": "WO-2026-10406",
        "M16-0076543": "WO-2026-10407",
        "M16-0065432": "WO-2026-10408",
        "M2S-0023456": "WO-2026-10409",
        "M2S-0078901": "WO-2026-10410",
        "M16-0098765": "WO-2026-10411",
        "M2S-0012399": "WO-2026-10412",
    }
    assert {m.meter_number for m in demo.meters} == set(orders)
    assert {m.protocol for m in demo.meters} == {"c1218", "modbus"}
    async with app.run_test(size=(120, 40)) as pilot:
        for meter in (m for m in demo.meters if every or m.scenario in SAMPLE):
            await _open_order(app, pilot, orders[meter.meter_number])
            form = app.screen
            assert form.query_one("#connect-protocol", Select).value == meter.protocol
            if meter.protocol == "modbus":
                assert form.query_one("#connect-map", Select).value == meter.settings["map"]
            if meter.scenario == "secured-2s":
                box = form.query_one("#connect-password", Input)
                await until(pilot, lambda: box.value != "", what="the kept password")  # noqa: B023
            await pilot.press("f5")
            await until(pilot, lambda: isinstance(app.screen, ChecksScreen), 30, meter.scenario)
            shown = screen_text(app)
            assert "INCOMPLETE READ" not in shown, meter.scenario
            if meter.scenario == "wrong-meter-2s":
                assert "WRONG METER?" in shown
            for _ in range(3):  # checks → connect → site → drop this read visit?
                await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="drop?")
            await pilot.press("ctrl+y")
            await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen), what="back")
            await pilot.press("escape")  # leave the search
            await pilot.pause()


def test_the_demo_home_holds_the_office_and_the_laptop(demo: DemoSystem) -> None:
    assert (demo.office / "server.db").is_file()
    assert (Path(demo.laptop_env["FIELDKIT_HOME"]) / "fieldkit.db").is_file()
    # The meter passwords are in the laptop's secrets, never in the links file.
    links = (Path(demo.laptop_env["FIELDKIT_HOME"]) / "meter-links.json").read_text()
    assert "READER01" not in links
    assert "M2S-0023456" in links


async def test_a_visit_the_office_refuses_shows_as_rejected_with_the_offices_reason(
    demo: DemoSystem, app: FieldkitApp
) -> None:
    # A nameplate number pasted twice over: longer than any meter number the office keeps.
    pasted = "M2S-0012345" * 7
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#adhoc-meter", Input).value = pasted
        app.screen.query_one("#adhoc-voltage", Input).value = "240"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        await _choose_outcome(app, pilot, "no_access")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED as" in text_of(app, "#close-status"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen))
        await pilot.press("s")
        await until(pilot, lambda: "Synced:" in text_of(app, "#sync-message"), 30, "sync")
        assert text_of(app, "#sync-message").endswith(", 1 rejected.")
        # Not just "rejected": the sync message above already says it, before the row paints.
        reason = "invalid_document: the meter number is too long"
        await until(pilot, lambda: reason in screen_text(app), what="the rejected row's reason")
        assert "1 rejected" in text_of(app, "#indicator")
