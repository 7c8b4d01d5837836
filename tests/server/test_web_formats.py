"""How the office pages write numbers (syncserver.web.formats)."""

from __future__ import annotations

import pytest

from syncserver.web.formats import reading


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (41.0, "41"),  # a count of demand resets
        (12345.678, "12,345.678"),
        (0.5, "0.5"),
        (1.0004, "1"),  # rounded to three places, the trailing zeros and point dropped
        (-0.0001, "0"),  # never "-0"
        (-2.25, "-2.25"),
        (None, "—"),
        (float("nan"), "—"),
        (float("inf"), "—"),
    ],
)
def test_reading(value: float | None, expected: str) -> None:
    assert reading(value) == expected
