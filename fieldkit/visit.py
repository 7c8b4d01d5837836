"""The visit workflow every front end calls: read the meter, run the checks, hand back a result.

The CLI, the demo and the app build a driver with :func:`fieldkit.drivers.base.create_driver`
and call :func:`run_visit` (or :func:`judge` for a snapshot read earlier). A read that failed
is still a :class:`VisitResult`: the error, the frames, and whatever was read before the
failure (checked as far as it goes), so the technician and the office see what happened.
:func:`capture_document` turns the outcome into the ``--capture`` file.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fieldkit.checks import DEFAULT_POLICY, Thresholds, run, verdict
from fieldkit.drivers.base import (
    CancelToken,
    MeterDriver,
    ProgressCallback,
    ReadOutcome,
    read_once,
)
from fieldkit.model import CheckResult, CheckStatus, MeterSnapshot, SiteExpectation, WorkOrder
from fieldkit.sync.schema import (
    CaptureDocument,
    CheckDocument,
    CheckResultDoc,
    ExpectationDoc,
    FrameDoc,
    LinkStatsDoc,
    NoteDoc,
    Outcome,
    SnapshotDoc,
    VisitDocument,
)

__all__ = ["VisitResult", "capture_document", "judge", "run_visit", "visit_document"]


@dataclass(frozen=True, slots=True)
class VisitResult:
    """A read and its verdicts, whatever happened at the meter.

    ``outcome`` is None when the snapshot came from a saved file. ``snapshot`` is None only
    when nothing identifying was read; then ``results`` is empty and ``verdict`` None.
    """

    expectation: SiteExpectation
    snapshot: MeterSnapshot | None
    results: tuple[CheckResult, ...]
    verdict: CheckStatus | None
    outcome: ReadOutcome | None = None
    work_order_id: str | None = None

    @property
    def read_ok(self) -> bool:
        """True when the meter was read completely (or the snapshot came from a file)."""
        return self.outcome is None or self.outcome.ok

    def document(self, *, frames: bool = False) -> CheckDocument | None:
        """The ``check --json`` document; None when there is no snapshot to show."""
        if self.snapshot is None:
            return None
        return CheckDocument.build(
            self.snapshot,
            self.results,
            self.verdict,
            expectation=self.expectation,
            work_order=self.work_order_id,
            frames=frames,
        )


def judge(
    snapshot: MeterSnapshot,
    expectation: SiteExpectation,
    thresholds: Thresholds = DEFAULT_POLICY,
    *,
    work_order_id: str | None = None,
    outcome: ReadOutcome | None = None,
) -> VisitResult:
    """Run every site check on a snapshot (read now, or saved by ``read --json``)."""
    results = tuple(run(snapshot, expectation, thresholds))
    return VisitResult(
        expectation=expectation,
        snapshot=snapshot,
        results=results,
        verdict=verdict(results),
        outcome=outcome,
        work_order_id=work_order_id,
    )


def run_visit(
    driver: MeterDriver,
    expectation: SiteExpectation,
    thresholds: Thresholds = DEFAULT_POLICY,
    *,
    work_order_id: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> VisitResult:
    """Read the meter through ``driver`` and judge what was read; never raises a DriverError.

    A partial read is judged as far as it goes (what is missing skips); a read that got
    nothing identifying has no results. ``result.outcome`` always holds the frames.
    """
    outcome = read_once(driver, progress=progress, cancel=cancel)
    if outcome.snapshot is None:
        return VisitResult(
            expectation=expectation,
            snapshot=None,
            results=(),
            verdict=None,
            outcome=outcome,
            work_order_id=work_order_id,
        )
    return judge(
        outcome.snapshot,
        expectation,
        thresholds,
        work_order_id=work_order_id,
        outcome=outcome,
    )


def capture_document(outcome: ReadOutcome) -> CaptureDocument:
    """The frames of a session for ``--capture``, with how it ended (passwords redacted)."""
    error = outcome.error
    stats = outcome.stats
    return CaptureDocument(
        protocol=outcome.protocol,
        port=outcome.port,
        started_at=outcome.started_at,
        result=outcome.result,
        error=None if error is None else str(error),
        error_kind=None if error is None else type(error).__name__,
        stats=LinkStatsDoc(
            bytes_tx=stats.bytes_tx,
            bytes_rx=stats.bytes_rx,
            round_trips=stats.round_trips,
            retransmissions=stats.retransmissions,
            naks_sent=stats.naks_sent,
            restarts=stats.restarts,
            busy_retries=stats.busy_retries,
            session_seconds=stats.session_seconds,
        ),
        frames=[FrameDoc.from_model(f) for f in outcome.frames],
    )


def visit_document(
    result: VisitResult,
    *,
    technician: str,
    order: WorkOrder | None = None,
    outcome: Outcome | None = None,
    notes: Sequence[str] = (),
    now: datetime | None = None,
) -> VisitDocument:
    """The visit log's record of a check, ready for :func:`fieldkit.store.visits.save`.

    A read that failed (or ended early, or was cancelled) is a visit too: without an
    ``outcome`` it is closed at once as ``no_comms``, with the error and the capture. A
    visit given an ``outcome`` is closed; otherwise it stays open for adjustments and notes.
    """
    moment = now or datetime.now(UTC)
    read = result.outcome
    error = None if read is None else read.error
    if outcome is None and read is not None and not read.ok:
        outcome = "no_comms"
    snapshot = result.snapshot
    expectation = result.expectation
    identity = None if snapshot is None else snapshot.identity
    meter_number = order.meter_number if order is not None else expectation.meter_number
    if meter_number is None and identity is not None:
        meter_number = identity.meter_id
    final = outcome is not None
    return VisitDocument(
        visit_id=str(uuid.uuid4()),
        op_id=str(uuid.uuid4()),
        revision=1,
        status="final" if final else "open",
        outcome=outcome,
        technician=technician,
        started_at=moment if read is None else read.started_at,
        ended_at=moment if final else None,
        saved_at=moment,
        work_order=result.work_order_id,
        account_number=None if order is None else order.account_number,
        premise_id=None if order is None else order.premise_id,
        meter_number=meter_number,
        meter_serial=None if identity is None else identity.serial_number,
        read_result=None if read is None else read.result,
        error=None if error is None else str(error),
        error_kind=None if error is None else type(error).__name__,
        expectation=ExpectationDoc.from_model(expectation),
        snapshot=None if snapshot is None else SnapshotDoc.from_model(snapshot),
        checks=[CheckResultDoc.from_model(r) for r in result.results],
        verdict=result.verdict,
        notes=[NoteDoc(at=moment, technician=technician, text=text) for text in notes],
        capture=None if read is None else capture_document(read),
    )
