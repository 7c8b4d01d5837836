"""SVG snapshots of every screen at 80×24 and 120×40, in the dark and the light theme.

Deterministic: a fixed clock, fixed work orders, a replayed read saved by the first release
(no simulator timing), no ports from the machine, no blinking cursors. ``pytest
--snapshot-update tests/tui/test_snapshots.py`` rewrites them after a deliberate change
(a Textual bump changes them too: update them in the same commit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.widgets import Input, Select, TextArea

from fieldkit.model import ServiceType, WorkOrder
from fieldkit.tui.screens.adjust import AdjustScreen
from fieldkit.tui.screens.checks import ChecksScreen
from fieldkit.tui.screens.close import CloseScreen
from fieldkit.tui.screens.connect import ConnectScreen
from fieldkit.tui.screens.dialogs import AdHocDialog, ConfirmDialog
from fieldkit.tui.screens.help import HelpScreen
from tests.tui.helpers import (
    ORDERS,
    ReplayDriver,
    fixture_snapshot,
    make_app,
    replay_factory,
    screen_text,
    text_of,
    until,
)

SIZES = [(80, 24), (120, 40)]
THEMES = ["textual-dark", "textual-light"]
PORT = "socket://127.0.0.1:5000"
# The reversed-CT read of the first release, and an order for that very meter.
SNAPSHOT = fixture_snapshot("read-reversed-ct-16s.json")
ORDER = dataclasses.replace(ORDERS[0], meter_number="M16-0065432", meter_serial=None)
REFUSAL = "the meter does not list standard procedure 10 (set clock) in ST0"


@pytest.fixture(autouse=True)
def _no_blinking(monkeypatch: pytest.MonkeyPatch) -> None:
    # A blinking cursor makes snapshots depend on timing.
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    for widget in (Input, TextArea):
        monkeypatch.setattr(widget, "cursor_blink", False, raising=False)


Steps = Callable[[Any], Awaitable[None]]


async def _work_orders(pilot: Any) -> None:
    app = pilot.app
    await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))


async def _site(pilot: Any) -> None:
    await _work_orders(pilot)
    await pilot.press("enter")
    await until(pilot, lambda: "saved on this laptop" in text_of(pilot.app, "#site-visits-status"))


async def _connect(pilot: Any) -> None:
    await _site(pilot)
    await pilot.press("c")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConnectScreen))
    await until(pilot, lambda: pilot.app.screen.query_one("#connect-ports").option_count > 0)
    # The kept-password lookup runs in a worker: the snapshot waits for its line.
    await until(pilot, lambda: text_of(pilot.app, "#connect-password-source") != "")
    await pilot.pause()


async def _checks(pilot: Any) -> None:
    await _connect(pilot)
    await pilot.press("f5")
    await until(pilot, lambda: isinstance(pilot.app.screen, ChecksScreen))
    # The polarity check, to show its likely causes.
    pilot.app.screen.query_one("#checks-table").move_cursor(row=9)


async def _phasors(pilot: Any) -> None:
    await _checks(pilot)
    await pilot.press("2")


async def _adjust(pilot: Any) -> None:
    await _checks(pilot)
    await pilot.press("a")
    await until(pilot, lambda: isinstance(pilot.app.screen, AdjustScreen))
    await pilot.press("c")
    await pilot.pause()
    await pilot.press("ctrl+y")
    await until(pilot, lambda: "refused" in text_of(pilot.app, "#adjust-message"))


async def _close(pilot: Any) -> None:
    await _checks(pilot)
    await pilot.press("v")
    await until(pilot, lambda: isinstance(pilot.app.screen, CloseScreen))
    pilot.app.screen.query_one("#close-outcome", Select).value = "replace_meter"
    notes = pilot.app.screen.query_one("#close-notes", TextArea)
    notes.text = "CT on B reversed at the test switch; corrected, meter to be exchanged."
    await pilot.press("ctrl+s")
    await until(pilot, lambda: "SAVED" in text_of(pilot.app, "#close-status"))


async def _sync(pilot: Any) -> None:
    from fieldkit.tui.screens.sync import SyncScreen
    from fieldkit.tui.sync_adapter import LaptopSync

    await _close(pilot)
    # The laptop's real sync, on a laptop not enrolled yet: what a new laptop shows.
    pilot.app.sync_client = LaptopSync()
    await pilot.press("enter")
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(pilot.app.screen, SyncScreen))
    await until(pilot, lambda: "Last sync" in text_of(pilot.app, "#sync-summary"))
    await until(pilot, lambda: pilot.app.screen.query_one("#sync-items").row_count == 1)
    await until(pilot, lambda: "never synced" in text_of(pilot.app, "#indicator"))
    await pilot.pause()


async def _help(pilot: Any) -> None:
    # The checks screen's help: the one with the most keys.
    await _checks(pilot)
    await pilot.press("f1")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


async def _confirm(pilot: Any) -> None:
    await _checks(pilot)
    await pilot.press("a")
    await until(pilot, lambda: isinstance(pilot.app.screen, AdjustScreen))
    await pilot.press("c")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))


async def _ad_hoc(pilot: Any) -> None:
    await _work_orders(pilot)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, AdHocDialog))
    await pilot.press(*"M2S-0099999")
    pilot.app.screen.query_one("#adhoc-service", Select).value = ServiceType.ONE_PHASE_3W
    pilot.app.screen.query_one("#adhoc-form", Input).value = "2S"
    # Saved without the voltage: the form says which field is wrong.
    await pilot.press("ctrl+s")
    await until(pilot, lambda: "nominal voltage" in text_of(pilot.app, "#adhoc-error"))


async def _read_to_checks(pilot: Any) -> None:
    await _connect(pilot)
    await pilot.press("f5")
    await until(pilot, lambda: isinstance(pilot.app.screen, ChecksScreen))


SCREENS: dict[str, Steps] = {
    "work_orders": _work_orders,
    "site": _site,
    "connect": _connect,
    "checks": _checks,
    "phasors": _phasors,
    "adjust": _adjust,
    "close": _close,
    "sync": _sync,
    "help": _help,
    "confirm": _confirm,
    "ad_hoc": _ad_hoc,
    # The order names another meter than the one read (WO-1001's M16-0054321).
    "wrong_meter": _read_to_checks,
    # The meter stops answering after two tables (a replayed NoResponse).
    "incomplete": _read_to_checks,
}
# What a screen's read differs in: the orders, and where the meter stops answering.
ORDERS_OF: dict[str, tuple[WorkOrder, ...]] = {"wrong_meter": ORDERS}
FAIL_AFTER: dict[str, int] = {"incomplete": 2}


@pytest.mark.parametrize("theme", THEMES, ids=["dark", "light"])
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    snap_compare: Any,
    screen: str,
    size: tuple[int, int],
    theme: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid

    from fieldkit.drivers.ports import PortInfo

    # The saved visit's id is on the close screen: the same one every run.
    ids = (uuid.UUID(int=n) for n in range(0x5EED0000, 0x5EEE0000))
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))

    driver = ReplayDriver(
        SNAPSHOT,
        fail_after=FAIL_AFTER.get(screen),
        refuse=REFUSAL,
    )
    app = make_app(
        driver_factory=replay_factory(driver),
        orders=ORDERS_OF.get(screen, (ORDER, *ORDERS[1:])),
        last_port=PORT,
        theme=theme,
    )
    app.port_lister = lambda: [
        PortInfo(
            "/dev/ttyUSB0",
            "FT232R USB UART",
            0x0403,
            0x6001,
            "A50285BI",
            "FTDI FT232R: usual in ANSI optical probes",
        ),
    ]
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen])


async def _connect_again(pilot: Any) -> None:
    # Back from the checks to try again: every key of Connect is live (F6 among them).
    await _checks(pilot)
    await pilot.press("r")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConnectScreen))
    await pilot.pause()


# The screens of the visit (the dialogs show their own keys only), and Connect at its busiest.
FOOTERS: dict[str, Steps] = {
    **{name: SCREENS[name] for name in SCREENS if name not in ("help", "confirm", "ad_hoc")},
    "connect_again": _connect_again,
}


@pytest.mark.anyio
@pytest.mark.parametrize("screen", list(FOOTERS))
async def test_help_and_quit_stay_in_the_footer_at_80x24(screen: str) -> None:
    """Connect's own keys filled the footer at 80 columns: F1 Help and Ctrl+Q Quit were cut."""
    driver = ReplayDriver(SNAPSHOT, fail_after=FAIL_AFTER.get(screen), refuse=REFUSAL)
    app = make_app(
        driver_factory=replay_factory(driver),
        orders=ORDERS_OF.get(screen, (ORDER, *ORDERS[1:])),
        last_port=PORT,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await FOOTERS[screen](pilot)
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
    assert "^q Quit" in footer
    assert "f1 Help" in footer
