"""The ``syncserver`` command."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="syncserver",
    help="The ami-fieldkit office server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """The ami-fieldkit office server."""


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8400,
) -> None:
    """Run the server (HTTP; put it behind the utility's TLS proxy)."""
    import uvicorn

    from syncserver.main import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


def main() -> None:
    """Console-script entry point."""
    app()
