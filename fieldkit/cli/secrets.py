"""``fieldkit secrets``: meter passwords this laptop keeps (per meter or for the fleet).

The password is read from the terminal without echo (or from the first line of standard
input), never from the command line: arguments end up in shell histories and process lists.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from fieldkit.cli.common import fail, usage_error

__all__ = ["secrets_app", "stored_password"]

secrets_app = typer.Typer(
    help="Meter passwords kept in the OS keyring (or the encrypted file): set, list, delete.",
    no_args_is_help=True,
)

MeterOpt = Annotated[
    str | None,
    typer.Option("--meter", help="The meter number it opens (default: every meter, the fleet)"),
]


def stored_password(meter: str | None, level: int = 1) -> str | None:
    """The kept password for this meter (or the fleet), or None; a broken vault warns."""
    from fieldkit import secrets

    try:
        return secrets.meter_password(meter, level)
    except secrets.SecretsError as exc:
        typer.echo(f"fieldkit: warning: {exc}", err=True)
        return None


@secrets_app.command("set-password")
def set_password(
    level: Annotated[int, typer.Option("--level", min=1, max=255, help="Its access level")],
    meter: MeterOpt = None,
) -> None:
    """Keep a meter password; it is asked for (no echo) or read from standard input."""
    from fieldkit import secrets

    if sys.stdin.isatty():
        password = getpass.getpass("meter password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        usage_error("no password given (type it at the prompt, or pipe it on standard input)")
    try:
        secrets.set_password(meter, level, password)
    except secrets.SecretsError as exc:
        fail(str(exc))
    typer.echo(f"password kept for {meter or 'the fleet'} at level {level}")


@secrets_app.command("list")
def list_passwords() -> None:
    """Which passwords are kept (meter and level, never the value)."""
    from fieldkit import secrets

    try:
        kept = secrets.stored_passwords()
    except secrets.SecretsError as exc:
        fail(str(exc))
    if not kept:
        typer.echo("no meter passwords kept on this laptop")
    for entry in kept:
        name = "the fleet" if entry.meter == secrets.FLEET else entry.meter
        typer.echo(f"{name}  level {entry.level}")


@secrets_app.command("delete")
def delete_password(
    meter: MeterOpt = None,
    level: Annotated[int | None, typer.Option("--level", help="Only this level")] = None,
) -> None:
    """Forget the passwords of a meter (or of the fleet)."""
    from fieldkit import secrets

    try:
        gone = secrets.delete_password(meter, level)
    except secrets.SecretsError as exc:
        fail(str(exc))
    typer.echo(f"forgot {gone} password{'s' if gone != 1 else ''}")
