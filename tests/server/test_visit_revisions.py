"""A visit op is a whole ``VisitDocument``; the server keeps its latest revision, on both
engines: revisions in order, re-sent, late, within one batch, and from another device."""

from __future__ import annotations

from typing import Any

from .conftest import World, op, visit


def results(answer: Any) -> list[tuple[str, str | None]]:
    assert answer.status_code == 200, answer.text
    return [(r["status"], r.get("code")) for r in answer.json()["results"]]


def revision(visit_id: str, n: int, **extra: Any) -> dict[str, Any]:
    return visit(
        visit_id,
        op_id=f"op-{visit_id}-{n}",
        revision=n,
        status="open" if n < 3 else "final",
        **({"outcome": None, "ended_at": None} if n < 3 else {}),
        **extra,
    )


def stored(world: World, visit_id: str) -> dict[str, Any]:
    answer = world.client.get(f"/api/v1/visits/{visit_id}", headers=world.office)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()["document"]
    return document


def test_the_server_keeps_the_latest_revision_of_a_visit(world: World) -> None:
    push = world.push
    assert results(push(world.tech, world.tech_device, [op("r1", revision("rv", 1))])) == [
        ("applied", None)
    ]
    assert stored(world, "rv")["revision"] == 1
    # Revisions 2 and 3 in one batch, revision 1 re-sent with them: the newest wins.
    batch = [op("r1", revision("rv", 1)), op("r2", revision("rv", 2)), op("r3", revision("rv", 3))]
    assert results(push(world.tech, world.tech_device, batch)) == [
        ("duplicate", None),
        ("applied", None),
        ("applied", None),
    ]
    kept = stored(world, "rv")
    assert (kept["revision"], kept["status"], kept["outcome"]) == (3, "final", "resolved")
    assert world.count("visits") == 1
    # The whole batch again (a lost answer): all duplicates, nothing changes.
    assert [s for s, _ in results(push(world.tech, world.tech_device, batch))] == ["duplicate"] * 3
    assert stored(world, "rv")["revision"] == 3
    # Revision 2 under a new op id, late: the newer revision stays.
    late = push(world.tech, world.tech_device, [op("r2-late", revision("rv", 2))])
    assert results(late) == [("applied", None)]
    assert late.json()["results"][0]["flags"] == ["superseded"]
    assert stored(world, "rv")["revision"] == 3
    # The same revision with other content is refused, and the stored one kept.
    other = revision("rv", 3, verdict="fail")
    assert results(push(world.tech, world.tech_device, [op("r3-other", other)])) == [
        ("rejected", "revision_conflict")
    ]
    assert stored(world, "rv")["verdict"] == "pass"
    # Another device cannot replace it.
    assert results(push(world.bob, world.bob_device, [op("b4", revision("rv", 4))])) == [
        ("rejected", "visit_id_conflict")
    ]
    assert stored(world, "rv")["revision"] == 3
    # The visit is tied to its work order and account, found by each.
    for params in ({"work_order": "WO-2026-10404"}, {"account": "104-8578-16"}):
        found = world.client.get("/api/v1/visits", params=params, headers=world.office).json()
        assert [v["visit_id"] for v in found] == ["rv"]
        assert found[0]["work_order_id"] == "WO-2026-10404"
        assert found[0]["account_number"] == "104-8578-16"


def test_a_visit_op_is_checked_as_a_visit_document(world: World) -> None:
    bad = visit("bad-1", revision=0)
    misspelt = visit("bad-2", work_order_number="WO-2026-10404")
    not_a_visit = {**visit("bad-3"), "document": "work_order"}
    newer = visit("new-1", schema_version=2)
    answer = world.push(
        world.tech,
        world.tech_device,
        [
            op("b1", bad),
            op("b2", misspelt),
            op("b3", not_a_visit),
            op("ok", visit("good-1")),
            op("n1", newer),
            op("after", visit("good-2")),
        ],
    )
    got = results(answer)
    assert got[:4] == [
        ("rejected", "invalid_document"),
        ("rejected", "invalid_document"),
        ("rejected", "invalid_document"),
        ("applied", None),
    ]
    # A newer document is not lost: the laptop keeps it (and what follows) to send later.
    assert got[4:] == [("retry", "schema_unsupported"), ("retry", "after_retry")]
    reasons = [r["reason"] for r in answer.json()["results"]]
    assert "revision" in reasons[0]
    assert "\n" not in reasons[0]
    assert "work_order_number" in reasons[1]
    assert "schema 2" in reasons[4]
    assert world.count("visits") == 1
    # Once understood (here: sent as version 1), the retried op is applied, not replayed.
    assert results(world.push(world.tech, world.tech_device, [op("n1", visit("new-1"))])) == [
        ("applied", None)
    ]
