"""What the app's tests share: a fixed clock, fixed work orders, drivers, screen text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from textual.app import App
from textual.widgets import Static

from fieldkit.drivers.base import (
    CancelToken,
    LinkStats,
    Procedure,
    ProcedureResult,
    Progress,
    ProgressCallback,
    Stage,
    create_driver,
)
from fieldkit.drivers.errors import NoResponse
from fieldkit.model import FrameRecord, MeterProtocol, MeterSnapshot, ServiceType, WorkOrder
from fieldkit.sync.schema import SnapshotDoc
from fieldkit.tui.app import FieldkitApp
from fieldkit.tui.prefs import Preferences
from fieldkit.tui.services import FieldStore
from fieldkit.tui.visit_store import VisitLogStore

FIXED_NOW = datetime(2026, 12, 3, 8, 0, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "v0.1.0"


def fixed_clock() -> datetime:
    return FIXED_NOW


# The simulator scenarios' own work orders (simulators/scenarios/*.toml), as the office
# would send them, plus an order that is not for today.
ORDERS: tuple[WorkOrder, ...] = (
    WorkOrder(
        work_order_id="WO-1001",
        meter_number="M16-0054321",
        service_type=ServiceType.WYE,
        nominal_voltage=120,
        kind="investigate",
        account_number="200-0193-11",
        premise_id="PRM-20458",
        service_address="900 Mill Road, Unit B",
        meter_serial="SN16S00000054321",
        form="16S",
        meter_class="CL20",
        ct_ratio=1,
        last_read_kwh=51230.7,
        last_read_at=datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
        last_visit_at=datetime(2025, 6, 11, 8, 0, tzinfo=UTC),
        scheduled_for="2026-12-02",
        notes="MDMS flagged negative consumption on phase B",
    ),
    WorkOrder(
        work_order_id="WO-1002",
        meter_number="M2S-0012345",
        service_type=ServiceType.ONE_PHASE_3W,
        nominal_voltage=240,
        kind="high_bill",
        account_number="100-4471-02",
        service_address="14 Alder Lane",
        form="2S",
        meter_class="CL200",
        scheduled_for="2026-12-03",
    ),
    WorkOrder(
        work_order_id="WO-1003",
        meter_number="M16-0071100",
        service_type=ServiceType.DELTA_4W,
        nominal_voltage=240,
        kind="exchange",
        account_number="300-7720-05",
        service_address="2 Depot Street",
        form="16S",
        scheduled_for="2026-12-04",
    ),
)


def fixture_snapshot(name: str = "read-healthy-16s.json") -> MeterSnapshot:
    """A read saved by the first release: fixed values and times for screenshots."""
    data = json.loads((FIXTURES / name).read_text())
    return SnapshotDoc.model_validate(data).to_snapshot()


ITEMS = (
    "ST0 (general configuration)",
    "ST1 (manufacturer identification)",
    "ST3 (end device mode and status)",
    "ST5 (device identification)",
)


@dataclass
class ReplaySession:
    """A session that hands back a saved snapshot, reporting the stages a driver would.

    ``fail_after`` items: stop with NoResponse there and keep what came before.
    """

    snapshot: MeterSnapshot
    progress: ProgressCallback | None
    cancel: CancelToken | None
    fail_after: int | None = None
    refuse: str | None = None
    done: list[str] = field(default_factory=list)

    @property
    def frames(self) -> tuple[FrameRecord, ...]:
        return ()

    @property
    def stats(self) -> LinkStats:
        return LinkStats(bytes_tx=120, bytes_rx=4096, round_trips=16)

    def __enter__(self) -> Self:
        for stage in (Stage.CONNECT, Stage.IDENTIFY, Stage.NEGOTIATE, Stage.LOGON):
            self._report(Progress(stage))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._report(Progress(Stage.CLOSE))

    def _report(self, step: Progress) -> None:
        if self.cancel is not None:
            self.cancel.check()
        if self.progress is not None:
            self.progress(step)

    def read_snapshot(self) -> MeterSnapshot:
        for n, item in enumerate(ITEMS):
            if self.fail_after is not None and n >= self.fail_after:
                raise NoResponse("the meter stopped answering (no ACK after 3 retries)")
            self._report(Progress(Stage.READ, item, 10 * n, 200 * n, n, n, len(ITEMS)))
            self.done.append(item)
        return self.snapshot

    def partial_snapshot(self, reason: str) -> MeterSnapshot | None:
        if len(self.done) < 2:
            return None
        from dataclasses import replace

        return replace(self.snapshot, phases=(), events=(), registers=(), incomplete=reason)

    def run_procedure(self, procedure: Procedure) -> ProcedureResult:
        from fieldkit.drivers.errors import MeterRefused

        if self.refuse:
            raise MeterRefused(self.refuse, code=5, service="procedure", table=7)
        return ProcedureResult(procedure.name, 0, "completed")


@dataclass
class ReplayDriver:
    """A MeterDriver over a saved snapshot (deterministic screenshots)."""

    snapshot: MeterSnapshot
    port: str = "socket://127.0.0.1:5000"
    fail_after: int | None = None
    refuse: str | None = None

    @property
    def protocol(self) -> MeterProtocol:
        return MeterProtocol.C1218

    def session(
        self, *, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> ReplaySession:
        return ReplaySession(self.snapshot, progress, cancel, self.fail_after, self.refuse)


def replay_factory(driver: ReplayDriver) -> Any:
    def factory(
        protocol: str, port: str, settings: Mapping[str, Any] | None = None, **runtime: Any
    ) -> ReplayDriver:
        driver.port = port
        return driver

    return factory


def quick_timeout_factory(timeout: float = 0.3) -> Any:
    """create_driver with a short response timeout: a stalled meter gives up in seconds."""

    def factory(
        protocol: str, port: str, settings: Mapping[str, Any] | None = None, **runtime: Any
    ) -> Any:
        return create_driver(
            protocol, port, {**(settings or {}), "response_timeout": timeout}, **runtime
        )

    return factory


def seeded_store(orders: tuple[WorkOrder, ...] = ORDERS) -> VisitLogStore:
    """The app's real store on a new laptop database holding ``orders``.

    In ``FIELDKIT_HOME`` (every test has its own); outside the tests (a benchmark) in a new
    temporary directory, never in a real laptop's home.
    """
    import os
    import tempfile

    from fieldkit import paths, store

    home = (
        paths.home()
        if os.environ.get("FIELDKIT_HOME")
        else Path(tempfile.mkdtemp(prefix="fieldkit-tui-"))
    )
    home.mkdir(parents=True, exist_ok=True)
    path = home / "fieldkit.db"
    with store.database(path) as db:
        store.upsert_many(db, list(orders), "csv", now=FIXED_NOW)
    return VisitLogStore(path)


def saved_visits(real: VisitLogStore) -> list[Any]:
    """Every visit in the store's visit log (VisitDocuments), oldest first."""
    from fieldkit import store
    from fieldkit.store import visits

    with store.database(real._path) as db:
        return sorted(visits.iter_visits(db), key=lambda v: v.saved_at)


def make_app(
    *,
    driver_factory: Any = create_driver,
    orders: tuple[WorkOrder, ...] = ORDERS,
    last_port: str | None = None,
    theme: str = "textual-dark",
    store: FieldStore | None = None,
) -> FieldkitApp:
    return FieldkitApp(
        driver_factory=driver_factory,
        store=store or seeded_store(orders),
        clock=fixed_clock,
        port_lister=list,
        preferences=Preferences(last_port=last_port),
        theme=theme,
    )


def text_of(app: App[Any], selector: str) -> str:
    """What a Static shows, as plain text."""
    widget = app.screen.query_one(selector, Static)
    return str(widget.render())


def screen_text(app: App[Any]) -> str:
    """The whole terminal as plain text, as the technician sees it (what the tests read)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def until(pilot: Any, condition: Any, timeout: float = 15.0, what: str = "") -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            # The screen as it stood: a CI failure on a loaded machine is read from the log.
            raise AssertionError(
                f"timed out waiting for {what or condition}; the screen:\n{screen_text(pilot.app)}"
            )
        await pilot.pause(0.05)
    await pilot.pause()  # let the screen that made it true paint itself
