"""The wire schema: every document round-trips, old files read, newer ones are refused."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given

from fieldkit.checks import run, verdict
from fieldkit.model import (
    CheckResult,
    CheckStatus,
    ClockReading,
    FrameRecord,
    MeterEvent,
    MeterSnapshot,
    PhaseQuantities,
    Quantity,
    ServiceType,
    SiteExpectation,
    WorkOrder,
)
from fieldkit.sync.schema import (
    SCHEMA_VERSION,
    CaptureDocument,
    CheckDocument,
    ReadDocument,
    SchemaError,
    SchemaVersionError,
    WorkOrderDocument,
    dump_json,
    json_schemas,
    load_document,
)

from .test_checks_run import snapshots

ROOT = Path(__file__).resolve().parents[2]
FIRST_RELEASE = ROOT / "tests" / "fixtures" / "v0.1.0"


@given(snapshots())
def test_any_snapshot_round_trips_through_json(snapshot: MeterSnapshot) -> None:
    text = dump_json(ReadDocument.build(snapshot))
    back = load_document(json.loads(text))
    assert isinstance(back, ReadDocument)
    again = back.to_snapshot()
    # What went on the wire comes back the same (a naive time was UTC, NaN stays NaN).
    assert dump_json(ReadDocument.build(again)) == text
    assert again.identity == snapshot.identity
    assert len(again.events) == len(snapshot.events)
    assert [p.phase for p in again.phases] == [p.phase for p in snapshot.phases]


def test_new_fields_travel() -> None:
    read_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    snapshot = next(iter([_loaded("read-healthy-16s.json")])).to_snapshot()
    snapshot = replace(
        snapshot,
        clock=ClockReading(read_at, read_at, uncertainty_seconds=0.12),
        phases=(PhaseQuantities("A", 120.0, 5.0, 0.0, 12.0, derived=frozenset({"current_angle"})),),
        events=(MeterEvent(3, "clock changed", suspect="code not defined by this meter"),),
        frames=(FrameRecord("tx", b"\xee\x00", 0.0),),
        incomplete="the meter stopped answering after ST23",
    )
    back = load_document(json.loads(dump_json(ReadDocument.build(snapshot, frames=True))))
    assert isinstance(back, ReadDocument)
    assert back.to_snapshot() == snapshot


def _loaded(name: str) -> ReadDocument | CheckDocument:
    document = load_document(json.loads((FIRST_RELEASE / name).read_text()), source=name)
    assert isinstance(document, ReadDocument | CheckDocument)
    return document


def test_first_release_files_read_as_version_0() -> None:
    read = _loaded("read-healthy-16s.json")
    assert isinstance(read, ReadDocument)
    assert read.schema_version == 0
    snapshot = read.to_snapshot()
    assert snapshot.identity.model == "SIM-16S"
    assert [p.phase for p in snapshot.phases] == ["A", "B", "C"]
    check = _loaded("check-healthy-16s.json")
    assert isinstance(check, CheckDocument)
    # 0.1.0 judged it against meter number FK160001: the identity check failed.
    assert check.verdict is CheckStatus.FAIL
    assert {r.id: r.status for r in check.results()}["meter_identity"] is CheckStatus.FAIL
    assert {r.id for r in check.results()} >= {"service_voltage", "polarity", "clock_drift"}


def test_check_document_carries_numbers_and_the_expectation() -> None:
    snapshot = _loaded("read-healthy-16s.json").to_snapshot()
    expectation = SiteExpectation(service_type=ServiceType.WYE, nominal_voltage=120.0)
    results = [
        *run(snapshot, expectation),
        CheckResult("x", CheckStatus.WARN, "m", values=(Quantity("voltage", 121.0, "V", "A"),)),
    ]
    document = CheckDocument.build(snapshot, results, verdict(results), expectation=expectation)
    data = json.loads(dump_json(document))
    assert (data["schema_version"], data["document"]) == (SCHEMA_VERSION, "check")
    assert data["expectation"]["service_type"] == "3ph-4w-wye"
    assert data["checks"][-1]["values"] == [
        {
            "name": "voltage",
            "value": 121.0,
            "unit": "V",
            "element": "A",
            "expected": None,
            "low": None,
            "high": None,
        }
    ]
    back = load_document(data)
    assert isinstance(back, CheckDocument)
    assert back.results() == results
    assert back.expectation is not None
    assert back.expectation.to_model() == expectation


def test_work_order_round_trips() -> None:
    order = WorkOrder(
        "WO-1",
        "M-1",
        ServiceType.DELTA_4W,
        240.0,
        meter_class="CL200",
        rotation="ACB",
        last_read_at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    back = load_document(json.loads(dump_json(WorkOrderDocument.build(order))))
    assert isinstance(back, WorkOrderDocument)
    assert back.to_model() == order


@pytest.mark.parametrize(
    ("data", "error", "says"),
    [
        ({"schema_version": 2, "document": "read"}, SchemaVersionError, "newer fieldkit (schema 2"),
        (
            {"schema_version": 1, "document": "tour"},
            SchemaVersionError,
            "unknown document 'tour'",
        ),
        ({"schema_version": "1", "document": "read"}, SchemaError, "whole number"),
        ([], SchemaError, "not a fieldkit document"),
        ({"protocol": "c1218"}, SchemaError, "not a fieldkit snapshot"),
        (
            {
                "schema_version": 1,
                "document": "capture",
                "protocol": "c1218",
                "port": "COM3",
                "started_at": "2026-12-01T08:00:00Z",
                "result": "exploded",
            },
            SchemaError,
            "result: Input should be 'complete', 'incomplete', 'failed' or 'cancelled'",
        ),
    ],
)
def test_bad_documents_are_named(data: object, error: type[Exception], says: str) -> None:
    with pytest.raises(error) as caught:
        load_document(data, source="visit.json")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_misspelt_field_is_an_error_not_a_lost_value() -> None:
    data = json.loads(dump_json(_loaded("read-healthy-16s.json")))
    data["identity"]["serail_number"] = "X"
    with pytest.raises(SchemaError, match=r"identity\.serail_number: not a field"):
        load_document(data)


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("status.\n", "'status.\\n'"),
        ("a\rb\x1b[2J", "'a\\rb\\x1b[2J'"),
        ("k" * 500, "k" * 60 + "…"),
    ],
)
def test_a_hostile_field_name_is_named_on_one_line(key: str, shown: str) -> None:
    # Found by the million-input fuzz campaign: a key with a line break made the
    # one-line error (the push's rejection reason, the CLI's message) two lines.
    data = json.loads(dump_json(_loaded("read-healthy-16s.json")))
    data[key] = 1
    with pytest.raises(SchemaError) as raised:
        load_document(data, source="visit.json")
    assert str(raised.value) == f"visit.json: {shown}: not a field of this document"
    assert "\n" not in str(raised.value)


def test_capture_document_has_no_password_field_and_validates() -> None:
    document = CaptureDocument(
        protocol="c1218",
        port="COM3",
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
        result="failed",
        error="the meter rejected the password",
        error_kind="SecurityDenied",
    )
    assert load_document(json.loads(dump_json(document))) == document


def test_json_schema_files_are_current() -> None:
    """docs/schema/ is generated: python -m fieldkit.sync.schema docs/schema."""
    for name, schema in json_schemas().items():
        path = ROOT / "docs" / "schema" / name
        assert path.exists(), f"{path} missing: run python -m fieldkit.sync.schema docs/schema"
        on_disk = json.loads(path.read_text())
        assert on_disk == schema, f"{name} is stale: run python -m fieldkit.sync.schema docs/schema"


def test_first_release_files_come_back_as_they_were_written() -> None:
    # Scripts written against 0.1.0 parse these fields; 0.1.0 wrote times with isoformat()
    # ("+00:00", not "Z": datetime.fromisoformat before Python 3.11 refuses a "Z"). Every
    # field the first release wrote must come back unchanged; new fields may only be added.
    for name in ("read-healthy-16s.json", "read-reversed-ct-16s.json", "check-healthy-16s.json"):
        old = json.loads((FIRST_RELEASE / name).read_text())
        new = json.loads(dump_json(_loaded(name)))
        assert _as_written(old, new) == old, name


def _as_written(old: object, new: object) -> object:
    """``new`` cut down to the keys ``old`` has, at every level (added keys are allowed)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: _as_written(v, new[k]) if k in new else "<missing>" for k, v in old.items()}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [_as_written(a, b) for a, b in zip(old, new, strict=True)]
    return new


def test_json_schema_allows_the_nan_and_infinity_the_documents_write() -> None:
    # A meter can send NaN (an IEEE float register); the document writes it as "NaN", so
    # the published schema must accept that string where it says "number".
    snapshot = _loaded("read-healthy-16s.json").to_snapshot()
    snapshot = replace(snapshot, frequency=float("nan"))
    written = json.loads(dump_json(ReadDocument.build(snapshot)))
    assert written["frequency"] == "NaN"
    schema = json_schemas()["read.schema.json"]
    allowed = schema["properties"]["frequency"]["anyOf"]
    assert {"enum": ["NaN", "Infinity", "-Infinity"], "type": "string"} in allowed
    value = schema["$defs"]["RegisterDoc"]["properties"]["value"]
    assert {"enum": ["NaN", "Infinity", "-Infinity"], "type": "string"} in value["anyOf"]
