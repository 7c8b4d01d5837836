"""Push and pull on both engines: duplicates, lost answers, reassignment, cancellation,
revocation, schema versions, bad batches — nothing lost, nothing counted twice."""

from __future__ import annotations

from typing import Any

from syncserver.db.engine import Database
from syncserver.services.journal import verify_audit_chain

from .conftest import EXAMPLES, World, import_file, op, visit


def statuses(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["status"] for r in answer.json()["results"]]


def audit_ok(database: Database) -> int:
    with database.read() as session:
        return verify_audit_chain(session)


def test_pull_gives_the_technicians_orders_with_accounts_and_meters(world: World) -> None:
    page = world.pull(world.tech)
    ids = {w["work_order_id"] for w in page["work_orders"]}
    # Every dispatched order of demo-tech; not the cancelled one, not the unassigned one.
    assert "WO-2026-10404" in ids
    assert "WO-2026-10502" not in ids
    assert "WO-2026-10503" not in ids
    assert len(ids) == 14
    assert page["more"] is False
    assert page["cursor"] == 14
    order = next(w for w in page["work_orders"] if w["work_order_id"] == "WO-2026-10404")
    assert (order["meter_number"], order["service_type"], order["nominal_voltage"]) == (
        "M2S-0012345",
        "1ph-3w",
        240.0,
    )
    meters = {m["meter_number"]: m for m in page["meters"]}
    assert meters["M2S-0023456"]["form"] == "2S"
    assert "vault:" not in str(page)  # the password reference stays on the server
    accounts = {a["account_number"]: a for a in page["accounts"]}
    # The phone only travels with an order that says to contact the customer.
    phones = {a["account_number"] for a in accounts.values() if a["phone"]}
    assert phones == {
        order2["account_number"]
        for order2 in page["work_orders"]
        if order2["work_order_id"] in ("WO-2026-10405", "WO-2026-10500")
    }
    again = world.pull(world.tech, page["cursor"])
    assert again["work_orders"] == []
    assert again["cursor"] == page["cursor"]
    assert world.pull(world.bob)["work_orders"] == []


def test_duplicate_pushes_are_applied_once(world: World) -> None:
    ops = [op(f"op-{i}", visit(f"visit-{i}")) for i in range(3)]
    assert statuses(world.push(world.tech, world.tech_device, ops)) == ["applied"] * 3
    assert statuses(world.push(world.tech, world.tech_device, ops)) == ["duplicate"] * 3
    # The same visit under a new op id is still one visit (the second dedupe layer).
    assert statuses(
        world.push(world.tech, world.tech_device, [op("op-new", visit("visit-0"))])
    ) == ["duplicate"]
    # The same op id with another document is refused, never applied.
    reused = world.push(world.tech, world.tech_device, [op("op-1", visit("visit-other"))])
    assert reused.json()["results"][0]["code"] == "op_id_reused", reused.json()["results"]
    assert world.count("visits") == 3
    assert world.count("applied_ops") == 4
    audit_ok(world.database)


def test_an_answer_lost_after_commit_is_safe_to_resend(world: World) -> None:
    """The server committed, the laptop never heard: the re-sent batch is all duplicates."""
    ops = [op(f"lost-{i}", visit(f"lost-visit-{i}")) for i in range(5)]
    first = world.push(world.tech, world.tech_device, ops)
    assert first.status_code == 200
    del first  # the answer is lost on the way back
    ops.append(op("lost-5", visit("lost-visit-5")))
    assert statuses(world.push(world.tech, world.tech_device, ops)) == ["duplicate"] * 5 + [
        "applied"
    ]
    assert world.count("visits") == 6


def test_a_reassigned_work_order_moves_between_feeds_and_keeps_the_visit(world: World) -> None:
    cursor = world.pull(world.tech)["cursor"]
    bob_cursor = world.pull(world.bob)["cursor"]
    answer = world.client.post(
        "/api/v1/work-orders/WO-2026-10404/commands",
        json={"command": "assign", "technician": "bob"},
        headers=world.office,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["technician"] == "bob"
    mine = world.pull(world.tech, cursor)
    assert mine["removals"] == [
        {"entity": "work_order", "id": "WO-2026-10404", "reason": "reassigned"}
    ]
    assert mine["work_orders"] == []
    theirs = world.pull(world.bob, bob_cursor)
    assert [w["work_order_id"] for w in theirs["work_orders"]] == ["WO-2026-10404"]
    # demo-tech can no longer read it: 404, as if it did not exist.
    assert (
        world.client.get("/api/v1/work-orders/WO-2026-10404", headers=world.tech).status_code == 404
    )
    assert (
        world.client.get("/api/v1/work-orders/WO-2026-10404", headers=world.bob).status_code == 200
    )
    # The visit demo-tech saved offline before the reassignment is kept, tied and flagged.
    answer = world.push(world.tech, world.tech_device, [op("r-1", visit("r-visit"))])
    result = answer.json()["results"][0]
    assert (result["status"], result["flags"]) == ("applied", ["work_order_reassigned"])
    seen = world.client.get(
        "/api/v1/visits", params={"work_order": "WO-2026-10404"}, headers=world.office
    )
    assert [(v["visit_id"], v["technician"], v["account_number"]) for v in seen.json()] == [
        ("r-visit", "demo-tech", "104-8578-16")
    ]
    # bob has the order now, but not demo-tech's visit.
    assert world.client.get("/api/v1/visits/r-visit", headers=world.bob).status_code == 404
    # A visit for an order never given to this technician is kept too, but not tied to it.
    stray = world.push(world.bob, world.bob_device, [op("s-1", visit("s-visit", "WO-2026-10401"))])
    assert stray.json()["results"][0]["flags"] == ["work_order_unknown"]
    assert (
        world.client.get("/api/v1/visits/s-visit", headers=world.office).json()["work_order_id"]
        is None
    )


def test_a_cancelled_work_order_is_removed_and_its_visit_kept_and_flagged(
    world: World, tmp_path: Any
) -> None:
    cursor = world.pull(world.tech)["cursor"]
    text = (EXAMPLES / "cis-work-orders.csv").read_text()
    cancelled = tmp_path / "cancel.csv"
    cancelled.write_text(
        text.replace(
            "WO-2026-10404,M2S-0012345,104-8578-16,read,normal,demo-tech,dispatched",
            "WO-2026-10404,M2S-0012345,104-8578-16,read,normal,demo-tech,cancelled",
        )
    )
    counts = import_file(world.database, cancelled, "work_orders")
    assert (counts.updated, counts.unchanged) == (1, 15)
    page = world.pull(world.tech, cursor)
    assert page["removals"] == [
        {"entity": "work_order", "id": "WO-2026-10404", "reason": "cancelled"}
    ]
    command = {
        "schema_version": 1,
        "document": "work_order_command",
        "work_order_id": "WO-2026-10404",
        "command": "complete",
        "at": "2026-12-03T10:00:00Z",
    }
    answer = world.push(
        world.tech,
        world.tech_device,
        [
            op("c-1", visit("c-visit")),
            op("c-2", command, kind="work_order_command"),
            op("c-3", visit("c-visit-2", "WO-2026-10401")),
        ],
    )
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[0]["flags"] == ["work_order_cancelled"]
    # A rejected command does not block the ops after it.
    assert world.count("visits") == 2
    assert (
        world.client.get("/api/v1/work-orders/WO-2026-10404", headers=world.office).json()[
            "work_order"
        ]["status"]
        == "cancelled"
    )
    # Re-sending the rejected op gets the same answer; it is never applied later.
    again = world.push(
        world.tech, world.tech_device, [op("c-2", command, kind="work_order_command")]
    )
    assert again.json()["results"][0]["status"] == "rejected"


def test_work_order_commands_follow_the_state_machine(world: World) -> None:
    def command(op_id: str, name: str) -> dict[str, Any]:
        return op(
            op_id,
            {
                "schema_version": 1,
                "document": "work_order_command",
                "work_order_id": "WO-2026-10401",
                "command": name,
                "at": "2026-12-03T10:00:00Z",
            },
            kind="work_order_command",
        )

    results = world.push(
        world.tech,
        world.tech_device,
        [command("w1", "arrive"), command("w2", "complete"), command("w3", "no_access")],
    ).json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
    assert results[2]["code"] == "work_order_closed"
    # bob cannot move demo-tech's order.
    refused = world.push(world.bob, world.bob_device, [command("b1", "arrive")]).json()["results"][
        0
    ]
    assert refused["code"] == "work_order_not_found"
    # The office cannot cancel a completed order (409), but can reopen it.
    path = "/api/v1/work-orders/WO-2026-10401/commands"
    assert (
        world.client.post(path, json={"command": "cancel"}, headers=world.office).status_code == 409
    )
    reopened = world.client.post(path, json={"command": "reopen"}, headers=world.office)
    assert reopened.json()["work_order"]["status"] == "dispatched"
    # A device cannot send office commands through the office route.
    assert (
        world.client.post(path, json={"command": "cancel"}, headers=world.tech).status_code == 403
    )


def test_a_revoked_device_is_refused_at_once(world: World) -> None:
    assert statuses(world.push(world.tech, world.tech_device, [op("v-1", visit("v-1"))])) == [
        "applied"
    ]
    other_device, other = world.enroll("demo-tech", "spare laptop")
    answer = world.client.post(f"/api/v1/devices/{world.tech_device}/revoke", headers=world.admin)
    assert answer.status_code == 204
    refused = world.push(world.tech, world.tech_device, [op("v-2", visit("v-2"))])
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    assert world.client.get("/api/v1/sync/pull", headers=world.tech).status_code == 401
    assert world.count("visits") == 1
    # The technician's other device goes on; office users cannot revoke.
    assert statuses(world.push(other, other_device, [op("v-2", visit("v-2"))])) == ["applied"]
    assert (
        world.client.post(
            f"/api/v1/devices/{other_device}/revoke", headers=world.office
        ).status_code
        == 403
    )


def test_schema_version_mismatch_is_a_clear_error_and_loses_nothing(world: World) -> None:
    body = {
        "schema_version": 2,
        "document": "sync_push",
        "device_id": world.tech_device,
        "ops": [op("n-1", visit("n-1"))],
        "compression": "zstd",
    }
    newer = world.client.post("/api/v1/sync/push", json=body, headers=world.tech)
    assert newer.status_code == 400
    assert newer.json()["code"] == "schema_unsupported"
    assert "upgrade the server" in newer.json()["detail"]
    body = {**body, "schema_version": 0}
    body.pop("compression")
    older = world.client.post("/api/v1/sync/push", json=body, headers=world.tech)
    assert (older.status_code, older.json()["code"]) == (426, "upgrade_required")
    assert world.count("visits") == 0
    assert world.count("applied_ops") == 0
    # One op from a newer fieldkit: it and the ops after it wait; those before are applied.
    answer = world.push(
        world.tech,
        world.tech_device,
        [
            op("n-1", visit("n-1")),
            op("n-2", visit("n-2", schema_version=2)),
            op("n-3", visit("n-3")),
        ],
    )
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["applied", "retry", "retry"]
    assert results[1]["code"] == "schema_unsupported"
    assert world.count("visits") == 1
    # Sent again once fixed (here: the same op ids, now readable), they are applied once.
    assert statuses(
        world.push(
            world.tech, world.tech_device, [op("n-2", visit("n-2")), op("n-3", visit("n-3"))]
        )
    ) == ["applied", "applied"]
    assert world.count("visits") == 3


def test_oversized_or_malformed_batches_are_refused_whole(world: World) -> None:
    good = [op(f"g-{i}", visit(f"g-{i}")) for i in range(3)]
    too_many = [op(f"m-{i}", visit(f"m-{i}")) for i in range(101)]
    answer = world.push(world.tech, world.tech_device, too_many)
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request")
    assert "ops" in answer.json()["detail"]
    assert "\n" not in answer.json()["detail"]
    huge = [op("h-1", visit("h-1", blob="x" * 1_100_000))]
    answer = world.push(world.tech, world.tech_device, huge)
    assert (answer.status_code, answer.json()["code"]) == (413, "too_large")

    # Declared small, streamed large: refused as it streams.
    def chunks() -> Any:
        yield b'{"schema_version": 1, "document": "sync_push", "ops": ['
        for _ in range(200):
            yield b" " * 10_000
        yield b"]}"

    streamed = world.client.post(
        "/api/v1/sync/push",
        content=chunks(),
        headers={**world.tech, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    not_json = world.client.post(
        "/api/v1/sync/push",
        content=b'{"ops": [',
        headers={**world.tech, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422
    assert not_json.json()["detail"] == "the body is not JSON"
    missing = [*good, {"kind": "visit", "document": visit("x")}]
    answer = world.push(world.tech, world.tech_device, missing)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("ops.3.op_id")
    twice = [*good, good[0]]
    assert world.push(world.tech, world.tech_device, twice).status_code == 422
    not_object = [*good, {"op_id": "z", "kind": "visit", "document": [1, 2]}]
    assert world.push(world.tech, world.tech_device, not_object).status_code == 422
    wrong_device = world.push(world.tech, world.bob_device, good)
    assert wrong_device.status_code == 403
    # None of it was half applied.
    assert world.count("visits") == 0
    assert world.count("applied_ops") == 0
    # A bad op inside a good batch is rejected alone.
    answer = world.push(world.tech, world.tech_device, [*good, op("bad", {"no": "visit id"})])
    assert statuses(answer) == ["applied"] * 3 + ["rejected"]
    assert answer.json()["results"][3]["code"] == "invalid_document"
    assert world.count("visits") == 3
    audit_ok(world.database)


def test_unknown_kinds_wait_for_a_newer_server(world: World) -> None:
    answer = world.push(world.tech, world.tech_device, [op("p-1", {"sha256": "00"}, kind="photo")])
    result = answer.json()["results"][0]
    assert (result["status"], result["code"]) == ("retry", "unknown_kind")
    assert world.count("applied_ops") == 0


def test_reads_are_scoped_and_need_a_token(world: World) -> None:
    world.push(world.tech, world.tech_device, [op("o-1", visit("o-visit"))])
    api = world.client
    assert api.get("/api/v1/work-orders").status_code == 401
    assert (
        api.get("/api/v1/work-orders", headers={"Authorization": "Bearer fk_pat_nope"}).status_code
        == 401
    )
    everything = api.get("/api/v1/work-orders", headers=world.office).json()
    assert len(everything) == 16
    mine = api.get("/api/v1/work-orders", headers=world.tech).json()
    assert len(mine) == 15
    assert all(w["technician"] == "demo-tech" for w in mine)
    assert api.get("/api/v1/work-orders", headers=world.bob).json() == []
    account = api.get("/api/v1/accounts/104-8578-16", headers=world.office).json()
    assert account["account"]["phone"] is not None
    assert account["premises"][0]["meters"][0]["meter_number"] == "M2S-0012345"
    assert api.get("/api/v1/accounts/104-8578-16", headers=world.bob).status_code == 404
    assert (
        api.get("/api/v1/accounts/104-8578-16", headers=world.tech).json()["account"]["phone"]
        is None
    )
    assert api.get("/api/v1/meters/M2S-0012345", headers=world.bob).status_code == 404
    assert api.get("/api/v1/meters/M2S-0012345", headers=world.tech).json()["form"] == "2S"
    by_meter = api.get(
        "/api/v1/visits", params={"meter": "M2S-0012345"}, headers=world.office
    ).json()
    by_account = api.get(
        "/api/v1/visits", params={"account": "104-8578-16"}, headers=world.office
    ).json()
    assert [v["visit_id"] for v in by_meter] == [v["visit_id"] for v in by_account] == ["o-visit"]
    full = api.get("/api/v1/visits/o-visit", headers=world.office).json()
    assert full["document"]["notes"][0]["text"] == "ok"
    assert full["work_order_id"] == "WO-2026-10404"
    assert full["review_status"] == "new"
    assert (
        api.get("/api/v1/visits", params={"meter": "M2S-0012345"}, headers=world.bob).json() == []
    )
    assert api.get("/api/v1/visits/o-visit", headers=world.bob).status_code == 404
    # Personal tokens cannot push; devices cannot use staff routes.
    assert world.push(world.office, world.tech_device, []).status_code == 403


def test_enrolment_codes_are_one_time_and_expire(world: World) -> None:
    from .conftest import enroll_code

    code = enroll_code(world.database, "bob")
    request = {
        "schema_version": 1,
        "document": "enroll_request",
        "code": code.lower(),
        "device_name": "x",
    }
    assert world.client.post("/api/v1/devices/enroll", json=request).status_code == 200
    again = world.client.post("/api/v1/devices/enroll", json=request)
    assert (again.status_code, again.json()["code"]) == (401, "invalid_code")
    expired = enroll_code(world.database, "bob", minutes=0)
    late = world.client.post("/api/v1/devices/enroll", json={**request, "code": expired})
    assert late.status_code == 401
    from sqlalchemy import select

    from syncserver.db.models import Device

    with world.database.read() as session:
        hashes = list(session.execute(select(Device.token_hash)).scalars())
    assert all(len(h) == 64 for h in hashes)


def test_a_visit_op_carrying_a_long_named_document_is_rejected_alone_on_both_engines(
    world: World,
) -> None:
    # The reason is stored (400 characters at most: PostgreSQL enforces it, SQLite does not).
    answer = world.push(
        world.tech,
        world.tech_device,
        [op("l-1", {**visit("v-l-1"), "document": "x" * 1000}), op("l-2", visit("v-l-2"))],
    )
    assert answer.status_code == 200, answer.text[:300]
    first, second = answer.json()["results"]
    assert (first["status"], first["code"]) == ("rejected", "invalid_document")
    assert first["reason"].startswith("a visit op carries a 'xxx")
    assert len(first["reason"]) <= 400
    assert second["status"] == "applied"
