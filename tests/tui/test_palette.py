"""ctrl+p finds every action of every screen and dialog, whatever has the focus."""

from __future__ import annotations

from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.screen import Screen

from fieldkit.tui.screens.checks import ChecksScreen
from fieldkit.tui.screens.close import CloseScreen
from fieldkit.tui.screens.dialogs import AdHocDialog, ConfirmDialog
from fieldkit.tui.screens.help import HelpScreen
from fieldkit.tui.screens.sync import SyncScreen
from tests.tui.helpers import (
    ReplayDriver,
    fixture_snapshot,
    make_app,
    replay_factory,
    screen_text,
    text_of,
    until,
)

pytestmark = pytest.mark.anyio


def _expected(app: Any, screen: Screen[object]) -> set[str]:
    """The footer's actions, and every enabled action the screen itself declares."""
    wanted = {
        a.binding.description
        for a in screen.active_bindings.values()
        if a.binding.show and a.enabled and a.binding.action != "command_palette"
    }
    for binding in screen.BINDINGS:
        assert not isinstance(binding, tuple | str)
        if binding.description and app._check_action_state(binding.action, screen):
            wanted.add(binding.description)
    if not screen.is_modal:
        wanted |= {"Help", "Sync", "Quit"}
    return wanted


async def _offered(pilot: Any) -> set[str]:
    """What the palette lists, opened with ctrl+p and nothing typed."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
    listed = app.screen.query_one(CommandList)
    await until(pilot, lambda: listed.option_count > 0, what="the palette's commands")
    await pilot.pause(0.2)
    titles = {
        str(listed.get_option_at_index(n).prompt).splitlines()[0]
        for n in range(listed.option_count)
    }
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette))
    return titles


async def test_the_palette_offers_every_action_of_every_screen_and_dialog() -> None:
    driver = ReplayDriver(fixture_snapshot())
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port)
    missing: dict[str, set[str]] = {}

    async def check(where: str) -> None:
        gap = _expected(app, app.screen) - await _offered(pilot)
        if gap:
            missing[where] = gap

    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        await check("work orders")
        await pilot.press("slash", "a")  # typing a search: its box takes the letter keys
        await check("work orders, search typed")
        await pilot.press("escape", "n")
        await until(pilot, lambda: isinstance(app.screen, AdHocDialog))
        await check("ad-hoc form")
        await pilot.press("escape", "enter")
        await check("site")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await check("help")
        await pilot.press("escape", "c")
        await until(pilot, lambda: app.screen.query("#connect-port"))
        await check("connect")
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen))
        await check("checks")
        await pilot.press("a")
        await check("adjust")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await check("confirm")
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen))
        # Close visit and Sync really run from the palette.
        await pilot.press("ctrl+p", *"close visit")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen), what="close visit")
        app.screen.query_one("#close-notes").focus()  # the notes take the letter keys
        await check("close visit, notes focused")
        await pilot.press("ctrl+p", *"sync")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen), what="sync")
        await check("sync")
    assert missing == {}


def _footer(app: Any) -> str:
    """The terminal's last line: the footer the technician reads."""
    return screen_text(app).rstrip("\n").splitlines()[-1]


async def test_at_80x24_the_footer_shows_the_keys_that_work_now() -> None:
    """A dialog showed the footer of the screen under it: keys that did nothing there (c Set
    clock), and never its own (^y Confirm). The checks' tab keys, already on the tab strip,
    pushed Help off the checks screen's footer."""
    driver = ReplayDriver(fixture_snapshot())
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, AdHocDialog))
        await pilot.pause()
        assert "^s Start visit" in _footer(app)
        assert "Ad-hoc visit" not in _footer(app)
        await pilot.press("escape", "enter", "c")
        await until(pilot, lambda: app.screen.query("#connect-port"))
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen))
        footer = _footer(app)
        for key in ("a Adjust", "v Close visit", "r Read again", "f1 Help", "^q Quit"):
            assert key in footer, footer
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        assert "esc Close help" in _footer(app)
        await pilot.press("escape", "a", "c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.pause()
        footer = _footer(app)
        assert "esc Cancel" in footer
        assert "^y Confirm" in footer
        assert "Set clock" not in footer
