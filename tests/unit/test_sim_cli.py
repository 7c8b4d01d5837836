"""``fieldkit-sim`` arguments and errors that stop it before it opens anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulators.cli import app, parse_listen

runner = CliRunner()


def test_list_shows_every_scenario_with_its_description() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 13
    assert any(line.startswith("tamper-2s") and "status_flags" in line for line in lines)


def test_unknown_scenario_is_one_line_on_stderr() -> None:
    result = runner.invoke(app, ["c1218", "--scenario", "no-such-site"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "no scenario called 'no-such-site'" in result.stderr


def test_broken_scenario_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[[phase]]\nname = "A"\nvoltage = "high"\ncurrent = 1\n')
    result = runner.invoke(app, ["c1218", "--scenario", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("fieldkit-sim: bad.toml: phase[0].voltage:")


def test_rates_outside_zero_to_one_are_refused() -> None:
    result = runner.invoke(app, ["c1218", "--scenario", "healthy-2s", "--drop-rate", "1.5"])
    assert result.exit_code != 0


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("127.0.0.1:0", ("127.0.0.1", 0)), ("localhost:4059", ("localhost", 4059))],
)
def test_parse_listen(text: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(text) == parsed


@pytest.mark.parametrize("text", ["127.0.0.1", ":80", "host:port", "127.0.0.1:70000"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="--listen"):
        parse_listen(text)


def test_bad_listen_address_exits_2() -> None:
    result = runner.invoke(app, ["c1218", "--scenario", "healthy-2s", "--listen", "nowhere"])
    assert result.exit_code == 2
    assert "--listen wants HOST:PORT" in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--malformed-kind", "garbled"], "malformed_kind must be one of count, short"),
        (["--inconsistent", "99"], "inconsistent must be one of (11, 12, 15, 16)"),
    ],
)
def test_bad_fault_options_are_one_line_exit_2(flags: list[str], message: str) -> None:
    result = runner.invoke(app, ["c1218", "--scenario", "healthy-2s", *flags])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
