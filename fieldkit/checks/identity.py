"""meter_identity: the meter on the wall is the one the work order names."""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.site import CheckInput
from fieldkit.model import CheckResult, CheckStatus

__all__ = ["check_meter_identity", "same_meter_number"]

ID = "meter_identity"


def _normal(text: str) -> str:
    # ST5 METER_ID arrives padded with spaces or NULs; utilities zero-pad meter numbers.
    cleaned = text.replace("\x00", "").strip().upper()
    if cleaned.isdigit():
        return cleaned.lstrip("0") or "0"
    return cleaned


def same_meter_number(a: str, b: str) -> bool:
    """Whether two meter numbers name the same meter (case, padding, leading zeros ignored)."""
    left, right = _normal(a), _normal(b)
    return bool(left) and left == right


def check_meter_identity(inp: CheckInput) -> CheckResult:
    """Compare the work order's meter number with the meter's ST5 id or serial number."""
    wanted = fmt.one_line(inp.expectation.meter_number or "")
    if not wanted:
        return CheckResult(ID, CheckStatus.SKIP, "no meter number on the work order")
    ident = inp.snapshot.identity
    meter_id = fmt.one_line(ident.meter_id or "")
    serial = fmt.one_line(ident.serial_number or "")
    measured = f"meter id {meter_id or '(none)'}, serial {serial or '(none)'}"
    expected = f"meter number {wanted}"
    for label, value in (("meter id", meter_id), ("serial number", serial)):
        if value and same_meter_number(wanted, value):
            return CheckResult(
                ID,
                CheckStatus.PASS,
                f"{label} {value} matches the work order",
                measured=measured,
                expected=expected,
            )
    if not meter_id and not serial:
        return CheckResult(
            ID,
            CheckStatus.SKIP,
            "the meter reported neither a meter id nor a serial number",
            measured=measured,
            expected=expected,
        )
    return CheckResult(
        ID,
        CheckStatus.FAIL,
        f"wrong meter: work order says {wanted}, meter says {measured}",
        measured=measured,
        expected=expected,
        likely_causes=(
            "a different meter is installed here (exchange not recorded, or wrong premise): "
            "compare the nameplate with the work order before doing anything else",
            "meter number mistyped on the work order",
            "meter id (ST5) never programmed: read the nameplate serial",
        ),
    )
