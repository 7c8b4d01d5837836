"""The Connect screen's form against simulated meters: the negotiated speed, Modbus with a
register map, a password kept on this laptop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from fieldkit import paths, secrets
from fieldkit.drivers.base import create_driver
from fieldkit.tui.screens.checks import ChecksScreen
from fieldkit.tui.screens.connect import ConnectScreen
from simulators.modbus.server import start as start_modbus
from tests.tui.helpers import make_app, text_of, until
from tests.tui.test_visit import _to_connect

pytestmark = [pytest.mark.anyio, pytest.mark.sim]


def _asking_for(baud: int) -> Any:
    """create_driver that asks for ``baud`` in Negotiate (the technician's --baud)."""

    def factory(
        protocol: str, port: str, settings: Mapping[str, Any] | None = None, **runtime: Any
    ) -> Any:
        return create_driver(protocol, port, {**(settings or {}), "baud": baud}, **runtime)

    return factory


async def test_the_speed_the_meter_granted_is_shown_after_negotiate(sim: Any) -> None:
    simulator = sim("healthy-2s")  # grants 9600 to 57600 baud
    app = make_app(last_port=simulator.url, driver_factory=_asking_for(38400))
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        connect = app.screen
        assert text_of(app, "#connect-speed") == "Speed: -"
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), 20, "checks")
        assert str(connect.query_one("#connect-speed").render()) == (
            "Speed: 38400 baud (negotiated)"
        )


async def test_a_modbus_meter_is_read_with_the_map_chosen_on_the_form() -> None:
    with start_modbus("healthy-16s", map_name="eastron-sdm630") as meter:
        app = make_app(last_port=meter.url)
        async with app.run_test(size=(100, 30)) as pilot:
            await _to_connect(app, pilot)
            connect = app.screen
            assert isinstance(connect, ConnectScreen)
            assert connect.query_one("#connect-map-row").display is False
            connect.query_one("#connect-protocol", Select).value = "modbus"
            await pilot.pause()
            assert connect.query_one("#connect-map-row").display is True
            # No map chosen: F5 asks for one and reads nothing.
            await pilot.press("f5")
            await until(pilot, lambda: "register map first" in text_of(app, "#connect-message"))
            assert not connect.reading
            maps = connect.query_one("#connect-map", Select)
            await until(pilot, lambda: len(maps._options) > 3, what="the shipped maps")
            maps.value = "eastron-sdm630"
            await pilot.press("f5")
            await until(pilot, lambda: isinstance(app.screen, ChecksScreen), 20, "checks")
            assert text_of(app, "#checks-verdict").startswith("PASS")
            assert "baud (set by the register map)" in str(
                connect.query_one("#connect-speed").render()
            )


@pytest.fixture
def file_secrets(monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's laptop keeps its secrets in the encrypted file (no OS keyring here)."""
    home = paths.home()
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[secrets]\nbackend = "file"\n', encoding="utf-8")
    monkeypatch.setenv(secrets.PASSPHRASE_ENV, "correct horse battery staple")
    return home


async def test_a_password_kept_on_the_laptop_is_filled_in_and_opens_the_meter(
    sim: Any, file_secrets: Path
) -> None:
    secrets.set_password(None, 1, "READER01")  # the fleet's reader password
    simulator = sim("secured-2s")
    app = make_app(last_port=simulator.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await until(
            pilot,
            lambda: "kept on this laptop" in text_of(app, "#connect-password-source"),
            what="the kept password",
        )
        assert app.screen.query_one("#connect-password", Input).value == "READER01"
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), 20, "checks")
        # The whole meter was read: without the password only ST0/ST1 are served.
        assert "read complete" in text_of(app, "#indicator")
        assert not app.screen.query("#checks-incomplete")


async def test_without_a_kept_password_the_form_says_to_type_it(sim: Any) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await until(
            pilot,
            lambda: "No password kept" in text_of(app, "#connect-password-source"),
            what="no kept password",
        )
        assert app.screen.query_one("#connect-password", Input).value == ""


def test_the_tables_list_keeps_its_size_and_counts_what_does_not_fit() -> None:
    from fieldkit.drivers.base import Stage
    from fieldkit.tui.screens.connect import table_lines

    items = tuple(f"ST{n}" for n in range(10))
    assert table_lines(items[:2], Stage.READ, 5) == "✓ ST0\n… ST1"
    assert table_lines(items, Stage.READ, 4) == "✓ 7 tables read before these\n✓ ST7\n✓ ST8\n… ST9"
    assert table_lines(items, Stage.CLOSE, 4).endswith("✓ ST9")
    assert len(table_lines(items, Stage.READ, 3).splitlines()) == 3
