"""A worker that raises something nobody expected ends in one line on its screen.

Each worker handles the errors it expects (ServiceError, DriverError); anything else ended
the worker silently: the list stayed on "Loading…", a save on "Saving…" with Ctrl+S
refused, the adjust screen busy (Esc refused) for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from textual.widgets import Select

from fieldkit.tui.screens.adjust import AdjustScreen
from fieldkit.tui.screens.checks import ChecksScreen
from fieldkit.tui.screens.close import CloseScreen
from fieldkit.tui.screens.connect import ConnectScreen
from fieldkit.tui.screens.dialogs import ConfirmDialog
from fieldkit.tui.screens.site import SiteScreen
from fieldkit.tui.screens.sync import SyncScreen
from fieldkit.tui.services import SyncReport
from tests.tui.helpers import (
    ReplayDriver,
    fixture_snapshot,
    make_app,
    replay_factory,
    saved_visits,
    seeded_store,
    text_of,
    until,
)

pytestmark = pytest.mark.anyio

FAULT = "disk on fire"


class BrokenOnce:
    """The real store, with ``broken`` raising a RuntimeError the first time it is called."""

    def __init__(self, real: Any, broken: str) -> None:
        self._real, self._broken, self.raised = real, broken, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if name != self._broken:
            return method

        def once(*args: Any, **kwargs: Any) -> Any:
            if not self.raised:
                self.raised += 1
                raise RuntimeError(FAULT)
            return method(*args, **kwargs)

        return once


class SwitchedFactory:
    """The replay driver, or (once ``broken``) a factory that raises RuntimeError.

    The app's warm-up builds a throwaway driver on its own port: that one always works.
    """

    def __init__(self, driver: ReplayDriver) -> None:
        self._replay = replay_factory(driver)
        self.broken = False

    def __call__(
        self, protocol: str, port: str, settings: Mapping[str, Any] | None = None, **runtime: Any
    ) -> Any:
        if self.broken and port != "socket://127.0.0.1:9":
            raise RuntimeError(FAULT)
        return self._replay(protocol, port, settings, **runtime)


async def _orders(pilot: Any) -> None:
    await until(pilot, lambda: "open orders" in text_of(pilot.app, "#wo-status"), what="orders")


async def test_the_work_order_list_says_it_could_not_load_and_r_tries_again() -> None:
    app = make_app(store=BrokenOnce(seeded_store(), "open_work_orders"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: FAULT in text_of(app, "#wo-status"), what="the failure")
        assert text_of(app, "#wo-status") == (
            f"Could not load the work orders: {FAULT}; r tries again."
        )
        await pilot.press("r")
        await _orders(pilot)


async def test_the_site_says_it_could_not_read_the_previous_visits() -> None:
    app = make_app(store=BrokenOnce(seeded_store(), "previous_visits"))
    async with app.run_test(size=(80, 24)) as pilot:
        await _orders(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        await until(pilot, lambda: FAULT in text_of(app, "#site-visits-status"))
        assert text_of(app, "#site-visits-status").startswith(
            f"Could not read the previous visits: {FAULT}; "
        )


async def test_the_sync_screen_says_it_could_not_read_the_outbox() -> None:
    app = make_app(store=BrokenOnce(seeded_store(), "sync_items"))
    async with app.run_test(size=(80, 24)) as pilot:
        await _orders(pilot)
        app.store.raised = 0  # the indicator's read came first; the screen's own fails
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen))
        await until(pilot, lambda: FAULT in text_of(app, "#sync-message"))
        assert text_of(app, "#sync-message").startswith(
            f"Could not read the outbox and the last sync: {FAULT}; "
        )


async def test_a_save_that_raises_says_not_saved_and_ctrl_s_saves_it_then() -> None:
    driver = ReplayDriver(fixture_snapshot())
    real = seeded_store()
    app = make_app(
        driver_factory=replay_factory(driver),
        last_port=driver.port,
        store=BrokenOnce(real, "save_visit"),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await _orders(pilot)
        await pilot.press("enter", "c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen))
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="checks")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        app.screen.query_one("#close-outcome", Select).value = "resolved"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "NOT SAVED" in text_of(app, "#close-status"))
        assert text_of(app, "#close-status") == (
            f"NOT SAVED: {FAULT}. Nothing is lost here; Ctrl+S tries again."
        )
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED as" in text_of(app, "#close-status"))
    assert len(saved_visits(real)) == 1


async def test_a_read_that_raises_says_so_and_f5_reads_again() -> None:
    factory = SwitchedFactory(ReplayDriver(fixture_snapshot()))
    factory.broken = True
    app = make_app(driver_factory=factory, last_port="socket://127.0.0.1:5000")
    async with app.run_test(size=(100, 30)) as pilot:
        await _orders(pilot)
        await pilot.press("enter", "c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen))
        await pilot.press("f5")
        await until(pilot, lambda: FAULT in text_of(app, "#connect-message"), what="the failure")
        assert text_of(app, "#connect-message") == (
            f"Could not read the meter: {FAULT}; F5 tries again."
        )
        assert app.probe_state == "no meter connected"
        factory.broken = False
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="checks")


async def test_an_adjustment_that_raises_is_kept_as_not_known_and_esc_leaves() -> None:
    factory = SwitchedFactory(ReplayDriver(fixture_snapshot()))
    app = make_app(driver_factory=factory, last_port="socket://127.0.0.1:5000")
    async with app.run_test(size=(100, 30)) as pilot:
        await _orders(pilot)
        await pilot.press("enter", "c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen))
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="checks")
        factory.broken = True
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("ctrl+y")
        await until(pilot, lambda: FAULT in text_of(app, "#adjust-message"), what="the failure")
        assert text_of(app, "#adjust-message").startswith(
            f"Demand reset: could not finish talking to the meter: {FAULT}. "
        )
        assert app.draft is not None
        [tried] = app.draft.adjustments
        assert (tried.procedure, tried.ok) == ("demand_reset", False)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="back on checks")


class ClockLost:
    """A sync client whose last sync cannot be read (a corrupt state file, say)."""

    def last_sync(self) -> None:
        raise RuntimeError(FAULT)

    def pending(self) -> int:
        return 0

    def sync_now(self) -> SyncReport:
        return SyncReport(pushed=0)


async def test_a_sync_state_that_raises_is_said_and_a_sync_still_ends() -> None:
    app = make_app()
    app.sync_client = ClockLost()
    async with app.run_test(size=(100, 30)) as pilot:
        await _orders(pilot)
        await until(pilot, lambda: FAULT in app.sync_state, what="the indicator's failure")
        assert app.sync_state == f"Could not read the sync state: {FAULT} (F2 reads it again)"
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen))
        await pilot.press("s")
        await until(pilot, lambda: not app.syncing, what="the sync's end")
        assert FAULT in app.sync_state
        assert app.screen.check_action("sync_now", ()) is True
