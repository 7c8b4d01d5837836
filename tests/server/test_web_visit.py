"""The visit page on a realistic visit: a simulated 16S meter with a reversed CT is read over
127.0.0.1, judged by the kit's checks against the work order the laptop pulled, and pushed
through the real push API; the office opens it, downloads the capture and reviews it."""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import escape
from sqlalchemy import select

from fieldkit.drivers.base import create_driver
from fieldkit.sync.schema import CaptureDocument, VisitDocument, WorkOrderDoc
from fieldkit.visit import run_visit, visit_document
from syncserver.db.models import AuditLog
from syncserver.services.journal import verify_audit_chain
from tests.server.conftest import World, op
from tests.server.web_helpers import login

ORDER = "WO-2026-10408"  # meter M16-0065432, the reversed-ct-16s simulator's


def _push_reversed_ct_visit(world: World, sim: Any) -> VisitDocument:
    pulled = world.pull(world.tech)
    order = WorkOrderDoc.model_validate(
        next(o for o in pulled["work_orders"] if o["work_order_id"] == ORDER)
    ).to_model()
    simulator = sim("reversed-ct-16s")
    result = run_visit(
        create_driver("c1218", simulator.url), order.expectation(), work_order_id=ORDER
    )
    document = visit_document(
        result,
        technician="demo-tech",
        order=order,
        outcome="follow_up",
        notes=["CT on B looks reversed at the test switch; meter shop to verify"],
    )
    answer = world.push(
        world.tech,
        world.tech_device,
        [op(document.op_id, document.model_dump(mode="json", exclude_none=True))],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["status"] == "applied", answer.text
    return document


def test_the_visit_page_shows_everything_the_office_needs(world: World, sim: Any) -> None:
    document = _push_reversed_ct_visit(world, sim)
    assert document.verdict == "fail"
    login(world.client, "olga")
    page = world.client.get(f"/visits/{document.visit_id}")
    assert page.status_code == 200
    html = page.text
    # Identity: account, premise, meter, work order, technician.
    for text in ("108-2246-08", "M16-0065432", ORDER, "demo-tech", "3ph-4w-wye", "follow_up"):
        assert text in html
    # The verdict table with the failed check and its likely causes.
    polarity = next(c for c in document.checks if c.id == "polarity")
    assert polarity.status == "fail"
    assert '<td class="status-fail">fail</td>' in html
    assert polarity.likely_causes
    for cause in polarity.likely_causes:
        assert f"<li>{escape(cause)}</li>" in html
    # The phasor diagram: measured lines for each element, and the expected wye faintly.
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    assert svg.group(0).count('class="measured voltage"') == 3
    assert svg.group(0).count('class="measured current"') == 3
    assert svg.group(0).count('class="expected"') == 6
    assert "IB" in svg.group(0)
    # Per-phase values, clock drift, notes.
    snapshot = document.snapshot
    assert snapshot is not None
    assert snapshot.clock is not None
    assert snapshot.clock.drift_seconds is not None
    assert f"{snapshot.clock.drift_seconds:+.1f} s" in html
    assert f"{snapshot.phases[1].voltage:.1f} V" in html
    assert "CT on B looks reversed" in html
    assert "Download the frame capture" in html
    # Registers as the office reads them: a count is a whole number, not "41.0 count".
    resets = next(r for r in snapshot.registers if r.id == "demand_resets")
    assert f"<td>{int(resets.value)} count</td>" in html


def test_the_capture_downloads_as_a_capture_document(world: World, sim: Any) -> None:
    document = _push_reversed_ct_visit(world, sim)
    login(world.client, "olga")
    answer = world.client.get(f"/visits/{document.visit_id}/capture")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    capture = CaptureDocument.model_validate_json(answer.content)
    assert document.capture is not None
    assert capture.frames == document.capture.frames
    assert capture.frames


def test_a_review_status_change_is_audited_in_the_chain(world: World, sim: Any) -> None:
    document = _push_reversed_ct_visit(world, sim)
    csrf = login(world.client, "olga")
    url = f"/visits/{document.visit_id}"
    refused = world.client.post(f"{url}/review", data={"status": "action_needed"})
    assert refused.status_code == 403
    answer = world.client.post(
        f"{url}/review",
        data={"status": "action_needed", "comment": "send the meter shop", "csrf_token": csrf},
    )
    assert answer.status_code == 200
    assert '<strong class="review-status">action_needed</strong>' in answer.text
    assert "send the meter shop" in answer.text
    assert "last set by olga" in answer.text
    with world.database.read() as session:
        verify_audit_chain(session)
        rows = session.execute(
            select(AuditLog.action, AuditLog.actor_id, AuditLog.detail).where(
                AuditLog.entity_id == document.visit_id
            )
        ).all()
    actions = [(a, who) for a, who, _ in rows]
    assert ("visit.review", "olga") in actions
    assert ("visit.comment", "olga") in actions
    review = next(json.loads(d) for a, _, d in rows if a == "visit.review")
    assert review == {"from": "new", "to": "action_needed"}
    assert all("send the meter shop" not in d for _, _, d in rows)  # no free text in the log
    bad = world.client.post(f"{url}/review", data={"status": "done", "csrf_token": csrf})
    assert bad.status_code == 400


def test_another_visit_id_is_a_404_page(world: World) -> None:
    login(world.client, "olga")
    answer = world.client.get("/visits/no-such-visit")
    assert answer.status_code == 404
    assert "no visit" in answer.text
