"""``fieldkit demo``: the kit end to end on a simulated meter, no hardware needed.

Starts a simulated meter on 127.0.0.1, reads it through the driver factory and the visit
workflow (as the CLI and the app do), and checks the site against the scenario's work
order, printing what a technician would see. The demo is the one
place on the laptop side that wires in the simulators (the app and the CLI receive their
hardware; the demo passes simulated hardware).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rich.console import Console

from fieldkit.drivers.base import create_driver
from fieldkit.model import SiteExpectation
from fieldkit.report import render_checks, render_snapshot
from fieldkit.visit import run_visit

if TYPE_CHECKING:
    from simulators.scenario import WorkOrderSection

__all__ = ["run_demo"]


def run_demo(scenario_name: str, console: Console | None = None) -> int:
    """Run the demo on one scenario; returns the process exit status."""
    from simulators.c1218.server import start
    from simulators.scenario import ScenarioError, load_scenario

    out = console or Console()
    try:
        scenario = load_scenario(scenario_name)
    except ScenarioError as exc:
        # One line on stderr, like every other usage error: stdout stays the demo's output.
        sys.stderr.write(f"fieldkit: demo: {exc}\n")
        return 2  # a usage error: the scenario name is the user's
    with start(scenario) as simulator:
        out.rule(f"Simulated meter '{scenario.name}' on {simulator.url}")
        out.print(scenario.description)
        settings: dict[str, str] = {}
        if scenario.security.passwords:
            first = scenario.security.passwords[0]
            if first.text is None:
                settings["password_hex"] = first.raw.hex()
            else:
                settings["password"] = first.text
        driver = create_driver("c1218", simulator.url, settings)
        wo = scenario.work_order
        expectation = SiteExpectation() if wo is None else _expectation(wo, datetime.now(UTC))
        result = run_visit(driver, expectation)
        if result.outcome is not None and result.outcome.error is not None:
            out.print(f"[red]fieldkit demo: {result.outcome.error}[/]")
            return 1
        assert result.snapshot is not None
        assert result.verdict is not None
        out.rule("fieldkit read")
        render_snapshot(result.snapshot, out)
        out.rule("fieldkit check (against the scenario's work order)")
        render_checks(result.results, result.verdict, out)
        out.print(
            "\nTry another site: [bold]fieldkit demo --scenario reversed-ct-16s[/] "
            "(or fieldkit-sim list)"
        )
    return 0


def _expectation(wo: WorkOrderSection, now: datetime) -> SiteExpectation:
    """The scenario's work order as the checks read it; its "days ago" count back from now."""

    def days_before(days: float | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    return SiteExpectation(
        meter_number=wo.meter_number,
        form=wo.form,
        service_type=wo.service_type,
        nominal_voltage=wo.nominal_voltage,
        last_read_kwh=wo.last_read_kwh,
        last_read_at=days_before(wo.last_read_days_ago),
        last_visit_at=days_before(wo.last_visit_days_ago),
        net_metering=wo.net_metering,
    )
