"""The exceptions queue over many visits pushed through the real API: newest first, every
filter, keyset pages that neither skip nor repeat a visit when newer ones arrive meanwhile."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from syncserver.db.models import User
from syncserver.services import review
from syncserver.services.users import Principal
from syncserver.web.pages import PAGE_SIZE
from tests.server.conftest import World, op, visit
from tests.server.web_helpers import login

BASE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ORDERS = {"WO-2026-10404": "read", "WO-2026-10410": "tamper"}


def _at(i: int) -> datetime:
    # Three visits share each start time: the keyset must break ties by id.
    return BASE + timedelta(minutes=10 * (i // 3))


def _tech_visit(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    order = "WO-2026-10404" if i % 2 else "WO-2026-10410"
    if i % 4 == 0:
        checks = [{"id": "voltage", "status": "pass", "message": "ok"}]
    elif i % 3 == 0:
        checks = [{"id": "polarity", "status": "fail", "message": "IB reversed"}]
    else:
        checks = [{"id": "clock_drift", "status": "warn", "message": "fast"}]
    worst = {"pass": 0, "warn": 1, "fail": 2}
    verdict = max((c["status"] for c in checks), key=worst.__getitem__)
    document = visit(
        f"t-{i:03d}",
        work_order=order,
        started_at=_at(i).isoformat(),
        checks=checks,
        verdict=verdict,
    )
    facts = {
        "id": f"t-{i:03d}",
        "at": _at(i),
        "tech": "demo-tech",
        "checks": {c["id"] for c in checks if c["status"] != "pass"},
        "kind": ORDERS[order],
        "exception": verdict != "pass",
    }
    return document, facts


def _bob_visit(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    document = visit(
        f"b-{i:03d}",
        work_order=None,
        technician="bob",
        meter_number="M2S-0034567",
        started_at=_at(3 * i + 1).isoformat(),
        checks=[{"id": "voltage", "status": "fail", "message": "low"}],
        verdict="fail",
    )
    facts = {"id": f"b-{i:03d}", "at": _at(3 * i + 1), "tech": "bob", "checks": {"voltage"}}
    return document, {**facts, "kind": None, "exception": True}


def _seed(world: World, count: int = 130, bobs: int = 20) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    tech = [_tech_visit(i) for i in range(count)]
    for start in range(0, count, 100):
        batch = tech[start : start + 100]
        answer = world.push(
            world.tech, world.tech_device, [op(f"op-{d['visit_id']}", d) for d, _ in batch]
        )
        assert {r["status"] for r in answer.json()["results"]} == {"applied"}, answer.text
        facts.extend(f for _, f in batch)
    bob = [_bob_visit(i) for i in range(bobs)]
    if not bob:
        return facts
    answer = world.push(world.bob, world.bob_device, [op(f"op-{d['visit_id']}", d) for d, _ in bob])
    assert {r["status"] for r in answer.json()["results"]} == {"applied"}, answer.text
    facts.extend(f for _, f in bob)
    return facts


def _walk(world: World, url: str) -> tuple[list[str], int]:
    """Follow the 'Older' links from ``url``: every visit listed, and the number of pages."""
    seen: list[str] = []
    pages = 0
    while url:
        page = world.client.get(url)
        assert page.status_code == 200, page.text
        pages += 1
        rows = re.findall(r'<td><a href="/visits/([^"]+)">', page.text)
        assert len(rows) <= PAGE_SIZE
        seen.extend(rows)
        older = re.search(r'<a rel="next" href="([^"]+)"', page.text)
        url = older.group(1).replace("&amp;", "&") if older else ""
    return seen, pages


def _newest_first(facts: list[dict[str, Any]]) -> list[str]:
    # Ties on the time go to the later insert (higher id): the push order here.
    order = {f["id"]: n for n, f in enumerate(facts)}
    ranked = sorted(facts, key=lambda f: (f["at"], order[f["id"]]), reverse=True)
    return [f["id"] for f in ranked]


def test_every_exception_once_newest_first_over_many_pages(world: World) -> None:
    facts = _seed(world)
    login(world.client, "olga")
    expected = _newest_first([f for f in facts if f["exception"]])
    seen, pages = _walk(world, "/exceptions")
    assert seen == expected
    assert pages == -(-len(expected) // PAGE_SIZE)
    assert "t-000" not in seen  # a passing visit is not an exception


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("check=polarity", lambda f: "polarity" in f["checks"]),
        ("technician=bob", lambda f: f["tech"] == "bob"),
        ("kind=tamper", lambda f: f["kind"] == "tamper"),
        (
            "since=2026-11-20&until=2026-11-20",
            lambda f: f["at"] < datetime(2026, 11, 21, tzinfo=UTC),
        ),
        (
            "check=clock_drift&kind=read",
            lambda f: f["checks"] == {"clock_drift"} and f["kind"] == "read",
        ),
    ],
)
def test_filters_narrow_the_queue_and_survive_paging(world: World, query: str, keep: Any) -> None:
    facts = _seed(world)
    login(world.client, "olga")
    expected = _newest_first([f for f in facts if f["exception"] and keep(f)])
    assert expected  # the filter has something to find
    seen, _ = _walk(world, f"/exceptions?{query}")
    assert seen == expected


def test_review_status_filter(world: World) -> None:
    _seed(world, count=12, bobs=0)
    csrf = login(world.client, "olga")
    answer = world.client.post(
        "/visits/t-003/review", data={"status": "closed", "csrf_token": csrf}
    )
    assert answer.status_code == 200
    closed, _ = _walk(world, "/exceptions?review_status=closed")
    assert closed == ["t-003"]
    new, _ = _walk(world, "/exceptions?review_status=new")
    assert "t-003" not in new
    assert len(new) == 8


def test_next_links_are_stable_when_newer_visits_arrive(world: World) -> None:
    facts = _seed(world, count=130, bobs=0)
    login(world.client, "olga")
    first = world.client.get("/exceptions")
    older = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert older is not None
    # Newer exceptions arrive between the two requests.
    newer = [
        visit(
            f"late-{i}",
            started_at=(BASE + timedelta(days=5, minutes=i)).isoformat(),
            checks=[{"id": "polarity", "status": "fail", "message": "x"}],
            verdict="fail",
        )
        for i in range(5)
    ]
    world.push(world.tech, world.tech_device, [op(f"op-{d['visit_id']}", d) for d in newer])
    second = world.client.get(older.group(1).replace("&amp;", "&"))
    rows = re.findall(r'<td><a href="/visits/([^"]+)">', second.text)
    expected = _newest_first([f for f in facts if f["exception"]])
    assert rows == expected[PAGE_SIZE : 2 * PAGE_SIZE]


def test_a_forged_cursor_is_a_clear_400(world: World) -> None:
    login(world.client, "olga")
    for cursor in ("nonsense", "1.2.3", "99999999999999999999999.1"):
        answer = world.client.get(f"/exceptions?after={cursor}")
        assert answer.status_code == 400
        assert "page cursor" in answer.text


def test_the_data_layer_uses_the_summary_and_scopes_a_technician(world: World) -> None:
    _seed(world, count=30, bobs=5)
    with world.database.read() as session:
        bob = session.execute(select(User).where(User.name == "bob")).scalar_one()
        mine = review.exceptions(
            session, Principal(bob.id, "bob", "technician"), review.ExceptionFilter(), None, 100
        )
        assert {r.technician for r in mine.rows} == {"bob"}
        assert review.check_ids(session) == ["clock_drift", "polarity", "voltage"]
        assert review.technicians(session) == ["bob", "demo-tech"]
