"""Site diagnostics: pure functions from a meter snapshot and the work order to verdicts.

``run(snapshot, expectation, thresholds)`` returns one :class:`~fieldkit.model.CheckResult`
per id in :data:`CHECK_IDS`; ``verdict(results)`` sums them up. Thresholds come from
:data:`DEFAULT_POLICY` or a utility's policy file via :func:`load_policy`. Nothing here
touches a port, a clock or the store (an import-linter contract holds it to that).
"""

from __future__ import annotations

from fieldkit.checks.policy import DEFAULT_POLICY, PolicyError, Thresholds, load_policy
from fieldkit.checks.runner import CHECK_IDS, run, verdict

__all__ = [
    "CHECK_IDS",
    "DEFAULT_POLICY",
    "PolicyError",
    "Thresholds",
    "load_policy",
    "run",
    "verdict",
]
