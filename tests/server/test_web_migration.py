"""Migration 0003 fills the office's summary columns of visits already on the server."""

from __future__ import annotations

from sqlalchemy import select

from syncserver.db.migrate import current_revision, downgrade, head_revision, upgrade
from syncserver.db.models import Visit, VisitCheck
from tests.server.conftest import World, op, visit


def _check(cid: str, status: str) -> dict[str, str]:
    return {"id": cid, "status": status, "message": f"{cid} {status}"}


def test_upgrade_backfills_visits_stored_before_it(world: World) -> None:
    pushed = world.push(
        world.tech,
        world.tech_device,
        [
            op(
                "o1",
                visit(
                    "v-bad",
                    verdict="fail",
                    outcome="replace_meter",
                    checks=[
                        _check("polarity", "fail"),
                        _check("polarity", "pass"),
                        _check("clock_drift", "warn"),
                        _check("voltage", "pass"),
                    ],
                ),
            ),
            op(
                "o2",
                visit(
                    "v-good",
                    checks=[_check("voltage", "pass")],
                    started_at="2026-12-02T08:00:00Z",
                ),
            ),
        ],
    )
    assert [r["status"] for r in pushed.json()["results"]] == ["applied", "applied"]

    def summary() -> dict[str, tuple[object, ...]]:
        with world.database.read() as session:
            rows = session.execute(
                select(
                    Visit.visit_id,
                    Visit.visited_at,
                    Visit.verdict,
                    Visit.outcome,
                    Visit.exception,
                    Visit.ended_at,
                )
            ).all()
            checks = session.execute(
                select(Visit.visit_id, VisitCheck.check_id, VisitCheck.status)
                .join(VisitCheck, VisitCheck.visit_pk == Visit.id)
                .order_by(Visit.visit_id, VisitCheck.check_id)
            ).all()
        return {r[0]: (*r[1:], [(c, s) for v, c, s in checks if v == r[0]]) for r in rows}

    at_ingest = summary()
    assert at_ingest["v-bad"][1:4] == ("fail", "replace_meter", True)
    assert at_ingest["v-bad"][5] == [
        ("clock_drift", "warn"),
        ("polarity", "fail"),
        ("voltage", "pass"),
    ]
    assert at_ingest["v-good"][1:4] == ("pass", "resolved", False)
    assert at_ingest["v-good"][0].isoformat() == "2026-12-02T08:00:00+00:00"

    downgrade(world.database, "0002")
    assert current_revision(world.database) == "0002"
    upgrade(world.database)
    assert current_revision(world.database) == head_revision() == "0003"
    backfilled = summary()
    for key in ("v-bad", "v-good"):  # the same as the server wrote at ingest (ended_at too)
        assert backfilled[key][:5] == at_ingest[key][:5]
        assert backfilled[key][5] == at_ingest[key][5]
