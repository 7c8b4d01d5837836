"""The work-order pages: the list and its filters and pages, creating an order, and the
commands (assign, reassign, unassign, cancel) feeding the technicians' pull exactly as the
API's commands do; refusals as one line on the page; roles and CSRF."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from syncserver.db.models import AuditLog, User, WorkOrder
from syncserver.services.journal import verify_audit_chain
from syncserver.web.work_orders import PAGE_SIZE
from tests.server.conftest import World
from tests.server.web_helpers import csrf_of, login


def _ids(html: str) -> list[str]:
    return re.findall(r'<td><a href="/work-orders/[^"]+">([^<]+)</a></td>', html)


def _create(world: World, csrf: str, **fields: str) -> httpx.Response:
    data = {"csrf_token": csrf, "meter_number": "M2S-0012345", "kind": "read", **fields}
    return world.client.post("/work-orders", data=data, follow_redirects=False)


def test_create_with_a_technician_reaches_their_pull_then_leaves_it_on_reassignment(
    world: World,
) -> None:
    cursor = world.pull(world.tech)["cursor"]
    bob_cursor = world.pull(world.bob)["cursor"]
    csrf = login(world.client, "olga")
    answer = world.client.post(
        "/work-orders",
        data={
            "csrf_token": csrf,
            "work_order_id": "WO-WEB-1",
            "meter_number": "M2S-0012345",
            "account_number": "104-8578-16",
            "kind": "high_bill",
            "priority": "high",
            "technician": "demo-tech",
            "notes": "Customer says the bill doubled",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/work-orders/WO-WEB-1?done=created"
    shown = world.client.get(answer.headers["location"])
    assert "WO-WEB-1 created." in shown.text
    assert "dispatched" in shown.text
    assert "Customer says the bill doubled" in shown.text
    # The technician's laptop gets it at its next pull, with the site's expectation.
    feed = world.pull(world.tech, cursor)
    mine = [w for w in feed["work_orders"] if w["work_order_id"] == "WO-WEB-1"]
    assert len(mine) == 1
    assert (mine[0]["kind"], mine[0]["status"], mine[0]["meter_number"]) == (
        "high_bill",
        "dispatched",
        "M2S-0012345",
    )
    cursor = feed["cursor"]
    # Reassigned to bob: it leaves demo-tech's laptop and arrives on bob's.
    page = world.client.get("/work-orders/WO-WEB-1")
    moved = world.client.post(
        "/work-orders/WO-WEB-1/assign",
        data={"csrf_token": csrf_of(page.text), "technician": "bob"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    after = world.pull(world.tech, cursor)
    assert after["removals"] == [{"entity": "work_order", "id": "WO-WEB-1", "reason": "reassigned"}]
    assert after["work_orders"] == []
    theirs = world.pull(world.bob, bob_cursor)
    assert [w["work_order_id"] for w in theirs["work_orders"]] == ["WO-WEB-1"]
    # Cancelled: it leaves bob's laptop too.
    cancelled = world.client.post(
        "/work-orders/WO-WEB-1/cancel", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    gone = world.pull(world.bob, theirs["cursor"])
    assert gone["removals"] == [{"entity": "work_order", "id": "WO-WEB-1", "reason": "cancelled"}]
    # Every step is in the audit log, as olga, and the chain holds.
    with world.database.read() as session:
        actions = session.execute(
            select(AuditLog.action, AuditLog.actor_id)
            .where(AuditLog.entity_id == "WO-WEB-1")
            .order_by(AuditLog.seq)
        ).all()
        verify_audit_chain(session)
    assert actions == [
        ("work_order.create", "olga"),
        ("work_order.assign", "olga"),
        ("work_order.assign", "olga"),
        ("work_order.cancel", "olga"),
    ]


def test_refused_commands_are_one_line_on_the_page_and_change_nothing(world: World) -> None:
    csrf = login(world.client, "ada")  # admin may do it too
    done = world.client.post(
        "/api/v1/work-orders/WO-2026-10404/commands", json={"command": "close"}, headers=world.admin
    )
    assert done.status_code == 200
    before = world.count("audit_log")
    refused = world.client.post("/work-orders/WO-2026-10404/cancel", data={"csrf_token": csrf})
    assert refused.status_code == 409
    errors = re.findall(r'<p class="error" role="alert">([^<]*)</p>', refused.text)
    assert errors == [
        "Not cancelled: WO-2026-10404 is completed: this work order is already completed"
    ]
    assert world.count("audit_log") == before
    stranger = world.client.post(
        "/work-orders/WO-2026-10401/assign", data={"csrf_token": csrf, "technician": "olga"}
    )
    assert stranger.status_code == 422
    assert "&#39;olga&#39; is not a technician" in stranger.text
    assert (
        world.client.post("/work-orders/WO-nope/cancel", data={"csrf_token": csrf}).status_code
        == 404
    )


def test_create_refuses_bad_input_with_one_line_and_keeps_the_form(world: World) -> None:
    csrf = login(world.client, "olga")
    count = world.count("work_orders")
    for fields, message in (
        ({"meter_number": "M-NOPE"}, "there is no meter &#39;M-NOPE&#39;"),
        ({"account_number": "101-1533-14"}, "is on account &#39;104-8578-16&#39;"),
        ({"kind": "party"}, "unknown work-order type &#39;party&#39;"),
        ({"work_order_id": "WO-2026-10404"}, "there is already a work order"),
        ({"technician": "olga"}, "&#39;olga&#39; is not a technician"),
    ):
        answer = _create(world, csrf, notes="keep me", **fields)
        assert answer.status_code == 422, fields
        text = answer.text
        assert len(re.findall(r'class="error"', text)) == 1
        assert message in text, (fields, text[:2000])
        assert ">keep me</textarea>" in text
    assert world.count("work_orders") == count
    # Without an id the server names it; without a technician it is open and fed to no one.
    made = _create(world, csrf, priority="low")
    location = made.headers["location"]
    assert re.fullmatch(r"/work-orders/WO-\d{8}-[0-9A-F]{6}\?done=created", location)
    assert '<dd class="wo-open">open</dd>' in world.client.get(location).text


def test_the_list_filters_and_pages_by_keyset(world: World) -> None:
    csrf = login(world.client, "olga")
    for i in range(PAGE_SIZE + 5):
        assert _create(world, csrf, work_order_id=f"WO-P-{i:03d}", kind="other").status_code == 303
    first = world.client.get("/work-orders?kind=other")
    ids = _ids(first.text)
    assert ids == [f"WO-P-{i:03d}" for i in range(PAGE_SIZE + 4, 4, -1)]
    older = re.search(r'<a rel="next" href="([^"]+)">', first.text)
    assert older is not None
    second = world.client.get(older.group(1).replace("&amp;", "&"))
    assert _ids(second.text) == [f"WO-P-{i:03d}" for i in range(4, -1, -1)]
    assert 'rel="next"' not in second.text
    # By status and technician: the example file's dispatched orders of demo-tech.
    mine = _ids(world.client.get("/work-orders?status=dispatched&technician=demo-tech").text)
    with world.database.read() as session:
        expected = sorted(
            session.execute(
                select(WorkOrder.work_order_id)
                .join(User, User.id == WorkOrder.technician_id)
                .where(WorkOrder.status == "dispatched", User.name == "demo-tech")
            ).scalars()
        )
    assert mine
    assert sorted(mine) == expected
    unassigned = _ids(world.client.get("/work-orders?technician=-&kind=other").text)
    assert len(unassigned) == PAGE_SIZE
    assert world.client.get("/work-orders?status=bogus").status_code == 400
    assert world.client.get("/work-orders?before=x'1").status_code == 400


def test_text_is_escaped_and_forms_need_the_csrf_token(world: World) -> None:
    csrf = login(world.client, "olga")
    made = _create(world, csrf, work_order_id="WO-X", notes="<script>alert(1)</script>")
    page = world.client.get(made.headers["location"])
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    count = world.count("work_orders")
    forged = world.client.post("/work-orders", data={"meter_number": "M2S-0012345", "kind": "read"})
    assert forged.status_code == 403
    other = world.client.post("/work-orders/WO-X/cancel", data={"csrf_token": "not-the-token"})
    assert other.status_code == 403
    assert world.count("work_orders") == count
    assert "wo-open" in world.client.get("/work-orders/WO-X").text


def test_logged_out_and_tokens_are_sent_to_login(world: World) -> None:
    for headers in ({}, world.tech, world.office):
        for path in ("/work-orders", "/work-orders/WO-2026-10404"):
            answer = world.client.get(path, headers=headers, follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=/work-orders")
        posted = world.client.post(
            "/work-orders/WO-2026-10404/cancel", headers=headers, follow_redirects=False
        )
        assert posted.status_code == 303
