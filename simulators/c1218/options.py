"""Run options of the C12.18 simulator and how they combine with a scenario.

:class:`SimOptions` is what the command line (or a test) asks for; ``None`` means "use the
scenario's value". :func:`resolve_settings` merges both into the :class:`MeterSettings` the
meter runs with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from simulators.scenario import Scenario

__all__ = [
    "INCONSISTENT_TABLES",
    "MALFORMED_KINDS",
    "MeterSettings",
    "SimOptions",
    "resolve_settings",
]

#: How a malformed (CRC-valid) read answer is spoiled: the count disagrees with the bytes,
#: the body is cut short, the table checksum is wrong, or the table is one byte shorter
#: than the other tables imply (count and checksum agreeing with it).
MALFORMED_KINDS = ("count", "short", "checksum", "length")
#: Standard-route tables the simulator can make disagree with the others.
INCONSISTENT_TABLES = (11, 12, 15, 16)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Overrides for one simulator run (command-line flags; None keeps the scenario's)."""

    baud_pace: bool = False
    corrupt_rate: float | None = None
    drop_rate: float | None = None
    busy: int | None = None
    slow_ms: float | None = None
    stop_after: int | None = None
    seed: int | None = None
    turnaround_ms: float | None = None
    traffic_timeout: float | None = None
    # One table's read answers are malformed (CRC valid): the first ``malformed_times``
    # answers (None: every one).
    malformed_table: int | None = None
    malformed_kind: str = "checksum"
    malformed_times: int | None = None
    # The first read of this table is answered ``late_ms`` after it arrived (the ACK goes
    # at once); requests that come meanwhile are answered after it, in order.
    late_table: int | None = None
    late_ms: float = 0.0
    decline_negotiate: bool = False  # answer Negotiate sns: 64-byte single packets
    mfg_tables: int = 0  # list this many manufacturer tables in ST0 (a long ST0)
    inconsistent: int | None = None  # 11, 12, 15 or 16: that table disagrees with the rest
    procedure_result: int | None = None
    procedure_pending: int | None = None

    def __post_init__(self) -> None:
        for name in ("corrupt_rate", "drop_rate"):
            rate = getattr(self, name)
            if rate is not None and not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        for name in ("busy", "slow_ms", "stop_after", "turnaround_ms", "procedure_pending"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if self.procedure_result is not None and not 0 <= self.procedure_result <= 255:
            raise ValueError(f"procedure_result is one byte, got {self.procedure_result}")
        if self.traffic_timeout is not None and self.traffic_timeout <= 0:
            raise ValueError(f"traffic_timeout must be positive, got {self.traffic_timeout}")
        if self.malformed_kind not in MALFORMED_KINDS:
            raise ValueError(
                f"malformed_kind must be one of {', '.join(MALFORMED_KINDS)}, "
                f"got {self.malformed_kind!r}"
            )
        for name in ("malformed_times", "late_ms", "mfg_tables"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if not 0 <= self.mfg_tables <= 2040:
            raise ValueError(f"mfg_tables must be 0..2040, got {self.mfg_tables}")
        if self.inconsistent is not None and self.inconsistent not in INCONSISTENT_TABLES:
            raise ValueError(
                f"inconsistent must be one of {INCONSISTENT_TABLES}, got {self.inconsistent}"
            )


@dataclass(frozen=True, slots=True)
class MeterSettings:
    """Everything the meter's behaviour depends on besides the scenario's data."""

    turnaround_s: float = 0.010
    slow_s: float = 0.0
    traffic_timeout: float = 6.0
    busy: int = 0
    stop_after: int | None = None
    corrupt_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int | None = None
    malformed_table: int | None = None
    malformed_kind: str = "checksum"
    malformed_times: int | None = None
    late_table: int | None = None
    late_s: float = 0.0
    decline_negotiate: bool = False
    mfg_tables: int = 0
    inconsistent: int | None = None
    procedure_result: int | None = None
    procedure_pending: int = 0


_T = TypeVar("_T")


def _pick(override: _T | None, default: _T) -> _T:
    return default if override is None else override


def resolve_settings(scenario: Scenario, options: SimOptions | None = None) -> MeterSettings:
    """The scenario's [link] and [faults] values, with the options' overrides applied."""
    opts = options if options is not None else SimOptions()
    faults = scenario.faults
    return MeterSettings(
        turnaround_s=_pick(opts.turnaround_ms, scenario.link.turnaround_ms) / 1000.0,
        slow_s=_pick(opts.slow_ms, faults.slow_ms) / 1000.0,
        traffic_timeout=_pick(opts.traffic_timeout, scenario.link.traffic_timeout),
        busy=_pick(opts.busy, faults.busy),
        stop_after=_pick(opts.stop_after, faults.stop_after),
        corrupt_rate=_pick(opts.corrupt_rate, faults.corrupt_rate),
        drop_rate=_pick(opts.drop_rate, faults.drop_rate),
        seed=_pick(opts.seed, faults.seed),
        malformed_table=opts.malformed_table,
        malformed_kind=opts.malformed_kind,
        malformed_times=opts.malformed_times,
        late_table=opts.late_table,
        late_s=opts.late_ms / 1000.0,
        decline_negotiate=opts.decline_negotiate,
        mfg_tables=opts.mfg_tables,
        inconsistent=opts.inconsistent,
        procedure_result=_pick(opts.procedure_result, faults.procedure_result),
        procedure_pending=_pick(opts.procedure_pending, faults.procedure_pending),
    )
