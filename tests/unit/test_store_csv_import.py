"""Work orders from a CIS export: good files parse, each bad one names file, row and column."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.model import ServiceType, WorkOrder
from fieldkit.store import WorkOrderImportError, parse_work_orders_csv
from fieldkit.store.csv_import import COLUMNS

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "work-orders.example.csv"

HEADER = "work_order_id,meter_number,service_type,nominal_voltage"


def write(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def import_error(path: Path) -> str:
    with pytest.raises(WorkOrderImportError) as caught:
        parse_work_orders_csv(path)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_the_documented_example_parses() -> None:
    orders = {o.work_order_id: o for o in parse_work_orders_csv(EXAMPLE)}
    assert len(orders) == 4
    ct = orders["WO-2026-10412"]
    assert ct.service_type is ServiceType.WYE
    assert ct.nominal_voltage == 120.0
    assert ct.ct_ratio == 400.0
    assert ct.meter_number == "M16-0065432"
    assert ct.last_read_at == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert ct.kind == "investigate"
    house = orders["WO-2026-10411"]
    assert house.service_address == "14 Alder Lane, Springfield"  # a quoted comma
    assert house.last_read_at == datetime(2026, 11, 2, tzinfo=UTC)  # a date is midnight UTC
    assert house.ct_ratio is None
    assert orders["WO-2026-10413"].net_metering is True
    assert orders["WO-2026-10399"].status == "completed"


def test_only_required_columns_gives_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\nWO-1,M-1,1ph-3w,240\n")
    assert parse_work_orders_csv(path) == [
        WorkOrder("WO-1", "M-1", ServiceType.ONE_PHASE_3W, 240.0, status="open")
    ]


def test_excel_export_with_bom_crlf_spaced_names_and_any_order(tmp_path: Path) -> None:
    text = (
        "\ufeffService Type , Nominal-Voltage,WORK_ORDER_ID,meter_number,Kind,net_metering\r\n"
        '3PH-4W-WYE, 120 ,WO-7,M16-1,"No Comms",Yes\r\n'
        "\r\n"
        ",,,,,\r\n"
    )
    [order] = parse_work_orders_csv(write(tmp_path, text))
    assert order.work_order_id == "WO-7"
    assert order.service_type is ServiceType.WYE
    assert order.nominal_voltage == 120.0
    assert order.kind == "no_comms"
    assert order.net_metering is True


def test_quoted_cell_with_a_line_break_keeps_row_numbers_as_a_spreadsheet(
    tmp_path: Path,
) -> None:
    text = (
        f'{HEADER},notes\nWO-1,M-1,1ph-3w,240,"gate code 1234\nask for Sam"\nWO-2,M-2,1ph-3w,x,\n'
    )
    message = import_error(write(tmp_path, text))
    assert message == "orders.csv row 3, nominal_voltage: 'x' is not a number"


BAD_FILES: dict[str, tuple[str, str]] = {
    "missing required column": (
        "work_order_id,meter_number,service_type\nWO-1,M-1,1ph-3w\n",
        "orders.csv row 1 (header): missing required column 'nominal_voltage'",
    ),
    "bad number": (
        f"{HEADER}\nWO-1,M-1,1ph-3w,240\nWO-2,M-2,1ph-3w,two-forty\n",
        "orders.csv row 3, nominal_voltage: 'two-forty' is not a number",
    ),
    "bad service type": (
        f"{HEADER}\nWO-1,M-1,3ph-wye,120\n",
        "orders.csv row 2, service_type: '3ph-wye' is not one of 1ph-2w, 1ph-3w, network, "
        "3ph-4w-wye, 3ph-3w-delta, 3ph-4w-delta",
    ),
    "bad date": (
        f"{HEADER},last_read_at\nWO-1,M-1,1ph-3w,240,10/27/2026\n",
        "orders.csv row 2, last_read_at: '10/27/2026' is not an ISO 8601 date",
    ),
    "unknown column": (
        f"{HEADER},meter_no,colour\nWO-1,M-1,1ph-3w,240,,\n",
        "orders.csv row 1 (header): unknown columns 'meter_no', 'colour' "
        "(did you mean 'meter_number' for 'meter_no'?)",
    ),
    "duplicate id": (
        f"{HEADER}\nWO-1,M-1,1ph-3w,240\nWO-2,M-2,1ph-3w,240\nWO-1,M-3,1ph-3w,240\n",
        "orders.csv row 4, work_order_id: 'WO-1' is already on row 2",
    ),
    "empty file": ("", "orders.csv: the file is empty"),
    "only a BOM and blank lines": ("\ufeff\r\n\r\n", "orders.csv: the file is empty"),
    "header and no orders": (f"{HEADER}\n", "orders.csv: no work orders below the header row"),
    "empty required cell": (
        f"{HEADER}\nWO-1,,1ph-3w,240\n",
        "orders.csv row 2, meter_number: required, but the cell is empty",
    ),
    "zero voltage": (
        f"{HEADER}\nWO-1,M-1,1ph-3w,0\n",
        "orders.csv row 2, nominal_voltage: must be more than 0",
    ),
    "thousands separator": (
        f'{HEADER},last_read_kwh\nWO-1,M-1,1ph-3w,240,"39,068.2"\n',
        "orders.csv row 2, last_read_kwh: '39,068.2' is not a number (write it without",
    ),
    "not a number at all": (
        f"{HEADER},ct_ratio\nWO-1,M-1,1ph-3w,240,nan\n",
        "orders.csv row 2, ct_ratio: 'nan' is not a number",
    ),
    "bad yes/no": (
        f"{HEADER},net_metering\nWO-1,M-1,1ph-3w,240,maybe\n",
        "orders.csv row 2, net_metering: 'maybe' is not yes or no",
    ),
    "bad rotation": (
        f"{HEADER},rotation\nWO-1,M-1,3ph-4w-wye,120,CBA\n",
        "orders.csv row 2, rotation: 'CBA' is not one of ABC, ACB",
    ),
    "too many values": (
        f"{HEADER}\nWO-1,M-1,1ph-3w,240,extra\n",
        "orders.csv row 2: 5 values, but the header names 4 columns",
    ),
    "column written by the kit": (
        f"{HEADER},source\nWO-1,M-1,1ph-3w,240,csv\n",
        "orders.csv row 1 (header): column 'source' is written by fieldkit itself",
    ),
    "one unknown column": (
        f"{HEADER},premise\nWO-1,M-1,1ph-3w,240,P-1\n",
        "orders.csv row 1 (header): unknown column 'premise' (did you mean 'premise_id'?)",
    ),
    "column twice": (
        f"{HEADER},Meter Number\nWO-1,M-1,1ph-3w,240,M-1\n",
        "orders.csv row 1 (header): column 'meter_number' appears twice",
    ),
    "value under a nameless column": (
        f"{HEADER},\nWO-1,M-1,1ph-3w,240,x\n",
        "orders.csv row 2: column 5 has a value but no name in the header",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_is_one_line_naming_file_row_and_column(tmp_path: Path, kind: str) -> None:
    text, expected = BAD_FILES[kind]
    message = import_error(write(tmp_path, text))
    assert message.startswith(expected), message


def test_not_utf8_names_the_row_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(f"{HEADER},service_address\nWO-1,M-1,1ph-3w,240,Main St\n".encode())
    path.write_bytes(path.read_bytes() + "WO-2,M-2,1ph-3w,240,Pe\xf1a Road\n".encode("cp1252"))
    assert import_error(path) == "orders.csv row 3: not UTF-8 text; save the file as 'CSV UTF-8'"


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    message = import_error(tmp_path / "nowhere.csv")
    assert message.startswith("cannot read ")
    assert "nowhere.csv" in message


def test_unterminated_quote_is_an_import_error(tmp_path: Path) -> None:
    message = import_error(write(tmp_path, f'{HEADER}\nWO-1,M-1,1ph-3w,"240\n'))
    assert message.startswith("orders.csv row 2")


def test_time_zones_are_stored_as_utc(tmp_path: Path) -> None:
    text = (
        f"{HEADER},last_read_at,last_visit_at,scheduled_for\n"
        "WO-1,M-1,1ph-3w,240,2026-11-02T08:00:00-06:00,2025-06-20T14:30:00,2026-12-03T07:00-06:00\n"
    )
    [order] = parse_work_orders_csv(write(tmp_path, text))
    assert order.last_read_at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert order.last_visit_at == datetime(2025, 6, 20, 14, 30, tzinfo=UTC)  # no zone: UTC
    assert order.scheduled_for == "2026-12-03T13:00:00+00:00"


# --- properties ------------------------------------------------------------------------------

_text = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(',"\n'))
    .map(str.strip)
    .filter(bool)
)
_opt_text = st.none() | _text
_positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
# A plausible service voltage: the import refuses others (the CLI's --nominal-voltage too).
_volts = st.floats(min_value=50.0, max_value=35_000.0, allow_nan=False, allow_infinity=False)
_times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def work_orders(draw: st.DrawFn) -> WorkOrder:
    return WorkOrder(
        work_order_id=draw(_text),
        meter_number=draw(_text),
        service_type=draw(st.sampled_from(ServiceType)),
        nominal_voltage=draw(_volts),
        kind=draw(st.none() | st.sampled_from(["install", "high_bill", "no_comms"])),
        status=draw(st.sampled_from(["open", "dispatched", "completed"])),
        account_number=draw(_opt_text),
        premise_id=draw(_opt_text),
        service_address=draw(_opt_text),
        meter_serial=draw(_opt_text),
        form=draw(_opt_text),
        meter_class=draw(st.none() | st.sampled_from(["CL2", "CL20", "CL200", "CL320"])),
        ct_ratio=draw(st.none() | _positive),
        pt_ratio=draw(st.none() | _positive),
        rotation=draw(st.none() | st.sampled_from(["ABC", "ACB"])),
        high_leg=draw(st.none() | st.sampled_from(["A", "B", "C"])),
        last_read_kwh=draw(st.none() | st.just(0.0) | _positive),
        last_read_at=draw(st.none() | _times),
        last_visit_at=draw(st.none() | _times),
        net_metering=draw(st.booleans()),
        scheduled_for=draw(
            st.none()
            | _times.map(lambda t: t.date().isoformat())
            | _times.map(lambda t: t.replace(microsecond=0).isoformat())
        ),
        notes=draw(_opt_text),
    )


def parse_or_message(path: Path) -> list[WorkOrder] | str:
    try:
        return parse_work_orders_csv(path)
    except WorkOrderImportError as exc:
        return str(exc)


def cell(order: WorkOrder, column: str, yes: str, no: str) -> str:
    value = getattr(order, column)
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@given(
    orders=st.lists(work_orders(), min_size=1, max_size=5, unique_by=lambda o: o.work_order_id),
    columns=st.permutations(COLUMNS),
    crlf=st.booleans(),
    bom=st.booleans(),
    flags=st.sampled_from([("yes", "no"), ("1", "0"), ("TRUE", ""), ("Y", "n")]),
)
def test_any_export_round_trips(
    orders: list[WorkOrder],
    columns: list[str],
    crlf: bool,
    bom: bool,
    flags: tuple[str, str],
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(columns)
    for order in orders:
        writer.writerow([cell(order, c, *flags) for c in columns])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(("\ufeff" if bom else "").encode() + out.getvalue().encode())
        assert parse_work_orders_csv(path) == orders


@given(st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_raise_the_import_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "junk.csv"
        path.write_bytes(data)
        outcome = parse_or_message(path)
    if isinstance(outcome, str):
        assert "\n" not in outcome


@given(st.lists(st.lists(st.text(max_size=12), min_size=4, max_size=4), max_size=4))
def test_arbitrary_cells_under_a_good_header_parse_or_raise_the_import_error(
    rows: list[list[str]],
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER.split(","))
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cells.csv"
        path.write_text(out.getvalue(), encoding="utf-8", errors="surrogatepass")
        outcome = parse_or_message(path)
    if isinstance(outcome, str):
        assert "\n" not in outcome
    else:
        for order in outcome:
            assert order.work_order_id
            assert order.meter_number
            assert order.nominal_voltage > 0


@pytest.mark.parametrize(
    ("volts", "problem"),
    [("12", "12 V is not a plausible service voltage"), ("99999", "not a plausible")],
)
def test_an_implausible_nominal_voltage_is_refused(
    tmp_path: Path, volts: str, problem: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(f"{HEADER}\nWO-1,M-1,1ph-3w,{volts}\n", encoding="utf-8")
    with pytest.raises(WorkOrderImportError, match=problem):
        parse_work_orders_csv(path)


def test_a_negative_last_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(f"{HEADER},last_read_kwh\nWO-1,M-1,1ph-3w,240,-5\n", encoding="utf-8")
    with pytest.raises(WorkOrderImportError, match="never negative, not -5"):
        parse_work_orders_csv(path)
