"""events: what the meter's history/event log says happened since the last visit.

Informational by default: current conditions (tamper flag, reverse rotation) are judged by
status_flags, and the log is history for the technician. A utility can make categories
warn with ``[events] warn_categories``.

Categories use the C12.19 standard event codes (ST74/ST76, c1219-addendum.md §D). Event 7
("accessed for read") is left out of tamper on purpose: every optical read logs one,
including this visit's. Procedures (9 and its variants) are left out too: demand resets and
clock sets by the field kit show up there. Manufacturer events have vendor-specific codes,
so they are sorted by their name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from fieldkit.checks import fmt
from fieldkit.checks.policy import EVENT_CATEGORIES
from fieldkit.checks.site import CheckInput, aware
from fieldkit.model import CheckResult, CheckStatus, MeterEvent

__all__ = ["categorise", "check_events"]

ID = "events"

_LABELS = {
    "power_outage": ("power outage", "power outages"),
    "tamper": ("tamper/security event", "tamper/security events"),
    "demand_reset": ("demand reset", "demand resets"),
    "time_change": ("time change", "time changes"),
    "test_mode": ("test-mode entry", "test-mode entries"),
}

# Standard codes per category. Paired events (1 down / 2 up, 3 / 4 old / new time, 32 / 33
# start / stop) count once, by their first half.
_STANDARD: dict[int, str] = {1: "power_outage", 20: "demand_reset", 32: "test_mode"}
_STANDARD.update(
    dict.fromkeys(
        (8, 10, 11, 36, 47, 48, 56, 57, 59, 60, 61, 62, 64, 65, 66, 67, 69, 70, 71, 72), "tamper"
    )
)
_TIME_OLD = (3, 5)
_TIME_NEW = (4, 6)

# Manufacturer events: words in the name (lower case) -> category.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("tamper", "tamper"),
    ("cover", "tamper"),
    ("magnet", "tamper"),
    ("removal", "tamper"),
    ("inversion", "tamper"),
    ("power down", "power_outage"),
    ("power fail", "power_outage"),
    ("outage", "power_outage"),
    ("demand reset", "demand_reset"),
    ("time change", "time_change"),
    ("clock set", "time_change"),
    ("test mode start", "test_mode"),
)


def categorise(events: Iterable[MeterEvent]) -> Counter[str]:
    """Count events per category (pairs counted once)."""
    counts: Counter[str] = Counter()
    time_old = time_new = 0
    for event in events:
        if event.manufacturer:
            name = str(event.name).lower()
            for word, category in _KEYWORDS:
                if word in name:
                    counts[category] += 1
                    break
            continue
        if event.code in _TIME_OLD:
            time_old += 1
        elif event.code in _TIME_NEW:
            time_new += 1
        elif event.code in _STANDARD:
            counts[_STANDARD[event.code]] += 1
    # A meter may log only one half of the old/new pair; either half is one change.
    if max(time_old, time_new):
        counts["time_change"] += max(time_old, time_new)
    return counts


def _summary(counts: Counter[str]) -> str:
    parts = []
    for category in EVENT_CATEGORIES:
        n = counts.get(category, 0)
        if n:
            one, many = _LABELS[category]
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def check_events(inp: CheckInput) -> CheckResult:
    """Summarise outages, tamper, demand resets, time changes and test mode since last visit."""
    events = inp.snapshot.events
    if not events:
        reasons = [
            fmt.one_line(u.reason)
            for u in inp.snapshot.unavailable
            if "event" in str(u.item).lower() or "history" in str(u.item).lower()
        ]
        why = f": {reasons[0]}" if reasons else ""
        return CheckResult(ID, CheckStatus.SKIP, f"no event log read from the meter{why}")
    policy = inp.thresholds.events
    since = inp.expectation.last_visit_at
    undated = 0
    if since is None:
        chosen = list(events)
        window = "in the log"
    else:
        start = aware(since)
        chosen = []
        for event in events:
            if event.timestamp is None:
                undated += 1
            elif aware(event.timestamp) > start:
                chosen.append(event)
        window = f"since the last visit ({start.date().isoformat()})"
    counts = categorise(chosen)
    summary = _summary(counts)
    measured = f"{len(chosen)} events {window}"
    if undated:
        measured += f", {undated} undated"
    warn_on = [c for c in policy.warn_categories if counts.get(c, 0)]
    expected = (
        f"informational; warn on {', '.join(policy.warn_categories)}"
        if policy.warn_categories
        else "informational"
    )
    message = f"{summary} {window}" if summary else f"no notable events {window}"
    if warn_on:
        return CheckResult(
            ID,
            CheckStatus.WARN,
            message,
            measured=measured,
            expected=expected,
            likely_causes=tuple(
                f"{_LABELS[c][1]} since the last visit: review the log with the customer "
                f"account history"
                for c in warn_on
            ),
        )
    return CheckResult(ID, CheckStatus.PASS, message, measured=measured, expected=expected)
