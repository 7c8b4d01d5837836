"""Hostile HTTP: schemathesis against the server's own OpenAPI, as every kind of caller.

Every operation of ``/api/v1/openapi.json`` (and ``/healthz``) gets Hypothesis-generated
requests that fit the schema (positive) and requests that break it (negative: wrong types,
missing fields, out-of-range numbers, junk path parameters), sent in-process to the ASGI app
on a copy of the example world, on SQLite and on PostgreSQL, once with each caller: a
technician's device token, the office's and the admin's personal tokens, no token, and a
revoked device token. Path parameters are drawn at random and, half the time, from the
world's real ids, so the generated requests reach the code behind the 404s too.

Nothing may answer 5xx or raise out of the app. The fast slice here sends a bounded number
of examples (FIELDKIT_SCHEMATHESIS_EXAMPLES a mode, operation and caller); ``make
reliability`` sends many more and writes the figures to
``.reliability/schemathesis-ENGINE-CALLER.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from syncserver.core.config import Settings
from syncserver.main import create_app
from tests.server.conftest import PostgresServer, Seed, _names, enroll_code

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("FIELDKIT_SCHEMATHESIS_EXAMPLES", "12"))
OUT = Path(__file__).resolve().parents[2] / ".reliability"
CALLERS = ("technician", "office", "admin", "no-token", "revoked")
# Real ids of the example world, for the path parameters of the same names.
KNOWN: dict[str, list[str]] = {
    "work_order_id": ["WO-2026-10404", "WO-2026-10503", "WO-2026-10502"],
    "account_number": ["104-8578-16", "116-6150-18"],
    "meter_number": ["M2S-0012345", "M2S-0041481"],
    "visit_id": ["v-hostile-1"],
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hostile(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, dict[str, str]], str]]:
    """The app on a copy of the example world on each engine, with a header set for
    every caller."""
    seed: Seed
    if request.param == "sqlite":
        seed = request.getfixturevalue("sqlite_seed")
        db = str(tmp_path_factory.mktemp("hostile") / "server.db")
        shutil.copyfile(seed.source, db)
    else:
        seed = request.getfixturevalue("postgres_seed")
        server: PostgresServer = request.getfixturevalue("postgres")
        # Unique in the worker: under xdist a worker can get this module's tests in two
        # chunks, and the module fixture is then set up a second time on the same cluster.
        name = f"hostile_{os.getpid()}_{next(_names)}"
        server.admin(f"CREATE DATABASE {name} TEMPLATE {seed.source}")
        db = server.url(name)
    app = create_app(Settings(db=db))
    with TestClient(app) as client:
        device, token = seed.devices["demo-tech"]
        tech = {"Authorization": f"Bearer {token}"}
        admin = {"Authorization": f"Bearer {seed.admin}"}
        # a visit to find, and a second device of demo-tech's, revoked
        pushed = client.post(
            "/api/v1/sync/push",
            json={
                "schema_version": 1,
                "document": "sync_push",
                "device_id": device,
                "ops": [
                    {
                        "op_id": "op-hostile-1",
                        "kind": "visit",
                        "document": {
                            "schema_version": 1,
                            "document": "visit",
                            "visit_id": "v-hostile-1",
                            "started_at": "2026-12-03T09:00:00Z",
                            "meter_number": "M2S-0012345",
                            "work_order_id": "WO-2026-10404",
                            "readings": [],
                        },
                    }
                ],
            },
            headers=tech,
        )
        assert pushed.status_code == 200, pushed.text
        code = enroll_code(app.state.database, "demo-tech")
        enrolled = client.post(
            "/api/v1/devices/enroll",
            json={
                "schema_version": 1,
                "document": "enroll_request",
                "code": code,
                "device_name": "stolen laptop",
            },
        ).json()
        revoked = client.post(f"/api/v1/devices/{enrolled['device_id']}/revoke", headers=admin)
        assert revoked.status_code == 204, revoked.text
        headers = {
            "technician": tech,
            "office": {"Authorization": f"Bearer {seed.office}"},
            "admin": admin,
            "no-token": {},
            "revoked": {"Authorization": f"Bearer {enrolled['token']}"},
        }
        yield app, headers, request.param


def _strategy(operation: Any, mode: schemathesis.GenerationMode) -> st.SearchStrategy[Any]:
    names = [p.name for p in operation.path_parameters]
    if not names or mode is schemathesis.GenerationMode.NEGATIVE:
        return operation.as_strategy(generation_mode=mode)  # type: ignore[no-any-return]
    known = {name: KNOWN.get(name, ["dev_0000000000000000"])[0] for name in names}
    return st.one_of(  # type: ignore[no-any-return]
        operation.as_strategy(generation_mode=mode),
        operation.as_strategy(generation_mode=mode, path_parameters=known),
    )


@pytest.mark.timeout(max(120, EXAMPLES * 40))
@pytest.mark.parametrize("caller", CALLERS)
def test_no_server_error_for_any_caller(
    hostile: tuple[Any, dict[str, dict[str, str]], str], caller: str
) -> None:
    app, headers, engine = hostile
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12  # every route of /api/v1 and /healthz is in the schema
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    sent = 0
    unbreakable: list[str] = []
    for operation in operations:
        for mode in schemathesis.GenerationMode:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=_strategy(operation, mode))
            def send(case: Any) -> None:
                nonlocal sent
                sent += 1
                try:
                    response = case.call(headers=headers[caller])
                except Exception as exc:  # the app raised: a 500 in production
                    failures.append(
                        f"{case.operation.label} raised {exc!r}: {case.as_curl_command()}"
                    )
                    return
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{case.operation.label} -> {response.status_code}: "
                        f"{case.as_curl_command()} {response.text[:200]}"
                    )

            try:
                send()
            except Unsatisfiable:
                # nothing to break in an operation without parameters or body
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
                unbreakable.append(operation.label)
    OUT.mkdir(exist_ok=True)
    figures = {
        "engine": engine,
        "caller": caller,
        "operations": len(operations),
        "examples_per_mode": EXAMPLES,
        "requests": sent,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": len(failures),
        "no_negative_cases": unbreakable,
    }
    (OUT / f"schemathesis-{engine}-{caller}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    assert failures == []
    assert sent >= len(operations)  # every operation was sent something
    if caller in ("no-token", "revoked"):
        # only what needs no token may say anything but 401/403/404/422/413/400
        assert statuses[401] > 0
