"""Search, the account page and the meter history on the example CIS data, with visits
pushed through the real push API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncserver.services.history import PAGE_SIZE
from tests.server.conftest import EXAMPLES, World, import_file, op, visit
from tests.server.web_helpers import login

ACCOUNT, METER, ORDER = "104-8578-16", "M2S-0012345", "WO-2026-10404"  # Liam Murphy's
BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _snapshot(drift: float, volts: list[float], kwh: float) -> dict[str, Any]:
    return {
        "protocol": "c1218",
        "read_at": "2026-12-03T09:05:00Z",
        "identity": {"manufacturer": "GE", "model": "I210+", "serial_number": "SN2S000000012345"},
        "clock": {
            "meter_time": "2026-12-03T09:05:00Z",
            "reference_time": "2026-12-03T09:05:00Z",
            "drift_seconds": drift,
        },
        "phases": [{"phase": p, "voltage": v} for p, v in zip("ABC", volts, strict=False)],
        "registers": [{"id": "kwh_delivered", "value": kwh, "unit": "kWh"}],
    }


def _reading_visit(i: int, drift: float, status: str, kwh: float) -> dict[str, Any]:
    return visit(
        f"r-{i:03d}",
        work_order=ORDER,
        started_at=(BASE + timedelta(days=7 * i)).isoformat(),
        verdict=status,
        checks=[
            {"id": "clock_drift", "status": status, "message": f"drift {drift} s"},
            {"id": "service_voltage", "status": "pass", "message": "ok"},
        ],
        snapshot=_snapshot(drift, [240.0 + i, 239.0 - i], kwh),
    )


def _push(world: World, documents: list[dict[str, Any]]) -> None:
    for start in range(0, len(documents), 100):
        answer = world.push(
            world.tech,
            world.tech_device,
            [op(d["op_id"], d) for d in documents[start : start + 100]],
        )
        assert answer.status_code == 200, answer.text
        assert {r["status"] for r in answer.json()["results"]} == {"applied"}, answer.text


def _links(html: str, prefix: str) -> list[str]:
    return re.findall(rf'href="({re.escape(prefix)}[^"#?]*)', html)


def _import_accounts(world: World, tmp_path: Path, rows: list[dict[str, str]]) -> None:
    header = (EXAMPLES / "cis-accounts.csv").read_text().splitlines()[0]
    columns = header.split(",")
    lines = [header]
    for row in rows:
        lines.append(",".join('"' + row.get(c, "").replace('"', '""') + '"' for c in columns))
    path = tmp_path / "more-accounts.csv"
    path.write_text("\n".join(lines) + "\n")
    import_file(world.database, path, "accounts")


HOSTILE = {
    "account_number": "900-0000-01",
    "customer_name": "<script>alert('name')</script> Mallory",
    "phone": "",
    "net_metering": "no",
    "premise_id": "PRM-90001",
    "service_address": '"><img src=x onerror=alert(1)> 1 Evil Lane',
    "meter_number": "M2S-0090666",
    "meter_serial": "SN2S000000090666",
    "form": "2S",
    "meter_class": "CL200",
    "service_type": "1ph-3w",
    "nominal_voltage": "240",
    "last_read_kwh": "100.0",
    "last_read_at": "2026-11-02",
}


@pytest.mark.parametrize(
    ("query", "section", "expected"),
    [
        ("101-1533-14", "/accounts/", "101-1533-14"),  # account number
        ("PRM-20037", "/accounts/", "101-1533-14"),  # premise id
        ("M2S-0034567", "/meters/", "M2S-0034567"),  # meter number
        ("m2s-0034567", "/meters/", "M2S-0034567"),  # typed in lower case
        ("SN2S000000034567", "/meters/", "M2S-0034567"),  # serial
        ("WO-2026-10401", "/meters/", "M2S-0034567"),  # work order: its meter and account
        ("lindq", "/accounts/", "101-1533-14"),  # the start of a surname
        ("James Lindqvist", "/accounts/", "101-1533-14"),  # the whole name
        ("17 mill", "/accounts/", "101-1533-14"),  # the start of an address
        ("MILL ROAD", "/accounts/", "103-1243-07"),  # a word inside a name, any case
        ("st annes", "/accounts/", "107-9029-11"),  # St. Anne's School, punctuation aside
    ],
)
def test_search_finds_each_kind_of_key(
    world: World, query: str, section: str, expected: str
) -> None:
    login(world.client, "olga")
    page = world.client.get("/search", params={"q": query})
    assert page.status_code == 200
    assert f"{section}{expected}" in _links(page.text, section)


def test_search_puts_exact_ids_first_and_says_when_nothing_matched(world: World) -> None:
    login(world.client, "olga")
    # "Mill Road" is a customer's name (103-1243-07) and another's address (101-1533-14);
    # the account number typed exactly comes before both.
    page = world.client.get("/search", params={"q": "101-1533-14"}).text
    assert _links(page, "/accounts/")[0] == "/accounts/101-1533-14"
    mill = world.client.get("/search", params={"q": "mill road"}).text
    assert {"/accounts/101-1533-14", "/accounts/103-1243-07"} <= set(_links(mill, "/accounts/"))
    nothing = world.client.get("/search", params={"q": "zzqx"})
    assert nothing.status_code == 200
    assert "Nothing found for “zzqx”" in nothing.text
    empty = world.client.get("/search")
    assert "from the start of any word" in empty.text


def test_search_follows_a_renamed_customer(world: World, tmp_path: Path) -> None:
    row = dict(HOSTILE, customer_name="Olive Ostrander", service_address="5 Quay Lane")
    row.update(meter_number="M2S-0090001", meter_serial="SN90001")
    _import_accounts(world, tmp_path, [row])
    login(world.client, "olga")
    assert "/accounts/900-0000-01" in _links(
        world.client.get("/search", params={"q": "ostrand"}).text, "/accounts/"
    )
    _import_accounts(world, tmp_path, [dict(row, customer_name="Olive Baker")])
    assert "Nothing found" in world.client.get("/search", params={"q": "ostrand"}).text
    assert "/accounts/900-0000-01" in _links(
        world.client.get("/search", params={"q": "olive bak"}).text, "/accounts/"
    )


def test_the_account_page_has_what_the_phone_call_needs(world: World) -> None:
    _push(world, [_reading_visit(i, 1.0, "pass", 17600.0 + i) for i in range(3)])
    login(world.client, "olga")
    page = world.client.get(f"/accounts/{ACCOUNT}")
    assert page.status_code == 200
    html = page.text
    for text in ("Liam Murphy", "+1-555-0104", "38 Birch Avenue, Springfield", "PRM-20148"):
        assert text in html
    # The meter with its last billed read, the work order with its status.
    assert f'href="/meters/{METER}"' in html
    assert "17,612.6 kWh" in html
    assert re.search(rf"<td>{ORDER}</td><td>read</td><td>\w+</td>", html)
    # Visits newest first, each a link to its page.
    visits = _links(html, "/visits/")
    assert visits == ["/visits/r-002", "/visits/r-001", "/visits/r-000"]


def test_no_phone_line_without_a_phone_and_hostile_text_is_escaped(
    world: World, tmp_path: Path
) -> None:
    _import_accounts(world, tmp_path, [HOSTILE])
    login(world.client, "olga")
    pages = [
        world.client.get("/search", params={"q": "mallory"}),
        world.client.get("/search", params={"q": "evil lane"}),
        world.client.get("/search", params={"q": "<script>alert"}),
        world.client.get("/accounts/900-0000-01"),
        world.client.get("/meters/M2S-0090666"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.text
        assert "Mallory" in html
        for raw in ("<script>alert", "<img src=x"):
            assert raw not in html
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt; Mallory" in pages[0].text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt; 1 Evil Lane" in pages[1].text
    assert 'value="&lt;script&gt;alert"' in pages[2].text  # the query, back in its box
    assert "<dt>Phone</dt>" not in pages[3].text
    liam = world.client.get(f"/accounts/{ACCOUNT}").text
    assert "<dt>Phone</dt>" in liam


def test_the_meter_history_plots_readings_and_lists_status_changes(world: World) -> None:
    steps = [(0.5, "pass"), (95.0, "warn"), (2.0, "pass"), (1.0, "pass")]
    documents = [_reading_visit(i, d, s, 17600.0 + 10 * i) for i, (d, s) in enumerate(steps)]
    _push(world, documents)
    login(world.client, "olga")
    page = world.client.get(f"/meters/{METER}")
    assert page.status_code == 200
    html = page.text
    assert "SN2S000000012345" in html
    assert "Liam Murphy" in html
    assert f'href="/accounts/{ACCOUNT}"' in html
    plots = re.findall(r'<svg[^>]*class="plot".*?</svg>', html, re.S)
    assert len(plots) == 3
    drift, volts, kwh = plots
    assert "Clock drift (meter − reference) (s)" in drift
    assert "Voltage per element (V)" in volts
    assert "Energy registers as read (kWh)" in kwh
    assert drift.count("<circle") == 4
    assert "drift 2026-11-09 09:00: 95 s" in drift
    assert volts.count('class="series"') == 2  # A and B; this meter has no phase C
    assert "2026-11-02" in drift
    assert 'class="date"' in drift
    # Checks that changed status: pass → warn at the second visit, warn → pass at the third.
    changes = re.search(r'<table class="changes">.*?</table>', html, re.S)
    assert changes is not None
    rows = re.findall(r"<tr><td>(\w+)</td><td[^>]*>(\w+)</td><td[^>]*>(\w+)</td>", changes[0])
    assert rows == [("clock_drift", "warn", "pass"), ("clock_drift", "pass", "warn")]
    assert 'href="/visits/r-002"' in changes[0]
    assert 'href="/visits/r-001"' in changes[0]
    # Every visit, newest first.
    listed = re.search(r'<table class="visits">.*?</table>', html, re.S)
    assert listed is not None
    assert _links(listed[0], "/visits/") == [f"/visits/r-{i:03d}" for i in (3, 2, 1, 0)]


def test_a_meter_with_many_visits_pages_by_keyset(world: World) -> None:
    total = PAGE_SIZE + 7
    _push(world, [_reading_visit(i, 1.0, "pass", 17600.0 + i) for i in range(total)])
    login(world.client, "olga")
    first = world.client.get(f"/meters/{METER}").text
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older is not None
    second = world.client.get(older[1].replace("&amp;", "&")).text
    table_first = re.search(r'<table class="visits">.*?</table>', first, re.S)
    table_second = re.search(r'<table class="visits">.*?</table>', second, re.S)
    assert table_first is not None
    assert table_second is not None
    pages = [_links(t[0], "/visits/") for t in (table_first, table_second)]
    assert len(pages[0]) == PAGE_SIZE
    assert len(pages[1]) == 7
    assert pages[0] + pages[1] == [f"/visits/r-{i:03d}" for i in reversed(range(total))]
    assert 'rel="next"' not in second
    assert "Newest" in second
    assert "All 57 visits" in first


def test_a_meter_with_one_visit_says_the_one_visit(world: World) -> None:
    _push(world, [_reading_visit(0, 1.0, "pass", 17600.0)])
    login(world.client, "olga")
    html = world.client.get(f"/meters/{METER}").text
    assert "The one visit, oldest on the left" not in html  # no "oldest" of one
    assert "The one visit." in html
    assert "All 1 visits" not in html


@pytest.mark.parametrize("path", ["/search?q=lind", f"/accounts/{ACCOUNT}", f"/meters/{METER}"])
def test_staff_only_and_logged_out_goes_to_login(world: World, path: str) -> None:
    for headers in (world.tech, world.office):  # a device token, a personal API token
        answer = world.client.get(path, headers=headers, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    login(world.client, "ada")  # an admin reads them too
    assert world.client.get(path).status_code == 200


def test_unknown_numbers_are_a_404_page(world: World) -> None:
    login(world.client, "olga")
    for path, what in (
        ("/accounts/999-nope", "no account &#39;999-nope&#39;"),
        ("/meters/<script>x", "no meter &#39;&lt;script&gt;x&#39;"),
    ):
        answer = world.client.get(path)
        assert answer.status_code == 404
        assert "<h1>Not found</h1>" in answer.text
        assert what in answer.text
    bad = world.client.get(f"/meters/{METER}", params={"after": "not-a-cursor"})
    assert bad.status_code == 400
