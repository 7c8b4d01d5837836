"""Text from the meter, the office or the technician is shown exactly as written.

Textual reads a plain ``str`` in a DataTable cell, an option, a toast or a Static (unless
told otherwise) as markup: ``[m16]`` vanished and ``[/b]`` raised MarkupError, which took
the app down mid-visit. Every place the app shows such text is walked here with both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from textual.widgets import Input

from fieldkit import store
from fieldkit.drivers.ports import PortInfo
from fieldkit.sync.client import Rejection
from fieldkit.sync.laptop import LaptopOutbox
from fieldkit.tui.screens.checks import ChecksScreen
from fieldkit.tui.screens.connect import ConnectScreen
from fieldkit.tui.screens.dialogs import AdHocDialog
from fieldkit.tui.screens.site import SiteScreen
from fieldkit.tui.screens.sync import SyncScreen
from fieldkit.tui.services import SyncReport, VisitRecord
from tests.tui.helpers import (
    FIXED_NOW,
    ORDERS,
    ReplayDriver,
    fixture_snapshot,
    make_app,
    replay_factory,
    screen_text,
    seeded_store,
    text_of,
    until,
)

pytestmark = pytest.mark.anyio

METER = "[m16]-0054321"
NOTE = "dog in yard [/b] ring [m16] first"
PORT = "socket://127.0.0.1:5000/[/b]"
PROBE = "[/b] USB optical [m16]"
WARNING = "user profile [/b] unreadable"
REASON = "meter [/b] number [m16] unknown"
# An order whose every field a CIS export could fill with brackets.
ORDER = replace(
    ORDERS[0],
    meter_number=METER,
    account_number="[b]200-0193-11",
    service_address="[/] 900 Mill Road",
    notes="gate code [/b] 1234",
)


class Office:
    """A sync client standing for an office that refuses, in its own words."""

    def __init__(self, error: str) -> None:
        self.error = error

    def last_sync(self) -> None:
        return None

    def pending(self) -> int:
        return 0

    def sync_now(self) -> SyncReport:
        return SyncReport(error=self.error)


def _warning_factory(driver: ReplayDriver) -> Any:
    """The replay driver, with a driver warning said as the driver is built."""
    build = replay_factory(driver)

    def factory(
        protocol: str, port: str, settings: Mapping[str, Any] | None = None, **runtime: Any
    ) -> ReplayDriver:
        if "on_warning" in runtime:
            runtime["on_warning"](WARNING)
        built: ReplayDriver = build(protocol, port, settings)
        return built

    return factory


async def test_a_visit_shows_brackets_from_the_order_the_meter_and_the_notes_as_written() -> None:
    real = seeded_store((ORDER,))
    real.save_visit(
        VisitRecord(
            meter_number=METER,
            work_order_id=ORDER.work_order_id,
            started_at=FIXED_NOW,
            closed_at=FIXED_NOW,
            outcome="follow_up",
            notes=NOTE,
            result=None,
        )
    )
    driver = ReplayDriver(fixture_snapshot())
    app = make_app(driver_factory=_warning_factory(driver), store=real, last_port=PORT)
    app.port_lister = lambda: [PortInfo("/dev/ttyUSB0", PROBE, 0x0403, 0x6001, None, None)]
    app.sync_client = Office("the office said [/b] no")
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"), what="orders")
        shown = screen_text(app)
        for words in (METER, "[b]200-0193-11", "[/] 900 Mill Road", "gate code [/b] 1234"):
            assert words in shown
        await pilot.press("slash", *"[/b]zz")
        await until(pilot, lambda: "No order matches" in text_of(app, "#wo-status"))
        assert "No order matches '[/b]zz' (of 1 open)." in screen_text(app)
        app.screen.query_one("#wo-filter", Input).value = ""
        await pilot.press("escape", "enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen), what="site")
        await until(pilot, lambda: "1 saved" in text_of(app, "#site-visits-status"))
        assert NOTE in screen_text(app)
        # The sync fails elsewhere: its toast quotes the office's words.
        app.sync_now()
        await until(pilot, lambda: "the office said [/b] no" in screen_text(app), what="toast")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen), what="connect")
        await until(pilot, lambda: PROBE in screen_text(app), what="the probe's own name")
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="checks")
        shown = screen_text(app)
        assert f"probe: {PORT}: read complete" in shown
        # The order names a meter the replayed read is not: the check quotes the order.
        assert METER in text_of(app, "#checks-wrong-meter")
        table_line = next(line for line in shown.splitlines() if "meter identity" in line)
        assert METER in table_line
        assert WARNING in shown  # the driver's warning, as a toast


async def test_the_sync_screen_shows_the_offices_reason_as_written() -> None:
    real = seeded_store((ORDER,))
    real.save_visit(
        VisitRecord(
            meter_number=METER,
            work_order_id=ORDER.work_order_id,
            started_at=FIXED_NOW,
            closed_at=FIXED_NOW,
            outcome="no_access",
            notes="",
            result=None,
        )
    )
    [op] = [i.item_id for i in real.sync_items()]
    with store.database(real._path) as db:
        LaptopOutbox(db).mark([], [Rejection(op, "invalid_document", REASON)])
    app = make_app(store=real)
    app.sync_client = Office("unreachable [/b]")
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"), what="orders")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen), what="sync")
        await until(pilot, lambda: app.screen.query_one("#sync-items").row_count == 1)
        await pilot.pause()
        shown = screen_text(app)
        assert f"invalid_document: {REASON}" in shown
        assert f"at meter {METER}" in shown
        await pilot.press("s")
        await until(pilot, lambda: "Sync failed" in text_of(app, "#sync-message"), what="end")
        assert "failed: unreachable [/b]" in text_of(app, "#indicator")


async def test_an_ad_hoc_form_quotes_what_was_typed_as_typed() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"), what="orders")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, AdHocDialog), what="ad-hoc")
        app.screen.query_one("#adhoc-meter", Input).value = METER
        app.screen.query_one("#adhoc-voltage", Input).value = "[/b]"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "volts" in text_of(app, "#adhoc-error"), what="the error")
        assert "nominal voltage: '[/b]' is not a number of volts" in screen_text(app)
