"""The server answers its health check, in-process and as a real process on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
from fastapi.testclient import TestClient

from syncserver.main import create_app


def test_healthz_in_process() -> None:
    client = TestClient(create_app())
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "syncserver"


def test_unknown_route_is_404_json() -> None:
    response = TestClient(create_app()).get("/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_syncserver_serve_runs_and_answers() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncserver", "serve", "--host", "127.0.0.1", "--port", str(port)],
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
    finally:
        proc.terminate()
        proc.wait(timeout=10)
