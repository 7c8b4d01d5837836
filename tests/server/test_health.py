"""The server answers its health check, in-process and as a real process on 127.0.0.1."""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from syncserver.core.config import Settings
from syncserver.main import create_app


def test_healthz_in_process(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(db=str(tmp_path / "s.db"))))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "syncserver"


def test_startup_objects_are_frozen_while_the_app_runs(tmp_path: Path) -> None:
    # Full collections during pushes must not walk what start-up built (the push's CPU
    # cost per visit); a stopped app leaves nothing frozen behind in the process.
    before = gc.get_freeze_count()
    with TestClient(create_app(Settings(db=str(tmp_path / "s.db")))) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > before + 10_000
    assert gc.get_freeze_count() == 0


def test_unknown_route_is_404_json(tmp_path: Path) -> None:
    response = TestClient(create_app(Settings(db=str(tmp_path / "s.db")))).get("/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_syncserver_serve_runs_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "served.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncserver",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            str(db),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.json()["status"] == "ok"
        # It migrated the database it was given before serving.
        assert db.exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
