"""Who may do what: every endpoint × every caller × the caller's own and another's data.

The world is the example one with a second technician's work: WO-2026-10503 (the unassigned
order) is given to bob, and bob's device pushes a visit to it; demo-tech's device pushes a
visit to WO-2026-10404. Each cell runs on its own copy of that world, so a command or a
revocation in one cell cannot change another's answer.

The expected status of every cell is written out in :data:`MATRIX` (read it as the policy).
On top of the status: nothing a technician is answered ever names bob's order, meter,
account or visit (another technician's objects are 404, and lists leave them out).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from syncserver.core.config import Settings
from syncserver.main import create_app
from tests.server.conftest import Seed, enroll_code, visit

CALLERS = ("technician", "office", "admin", "no-token", "revoked")

# endpoint                                  data    technician office admin no-token revoked
MATRIX = """
GET  /healthz                                 -       200  200  200  200  200
GET  /api/v1/openapi.json                     -       200  200  200  200  200
GET  /api/v1/sync/pull                        own     200  403  403  401  401
POST /api/v1/sync/push                        own     200  403  403  401  401
POST /api/v1/sync/push                        other   403  403  403  401  401
POST /api/v1/devices/enroll                   own     200  200  200  200  200
POST /api/v1/devices/enroll                   bad     401  401  401  401  401
POST /api/v1/devices/{device_id}/revoke       own     403  403  204  401  401
POST /api/v1/devices/{device_id}/revoke       other   403  403  204  401  401
POST /api/v1/devices/{device_id}/revoke       none    403  403  404  401  401
GET  /api/v1/work-orders                      -       200  200  200  401  401
GET  /api/v1/work-orders/{work_order_id}      own     200  200  200  401  401
GET  /api/v1/work-orders/{work_order_id}      other   404  200  200  401  401
GET  /api/v1/work-orders/{work_order_id}      none    404  404  404  401  401
POST /api/v1/work-orders/{work_order_id}/commands own 403  200  200  401  401
POST /api/v1/work-orders/{work_order_id}/commands other 403 200 200  401  401
POST /api/v1/work-orders/{work_order_id}/commands none 403 404 404  401  401
GET  /api/v1/accounts/{account_number}        own     200  200  200  401  401
GET  /api/v1/accounts/{account_number}        other   404  200  200  401  401
GET  /api/v1/accounts/{account_number}        none    404  404  404  401  401
GET  /api/v1/meters/{meter_number}            own     200  200  200  401  401
GET  /api/v1/meters/{meter_number}            other   404  200  200  401  401
GET  /api/v1/meters/{meter_number}            none    404  404  404  401  401
GET  /api/v1/visits                           own     200  200  200  401  401
GET  /api/v1/visits                           other   200  200  200  401  401
GET  /api/v1/visits/{visit_id}                own     200  200  200  401  401
GET  /api/v1/visits/{visit_id}                other   404  200  200  401  401
GET  /api/v1/visits/{visit_id}                none    404  404  404  401  401
"""


@dataclass(frozen=True)
class Cell:
    method: str
    path: str
    data: str
    caller: str
    status: int

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} [{self.data}] as {self.caller}"


def _cells() -> list[Cell]:
    cells = []
    for line in MATRIX.strip().splitlines():
        method, path, data, *codes = line.split()
        assert len(codes) == len(CALLERS), line
        cells += [
            Cell(method, path, data, caller, int(code))
            for caller, code in zip(CALLERS, codes, strict=True)
        ]
    return cells


CELLS = _cells()
# The ids of each kind of object: demo-tech's (own), bob's (other), nobody's (none).
OWN = {
    "work_order_id": "WO-2026-10404",
    "account_number": "104-8578-16",
    "meter_number": "M2S-0012345",
    "visit_id": "v-matrix-tech",
}
OTHER = {
    "work_order_id": "WO-2026-10503",
    "account_number": "116-6150-18",
    "meter_number": "M2S-0041481",
    "visit_id": "v-matrix-bob",
}
NONE = {
    "work_order_id": "WO-1999-00000",
    "account_number": "000-0000-00",
    "meter_number": "M0-0000000",
    "visit_id": "v-nobody",
    "device_id": "dev_0000000000000000",
}


def _visit(visit_id: str, work_order: str, meter: str) -> dict[str, Any]:
    """A whole VisitDocument as a laptop pushes it (the server validates it)."""
    return visit(visit_id, work_order, meter_number=meter)


def _push(device: str, visit: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "document": "sync_push",
        "device_id": device,
        "ops": [{"op_id": f"op-{visit['visit_id']}", "kind": "visit", "document": visit}],
    }


@dataclass(frozen=True)
class MatrixSeed:
    source: str
    headers: dict[str, dict[str, str]]
    devices: dict[str, str]  # demo-tech, bob, the spare devices of each


def _enroll(client: TestClient, app: Any, technician: str, name: str) -> tuple[str, str]:
    body = client.post(
        "/api/v1/devices/enroll",
        json={
            "schema_version": 1,
            "document": "enroll_request",
            "code": enroll_code(app.state.database, technician),
            "device_name": name,
        },
    ).json()
    return body["device_id"], body["token"]


@pytest.fixture(scope="module")
def matrix_seed(sqlite_seed: Seed, tmp_path_factory: pytest.TempPathFactory) -> MatrixSeed:
    """The example world with bob's work in it, built once."""
    db = str(tmp_path_factory.mktemp("matrix") / "seed.db")
    shutil.copyfile(sqlite_seed.source, db)
    app = create_app(Settings(db=db))
    tech_device, tech_token = sqlite_seed.devices["demo-tech"]
    bob_device, bob_token = sqlite_seed.devices["bob"]
    headers = {
        "technician": {"Authorization": f"Bearer {tech_token}"},
        "office": {"Authorization": f"Bearer {sqlite_seed.office}"},
        "admin": {"Authorization": f"Bearer {sqlite_seed.admin}"},
        "no-token": {},
    }
    bob = {"Authorization": f"Bearer {bob_token}"}
    with TestClient(app) as client:
        given = client.post(
            "/api/v1/work-orders/WO-2026-10503/commands",
            json={"command": "assign", "technician": "bob"},
            headers=headers["office"],
        )
        assert given.status_code == 200, given.text
        for device, who, visit in (
            (
                tech_device,
                headers["technician"],
                _visit(OWN["visit_id"], OWN["work_order_id"], OWN["meter_number"]),
            ),
            (
                bob_device,
                bob,
                _visit(OTHER["visit_id"], OTHER["work_order_id"], OTHER["meter_number"]),
            ),
        ):
            answer = client.post("/api/v1/sync/push", json=_push(device, visit), headers=who)
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"][0]["status"] == "applied", answer.text
        spare_tech, _ = _enroll(client, app, "demo-tech", "spare")
        spare_bob, _ = _enroll(client, app, "bob", "spare")
        stolen, stolen_token = _enroll(client, app, "demo-tech", "stolen")
        revoked = client.post(f"/api/v1/devices/{stolen}/revoke", headers=headers["admin"])
        assert revoked.status_code == 204, revoked.text
        headers["revoked"] = {"Authorization": f"Bearer {stolen_token}"}
    return MatrixSeed(
        db,
        headers,
        {
            "own": tech_device,
            "other": bob_device,
            "spare-own": spare_tech,
            "spare-other": spare_bob,
        },
    )


def _request(cell: Cell, seed: MatrixSeed, app: Any) -> tuple[str, str, dict[str, Any]]:
    """The method, URL and keyword arguments of the cell's request."""
    ids = {"own": OWN, "other": OTHER, "none": NONE}.get(cell.data, OWN)
    path = cell.path
    kwargs: dict[str, Any] = {}
    if "{device_id}" in path:
        device = NONE["device_id"] if cell.data == "none" else seed.devices[f"spare-{cell.data}"]
        path = path.replace("{device_id}", device)
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    if path == "/api/v1/sync/push":
        device = seed.devices[cell.data]
        kwargs["json"] = _push(
            device, _visit("v-matrix-new", OWN["work_order_id"], OWN["meter_number"])
        )
    elif path == "/api/v1/devices/enroll":
        code = (
            enroll_code(app.state.database, "demo-tech") if cell.data == "own" else "AAAA-BBBB-CCCC"
        )
        kwargs["json"] = {
            "schema_version": 1,
            "document": "enroll_request",
            "code": code,
            "device_name": "matrix",
        }
    elif path.endswith("/commands"):
        kwargs["json"] = {"command": "cancel"}
    elif path == "/api/v1/visits":
        kwargs["params"] = {"account": ids["account_number"]}
    return cell.method, path, kwargs


# bob's identifiers: a technician's answer may never carry one
LEAKS = tuple(OTHER.values())


@pytest.fixture
def cell_app(matrix_seed: MatrixSeed, tmp_path: Path) -> Callable[[], Any]:
    def make() -> Any:
        db = str(tmp_path / "server.db")
        shutil.copyfile(matrix_seed.source, db)
        return create_app(Settings(db=db))

    return make


def test_the_matrix_covers_every_endpoint(matrix_seed: MatrixSeed) -> None:
    """Every operation the app publishes has rows; every caller has a column."""
    app = create_app(Settings(db=matrix_seed.source))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    } | {("GET", "/api/v1/openapi.json")}
    covered = {(c.method, c.path) for c in CELLS}
    assert routes == covered
    assert len(CELLS) == len(MATRIX.strip().splitlines()) * len(CALLERS)


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_cell(cell: Cell, matrix_seed: MatrixSeed, cell_app: Callable[[], Any]) -> None:
    app = cell_app()
    with TestClient(app) as client:
        method, url, kwargs = _request(cell, matrix_seed, app)
        answer = client.request(method, url, headers=matrix_seed.headers[cell.caller], **kwargs)
    assert answer.status_code == cell.status, answer.text
    if answer.status_code >= 400 and "openapi" not in url:
        assert answer.json()["code"]  # every refusal is the API's JSON, with a stable code
    if cell.caller == "technician":
        # a 404 repeats the id it was asked for; anything else of bob's is a leak
        asked = url + str(kwargs.get("params", ""))
        leaked = [name for name in LEAKS if name in answer.text and name not in asked]
        assert leaked == [], f"{cell.id} answered another technician's {leaked}"
    staff = cell.caller in ("office", "admin")
    if staff and cell.data == "other" and method == "GET" and url.startswith("/api/v1/visits"):
        assert OTHER["visit_id"] in answer.text  # staff see every technician's work
