"""The visit workflow every front end calls: read the meter, run the checks, hand back a result.

The CLI, the demo and the app build a driver with :func:`fieldkit.drivers.base.create_driver`
and call :func:`run_visit` (or :func:`judge` for a snapshot read earlier). A read that failed
is still a :class:`VisitResult`: the error, the frames, and whatever was read before the
failure (checked as far as it goes), so the technician and the office see what happened.
:func:`capture_document` turns the outcome into the ``--capture`` file.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.checks import DEFAULT_POLICY, Thresholds, run, verdict
from fieldkit.drivers.base import (
    CancelToken,
    MeterDriver,
    ProgressCallback,
    ReadOutcome,
    read_once,
)
from fieldkit.model import CheckResult, CheckStatus, MeterSnapshot, SiteExpectation
from fieldkit.sync.schema import CaptureDocument, CheckDocument, FrameDoc, LinkStatsDoc

__all__ = ["VisitResult", "capture_document", "judge", "run_visit"]


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
