"""The field guide's screenshots (docs/img/app-*.svg) are the app's own 80×24 snapshots.

After ``pytest tests/tui/test_snapshots.py --snapshot-update``, ``make docs-images`` (this
module run as a script) copies them, and this test keeps the guide from showing screens the
app no longer has.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "tui" / "__snapshots__" / "test_snapshots"
# docs/img file → the snapshot it shows.
DOC_IMAGES = {
    "app-work-orders.svg": "work_orders-80x24-dark",
    "app-site.svg": "site-80x24-dark",
    "app-connect.svg": "connect-80x24-dark",
    "app-checks.svg": "checks-80x24-dark",
    "app-phasors.svg": "phasors-80x24-dark",
    "app-phasors-light.svg": "phasors-80x24-light",
    "app-adjust.svg": "adjust-80x24-dark",
    "app-close.svg": "close-80x24-dark",
    "app-sync.svg": "sync-80x24-dark",
}


def _snapshot(name: str) -> Path:
    return SNAPSHOTS / f"test_screen[{name}].svg"


@pytest.mark.parametrize("image", list(DOC_IMAGES))
def test_the_field_guide_shows_the_screens_the_app_has(image: str) -> None:
    shown = ROOT / "docs" / "img" / image
    assert shown.read_bytes() == _snapshot(DOC_IMAGES[image]).read_bytes(), (
        f"docs/img/{image} is not the current snapshot: run `make docs-images`"
    )
    assert f"img/{image}" in (ROOT / "docs" / "field-guide.md").read_text(encoding="utf-8")


if __name__ == "__main__":
    for image, snapshot in DOC_IMAGES.items():
        shutil.copyfile(_snapshot(snapshot), ROOT / "docs" / "img" / image)
