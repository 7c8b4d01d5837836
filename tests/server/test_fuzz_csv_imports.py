"""Hostile CIS exports through ``syncserver import-accounts`` and ``import-work-orders``.

Files made by Hypothesis from the real layouts (the example exports' header and cells, in
any column order and spelling) with hostile cells spliced in — quotes, separators and line
breaks inside cells, control characters, fields past the csv module's limit, dates at the
ends of the calendar, numbers that are not — rows with too many or too few cells, any line
ending, any encoding (UTF-8 with or without a BOM, two BOMs, UTF-16, Latin-1, cp1252), and
plain random bytes or the real file with bytes spliced in and cut out. Each import must end
either in a clean import (and importing the file again changes nothing) or in
:class:`ImportFileError`: one line, naming the file, and, where it names a row and a column,
a row of the file and the column of that number in its header. Never another exception, and
a refused file leaves every table exactly as it was: nothing half-imported.

Run on SQLite and PostgreSQL. ``FIELDKIT_CSV_FUZZ_EXAMPLES`` sets the examples per target
(a fast slice in ``make test``; ``make reliability`` runs more).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from syncserver.core.errors import ImportFileError
from syncserver.db.engine import Database
from syncserver.db.models import Base
from syncserver.services.imports import ACCOUNT_COLUMNS, WORK_ORDER_COLUMNS
from syncserver.services.journal import verify_audit_chain

from .conftest import EXAMPLES, add_user, import_file

pytestmark = pytest.mark.reliability

EXAMPLES_PER_TARGET = int(os.environ.get("FIELDKIT_CSV_FUZZ_EXAMPLES", "40"))
fuzz = settings(
    max_examples=EXAMPLES_PER_TARGET,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
LABEL = "export.csv"
ACCOUNTS = (EXAMPLES / "cis-accounts.csv").read_bytes()
WORK_ORDERS = (EXAMPLES / "cis-work-orders.csv").read_bytes()


def _records(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


REAL_ROWS = {"accounts": _records(ACCOUNTS), "work_orders": _records(WORK_ORDERS)}

# --- what a hostile export is made of ------------------------------------------------------

offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23.9), max_value=timedelta(hours=23.9))
)
moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).flatmap(
    lambda moment: st.one_of(
        st.just(moment.date().isoformat()),
        st.just(moment.isoformat()),
        offsets.map(lambda tz: moment.replace(tzinfo=tz).isoformat(sep=" ")),
    )
)
TRICKY = (
    '"', '""', '"quoted"', "a,b", "line\nbreak", "cr\rhere", "\r\n", " ", "\t", "\x00", "\x1b[2J",
    "=HYPERLINK(\"http://x\")", "1e999", "-1e999", "nan", "inf", "-0", "0", "1e-400", "0x1F",
    "١٢٠", "120 V", "yes ", "TRUE", "Y", "2026-02-30", "2026-13-01", "24:00", "9" * 400,
    "\ufeff", "\u2028", "é", "M2S-0034567", "demo-tech", "olga", "bob", "ada",
)  # fmt: skip
hostile = st.one_of(
    st.text(max_size=30),
    st.sampled_from(TRICKY),
    moments,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.integers(150, 300_000).map(lambda n: "x" * n),  # past 200/2000 chars; past csv's limit
)


def cell(real: str) -> st.SearchStrategy[str]:
    """Mostly the CIS's own cell, now and then an empty or a hostile one."""
    return st.integers(0, 19).flatmap(
        lambda n: hostile if n == 19 else st.just("") if n == 18 else st.just(real)
    )


def spelled(name: str) -> st.SearchStrategy[str]:
    """The column's name as an export might spell it (case, spaces, hyphens all the same)."""
    return st.sampled_from(
        [name, name.upper(), name.replace("_", " "), name.replace("_", "-").title(), f" {name} "]
    )


@st.composite
def exports(draw: st.DrawFn, kind: str) -> tuple[bytes, list[str], int | None]:
    """A file of ``kind``: its bytes, its header as written, and its record count if known.

    Its rows are the example export's, each cell now and then emptied or replaced.
    """
    layout = ACCOUNT_COLUMNS if kind == "accounts" else WORK_ORDER_COLUMNS
    names = [c.name for c in layout]
    required = [c.name for c in layout if c.required]
    chosen = draw(st.permutations(names))
    keep = draw(st.integers(0, len(chosen)))
    columns = [n for n in chosen if n in required or n in chosen[:keep]]
    if draw(st.integers(0, 9)) == 9:  # now and then a required column goes, or a stranger
        columns = draw(st.lists(st.sampled_from([*names, "meter_password", "colour"]), max_size=12))
    header = [draw(spelled(n)) for n in columns]
    rows: list[list[str]] = []
    real_rows = REAL_ROWS[kind]
    # Hypothesis favours the first of a choice and small numbers: the plain case comes first.
    picked = st.lists(st.integers(0, len(real_rows) - 1), min_size=1, max_size=6, unique=True)
    for real in [real_rows[i] for i in draw(st.one_of(picked, st.just([])))]:
        row = [draw(cell(real.get(n, ""))) for n in columns]
        change = draw(st.sampled_from([0] * 16 + [-2, -1, 1, 3]))
        row = row[: len(row) + change] if change < 0 else row + ["extra"] * change
        rows.append(row)
    out = io.StringIO(newline="")
    ending = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    records: int | None = len(rows)
    if draw(st.integers(0, 3)) < 3:
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
        writer = csv.writer(out, quoting=quoting, lineterminator=ending)
        writer.writerows([header, *rows])
    else:  # written by hand, as a careless export does: a comma in a cell moves the rest
        out.write(ending.join(",".join(r) for r in [header, *rows]) + ending)
        records = None  # a quote or a line break in a cell makes it more or fewer
    body = out.getvalue()
    if draw(st.integers(0, 9)) == 9:
        body = "\ufeff" + body  # a BOM in the text: with utf-8-sig, two
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    return body.encode(encoding, errors="replace"), header, records


@st.composite
def spliced(draw: st.DrawFn, real: bytes) -> bytes:
    """The real export with random bytes put in and a piece cut out."""
    data = bytearray(real)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


# --- what must hold ------------------------------------------------------------------------

_WHERE = re.compile(r"^export\.csv row (\d+)(?:, column (\d+)(?: \((\w+)\))?)?: ")


def contents(database: Database) -> str:
    """A digest of every row of every table: equal digests, equal databases."""
    digest = hashlib.sha256()
    with database.read() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(text(f"SELECT * FROM {table.name} ORDER BY 1")).all()  # noqa: S608
            digest.update(f"{table.name}:{rows!r}".encode())
    return digest.hexdigest()


def _reason(message: str) -> str:
    """What kind of refusal: the message without its row, column and cell."""
    reason = _WHERE.sub("", message.removeprefix(LABEL).lstrip(": "))
    return re.sub(r"'[^']*'|\d+", "_", reason)[:60]


def _key(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def import_or_refuse(
    database: Database,
    tmp: Path,
    data: bytes,
    kind: str,
    header: list[str] | None,
    records: int | None,
) -> str:
    """Import ``data``; assert what a clean import or a refusal promises. Which it was."""
    path = tmp / LABEL
    path.write_bytes(data)
    before = contents(database)
    try:
        import_file(database, path, kind)
    except ImportFileError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert message.startswith(LABEL), message
        assert contents(database) == before, f"half-imported: {message}"
        where = _WHERE.match(message)
        if where and header is not None:
            row = int(where.group(1))
            assert row >= 1, message
            assert records is None or row <= records + 1, message
            if where.group(2) and where.group(3):
                column = int(where.group(2))
                assert _key(header[column - 1]) == where.group(3), message
        return f"refused: {_reason(message)}"
    with database.read() as session:
        verify_audit_chain(session)
    after = contents(database)
    import_file(database, path, kind)  # the same file again: nothing changes, not even audit
    assert contents(database) == after
    return "imported"


def report(what: str, seen: Counter[str]) -> None:
    """Both outcomes happened (the generator is neither too kind nor too hostile); print why."""
    refused = sum(n for outcome, n in seen.items() if outcome.startswith("refused"))
    assert seen["imported"] > 0
    assert refused > 0
    print(f"\n{what}: {seen['imported']} imported, {refused} refused")
    for outcome, n in seen.most_common():
        print(f"  {n:>6}  {outcome}")


def _seeded_for_work_orders(database: Database) -> None:
    for name, role in (("demo-tech", "technician"), ("bob", "technician"), ("olga", "office")):
        add_user(database, name, role)
    path = EXAMPLES / "cis-accounts.csv"
    assert import_file(database, path, "accounts").new == 30


@pytest.mark.slow
@pytest.mark.timeout(max(300, EXAMPLES_PER_TARGET * 3))
def test_hostile_account_exports_import_whole_or_not_at_all(
    database: Database, tmp_path: Path
) -> None:
    seen: Counter[str] = Counter()

    @fuzz
    @given(exports("accounts"))
    def target(export: tuple[bytes, list[str], int | None]) -> None:
        data, header, records = export
        seen[import_or_refuse(database, tmp_path, data, "accounts", header, records)] += 1

    target()
    report("accounts", seen)


@pytest.mark.slow
@pytest.mark.timeout(max(300, EXAMPLES_PER_TARGET * 3))
def test_hostile_work_order_exports_import_whole_or_not_at_all(
    database: Database, tmp_path: Path
) -> None:
    _seeded_for_work_orders(database)
    seen: Counter[str] = Counter()

    @fuzz
    @given(exports("work_orders"))
    def target(export: tuple[bytes, list[str], int | None]) -> None:
        data, header, records = export
        seen[import_or_refuse(database, tmp_path, data, "work_orders", header, records)] += 1

    target()
    report("work orders", seen)


@pytest.mark.slow
@pytest.mark.timeout(max(300, EXAMPLES_PER_TARGET * 3))
def test_any_bytes_and_spliced_exports_import_whole_or_not_at_all(
    database: Database, tmp_path: Path
) -> None:
    _seeded_for_work_orders(database)

    @fuzz
    @given(
        st.sampled_from(["accounts", "work_orders"]).flatmap(
            lambda kind: st.tuples(
                st.just(kind),
                st.one_of(
                    st.binary(max_size=600),
                    spliced(ACCOUNTS if kind == "accounts" else WORK_ORDERS),
                    st.binary(max_size=64).map(lambda b: codecs.BOM_UTF8 + b),
                ),
            )
        )
    )
    def target(case: tuple[str, bytes]) -> None:
        kind, data = case
        import_or_refuse(database, tmp_path, data, kind, None, None)

    target()


# --- what the campaign found (kept as plain tests) -------------------------------------------


def test_a_date_before_the_calendar_in_utc_is_refused_with_its_cell(
    database: Database, tmp_path: Path
) -> None:
    rows = ACCOUNTS.decode().splitlines()
    bad = rows[1].replace("2026-11-02", "0001-01-01T00:00:00+01:00")
    path = tmp_path / LABEL
    path.write_text("\n".join([rows[0], bad]) + "\n")

    with pytest.raises(ImportFileError, match=r"row 2, column 18 \(last_read_at\): .*out of range"):
        import_file(database, path, "accounts")


def test_a_closed_order_from_a_file_without_the_technician_column_is_refused_by_row(
    database: Database, tmp_path: Path
) -> None:
    _seeded_for_work_orders(database)
    rows = WORK_ORDERS.decode().splitlines()
    closed = rows[1].replace(",dispatched,", ",completed,")
    path = tmp_path / LABEL
    path.write_text("\n".join([rows[0], closed]) + "\n")
    import_file(database, path, "work_orders")
    # The same order from an export that leaves the technician column out: unassigned.
    without = "\n".join(",".join(line.split(",")[:3]) + ",investigate" for line in rows[:2])
    path.write_text(without.replace("account_number,investigate", "account_number,kind") + "\n")

    with pytest.raises(ImportFileError, match=r"row 2 \(no technician column: taken as empty\)"):
        import_file(database, path, "work_orders")


def test_a_field_past_the_csv_limit_is_refused_by_row(database: Database, tmp_path: Path) -> None:
    rows = ACCOUNTS.decode().splitlines()
    path = tmp_path / LABEL
    path.write_text("\n".join([rows[0], rows[1], rows[2] + "x" * 200_000]) + "\n")

    with pytest.raises(ImportFileError, match=r"row 3: not a CSV file \(field larger"):
        import_file(database, path, "accounts")
