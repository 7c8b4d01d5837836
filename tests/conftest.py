"""Shared fixtures: where the public vectors live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def c1218_vectors() -> dict[str, Any]:
    """The C12.18 frames made by implementations outside this project."""
    path = SHARED / "vectors" / "c1218_frames.json"
    if not path.exists():
        pytest.fail(f"public vectors missing at {path}: CI copies shared/ beside the checkout")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
