"""Migrations 0003 to 0007 fill what the office pages read for data already on the server."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select

from syncserver.db.migrate import current_revision, downgrade, head_revision, upgrade
from syncserver.db.models import Account, SearchTerm, Visit, VisitCheck, VisitRepeat
from syncserver.services.prepare import READING_COLUMNS
from tests.server.conftest import World, op, visit
from tests.server.web_helpers import login


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
    assert current_revision(world.database) == head_revision()
    backfilled = summary()
    for key in ("v-bad", "v-good"):  # the same as the server wrote at ingest (ended_at too)
        assert backfilled[key][:5] == at_ingest[key][:5]
        assert backfilled[key][5] == at_ingest[key][5]


def _snapshot(drift: float, volts: list[float], kwh: float) -> dict[str, Any]:
    return {
        "protocol": "c1218",
        "read_at": "2026-12-03T09:05:00Z",
        "identity": {"manufacturer": "GE", "model": "I210+", "serial_number": "SN1"},
        "clock": {
            "meter_time": "2026-12-03T09:05:00Z",
            "reference_time": "2026-12-03T09:05:00Z",
            "drift_seconds": drift,
        },
        "phases": [{"phase": p, "voltage": v} for p, v in zip("ABC", volts, strict=False)],
        "registers": [
            {"id": "kwh_delivered", "value": kwh, "unit": "kWh"},
            {"id": "kwh_delivered", "value": 1.0, "unit": "kWh", "tier": "A"},
            {"id": "kwh_received", "value": 0.5, "unit": "kWh"},
        ],
    }


def test_0004_backfills_readings_check_times_and_search_terms(world: World) -> None:
    """Migration 0004 up from 0003 gives what ingest and the CIS import write, on both
    engines; down again removes it."""
    pushed = world.push(
        world.tech,
        world.tech_device,
        [
            op(
                "o1",
                visit(
                    "v-read",
                    verdict="warn",
                    checks=[_check("clock_drift", "warn"), _check("voltage", "pass")],
                    snapshot=_snapshot(95.5, [241.0, 239.5], 17650.2),
                ),
            ),
            op("o2", visit("v-bare", started_at="2026-12-01T08:00:00Z")),
        ],
    )
    assert [r["status"] for r in pushed.json()["results"]] == ["applied", "applied"]

    def state() -> tuple[Any, ...]:
        with world.database.read() as session:
            readings = session.execute(
                select(Visit.visit_id, *(getattr(Visit, c) for c in READING_COLUMNS)).order_by(
                    Visit.visit_id
                )
            ).all()
            times = session.execute(
                select(Visit.visit_id, VisitCheck.check_id, VisitCheck.visited_at, Visit.visited_at)
                .join(Visit, Visit.id == VisitCheck.visit_pk)
                .order_by(Visit.visit_id, VisitCheck.check_id)
            ).all()
            terms = session.execute(
                select(SearchTerm.term, SearchTerm.source, Account.account_number)
                .join(Account, Account.id == SearchTerm.account_id)
                .order_by(SearchTerm.term, Account.account_number)
            ).all()
        return readings, times, terms

    readings, times, terms = at_ingest = state()
    assert readings == [
        ("v-bare", None, None, None, None, None, None),
        ("v-read", 95.5, 241.0, 239.5, None, 17650.2, 0.5),
    ]
    assert [(v, c) for v, c, _, _ in times] == [("v-read", "clock_drift"), ("v-read", "voltage")]
    assert all(check_at == visit_at for _, _, check_at, visit_at in times)
    assert ("lindqvist", "name", "101-1533-14") in terms
    assert ("mill road springfield", "address", "101-1533-14") in terms

    downgrade(world.database, "0003")
    assert current_revision(world.database) == "0003"
    with world.database.read() as session:
        tables = inspect(session.connection()).get_table_names()
        columns = {c["name"] for c in inspect(session.connection()).get_columns("visits")}
    assert "search_terms" not in tables
    assert not columns & set(READING_COLUMNS)
    upgrade(world.database)
    assert current_revision(world.database) == head_revision()
    assert state() == at_ingest


def test_0005_counts_failed_checks_of_stored_visits_and_adds_the_checkpoints(
    world: World,
) -> None:
    """Migration 0005 up from 0004 counts each stored visit's failed checks as ingest does
    (the weekly report reads them from its covering index), on both engines."""
    pushed = world.push(
        world.tech,
        world.tech_device,
        [
            op(
                "o1",
                visit(
                    "v-two-fails",
                    verdict="fail",
                    checks=[
                        _check("polarity", "fail"),
                        _check("polarity", "pass"),
                        _check("voltage", "fail"),
                        _check("clock_drift", "warn"),
                    ],
                ),
            ),
            op("o2", visit("v-warned", verdict="warn", checks=[_check("clock_drift", "warn")])),
            op("o3", visit("v-clean", checks=[_check("voltage", "pass")])),
        ],
    )
    assert [r["status"] for r in pushed.json()["results"]] == ["applied"] * 3

    def counts() -> dict[str, int]:
        with world.database.read() as session:
            rows = session.execute(select(Visit.visit_id, Visit.checks_failed)).all()
        return {str(v): int(n) for v, n in rows}

    at_ingest = counts()
    assert at_ingest == {"v-two-fails": 2, "v-warned": 0, "v-clean": 0}

    downgrade(world.database, "0004")
    assert current_revision(world.database) == "0004"
    with world.database.read() as session:
        found = inspect(session.connection())
        columns = {c["name"] for c in found.get_columns("visits")}
        indexes = {i["name"] for i in found.get_indexes("visits")}
        tables = found.get_table_names()
    assert "checks_failed" not in columns
    assert "ix_visits_report" not in indexes
    assert "audit_checkpoints" not in tables
    upgrade(world.database)
    assert current_revision(world.database) == head_revision()
    assert counts() == at_ingest
    with world.database.read() as session:
        assert "ix_visits_report" in {
            i["name"] for i in inspect(session.connection()).get_indexes("visits")
        }


def test_a_revised_visit_counts_the_failed_checks_of_its_latest_revision(world: World) -> None:
    """The weekly report reads ``visits.checks_failed``: a revision that clears a failed
    check must lower it, as the ``visit_checks`` rows are replaced."""
    fails = [_check("polarity", "fail"), _check("voltage", "fail")]
    first = visit("v-revised", verdict="fail", checks=fails)
    second = visit("v-revised", verdict="fail", checks=[fails[0], _check("voltage", "pass")])
    second["revision"] = 2
    for name, document in (("r1", first), ("r2", second)):
        pushed = world.push(world.tech, world.tech_device, [op(name, document)])
        assert pushed.json()["results"][0]["status"] == "applied"
    with world.database.read() as session:
        stored = session.execute(
            select(Visit.checks_failed, Visit.revision).where(Visit.visit_id == "v-revised")
        ).one()
    assert tuple(stored) == (1, 2)


def test_0006_adds_the_session_notices_and_takes_them_back_out(world: World) -> None:
    downgrade(world.database, "0005")
    with world.database.read() as session:
        assert "web_flashes" not in inspect(session.connection()).get_table_names()
    upgrade(world.database)
    assert current_revision(world.database) == head_revision()
    with world.database.read() as session:
        found = inspect(session.connection())
        assert "web_flashes" in found.get_table_names()
        (key,) = found.get_foreign_keys("web_flashes")
    assert key["referred_table"] == "web_sessions"
    assert (key.get("options") or {}).get("ondelete") == "CASCADE"


def test_0007_gives_stored_visits_the_previous_visits_ingest_keeps(world: World) -> None:
    """Migration 0007 up from 0006 fills ``visit_repeats`` for the visits already stored as
    ingest keeps it (late arrivals, a revision that moved a visit, two meters, visits
    exactly 30 days after the one before, two at the same time), and the weekly report's
    figures are the same."""
    pushes = [
        ("v1", 1, "M2S-0012345", "2026-10-05T09:00:00Z"),
        ("v2", 1, "M2S-0012345", "2026-11-04T09:00:00Z"),  # 30 days after v1
        ("w1", 1, "M2S-0034567", "2026-11-02T09:00:00Z"),
        ("v3", 1, "M2S-0012345", "2026-10-20T09:00:00Z"),  # late, between v1 and v2
        ("w2", 1, "M2S-0034567", "2026-10-01T09:00:00Z"),  # late, before w1
        ("v3", 2, "M2S-0034567", "2026-10-25T09:00:00Z"),  # moved to the other meter
        ("x1", 1, "M2S-9999999", "2026-10-26T09:00:00Z"),  # a meter the server lacks
        ("v4", 1, "M2S-0012345", "2026-11-04T09:00:00Z"),  # with v2: neither is before
    ]
    for visit_id, revision, meter, start in pushes:
        document = visit(visit_id, None, op_id=f"{visit_id}-{revision}", revision=revision,
                         meter_number=meter, started_at=start)  # fmt: skip
        answer = world.push(world.tech, world.tech_device, [op(f"{visit_id}-{revision}", document)])
        assert answer.json()["results"][0]["status"] == "applied", answer.text
    login(world.client, "olga")

    def state() -> tuple[list[tuple[Any, ...]], str]:
        with world.database.read() as session:
            rows = session.execute(
                select(Visit.visit_id, VisitRepeat.technician_id, VisitRepeat.visited_at,
                       VisitRepeat.previous_at)
                .join(Visit, Visit.id == VisitRepeat.visit_pk)
                .order_by(Visit.visit_id)
            ).all()  # fmt: skip
        report = world.client.get("/reports.csv?since=2026-09-28&until=2026-11-08")
        assert report.status_code == 200
        return [tuple(r) for r in rows], report.text

    rows, report = at_ingest = state()
    assert [(v, p.date().isoformat()) for v, _, _, p in rows] == [
        ("v2", "2026-10-05"), ("v3", "2026-10-01"), ("v4", "2026-10-05"), ("w1", "2026-10-25"),
    ]  # fmt: skip
    assert sum(int(r.split(",")[-1]) for r in report.splitlines()[1:]) == 4  # all four
    downgrade(world.database, "0006")
    with world.database.read() as session:
        assert "visit_repeats" not in inspect(session.connection()).get_table_names()
    upgrade(world.database)
    assert current_revision(world.database) == head_revision()
    assert state() == at_ingest
