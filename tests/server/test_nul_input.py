"""A NUL character in what a caller sends: refused with a 4xx on both engines, never a 5xx.

PostgreSQL text cannot hold NUL (SQLite's can); schemathesis found ``GET /work-orders``
with one in its query answering 500 on PostgreSQL. A path or query with one is refused
before any route; a pushed visit or command with one in a field that becomes a column is
that op's rejection alone; anything else the database refuses (a form field, a JSON
field) is a 422 with its transaction rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncserver.core.errors import ApiError
from syncserver.db.models import AuditCheckpoint
from tests.server.conftest import World, enroll_code, op, visit
from tests.server.web_helpers import csrf_of


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/work-orders?status=%00open",
        "/api/v1/work-orders?technician=demo%00tech",
        "/api/v1/visits?meter=M2S%000012345",
        "/api/v1/accounts/104-8578%0016",
        "/api/v1/meters/M2S-0012345%00",
    ],
)
def test_a_nul_in_the_path_or_query_is_a_400_on_both_engines(world: World, path: str) -> None:
    answer = world.client.get(path, headers=world.office)
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "the request's path or query contains a NUL character",
        "code": "bad_request",
    }


def test_a_pushed_op_with_a_nul_in_a_column_field_is_rejected_alone(world: World) -> None:
    command = {
        "schema_version": 1,
        "document": "work_order_command",
        "work_order_id": "WO-2026-10404\x00",
        "command": "arrive",
        "at": "2026-12-03T09:00:00Z",
    }
    answer = world.push(
        world.tech,
        world.tech_device,
        [
            op("n-1", visit("v-nul\x00")),
            op("n-2", visit("v-nul-2", meter_number="M2S\x000012345")),
            op(
                "n-3",
                visit(
                    "v-fine",
                    notes=[
                        {"at": "2026-12-03T09:10:00Z", "technician": "demo-tech", "text": "a\x00b"}
                    ],
                ),
            ),
            op("n-4", command, kind="work_order_command"),
            op(
                "n-5",
                {
                    **visit("v-nul-5"),
                    "checks": [{"id": "pol\x00arity", "status": "pass", "message": "ok"}],
                },
            ),
        ],
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [
        "rejected",
        "rejected",
        "applied",
        "rejected",
        "rejected",
    ]
    assert all(r["code"] == "invalid_document" for r in results if r["status"] == "rejected")
    assert all("NUL" in r["reason"] for r in results if r["status"] == "rejected")
    # the note is inside the stored document (JSON, where NUL is escaped): kept
    stored = world.client.get("/api/v1/visits/v-fine", headers=world.office)
    assert stored.status_code == 200
    assert stored.json()["document"]["notes"][0]["text"] == "a\x00b"


def test_a_form_field_with_a_nul_gets_no_5xx_and_the_login_page_still_works(
    world: World,
) -> None:
    form = world.client.get("/login")
    answer = world.client.post(
        "/login",
        data={"username": "ol\x00ga", "password": "x", "csrf_token": csrf_of(form.text)},
    )
    assert 400 <= answer.status_code < 500
    again = world.client.get("/login")
    assert again.status_code == 200


def test_an_enrolment_refused_for_a_nul_keeps_its_code(world: World) -> None:
    code = enroll_code(world.database, "demo-tech")
    request = {"schema_version": 1, "document": "enroll_request", "code": code}
    first = world.client.post(
        "/api/v1/devices/enroll", json={**request, "device_name": "lap\x00top"}
    )
    assert first.status_code in (200, 422), first.text
    if first.status_code == 422:  # PostgreSQL: nothing was stored, the code is not spent
        assert first.json()["code"] == "invalid_request"
        assert "NUL" in first.json()["detail"]
        second = world.client.post(
            "/api/v1/devices/enroll", json={**request, "device_name": "laptop"}
        )
        assert second.status_code == 200, second.text


def test_a_push_with_a_nul_in_an_op_kind_is_refused_whole_on_both_engines(world: World) -> None:
    # The kind is stored with the op's claim: on PostgreSQL it failed the whole batch with a
    # generic 422 while SQLite applied the ops beside it.
    answer = world.push(
        world.tech,
        world.tech_device,
        [op("k-1", visit("v-k-1")), op("k-2", {"anything": 1}, kind="meter\x00swap")],
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert answer.json()["detail"].startswith("ops.1.kind: ")
    assert "NUL" in answer.json()["detail"]
    assert world.client.get("/api/v1/visits/v-k-1", headers=world.office).status_code == 404


def test_a_nul_first_sent_to_the_database_at_commit_is_a_422_too(world: World) -> None:
    # An object added and not flushed reaches the database only at COMMIT, after the block.
    checkpoint = AuditCheckpoint(
        seq=0,
        row_hash="0" * 64,
        checked_from=1,
        verified_at=datetime.now(UTC),
        verified_by="a\x00da",
        seconds=0.0,
    )
    if world.database.dialect == "sqlite":  # SQLite text holds a NUL
        with world.database.write() as session:
            session.add(checkpoint)
        return
    with pytest.raises(ApiError) as refused, world.database.write() as session:
        session.add(checkpoint)
    assert (refused.value.status, refused.value.code) == (422, "invalid_request")
