"""Where the laptop side keeps its files.

``FIELDKIT_HOME`` moves everything (database, config, profiles, credentials fallback) to one
directory; otherwise the platform's user data directory is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

__all__ = ["home", "maps_dir", "profiles_dir"]


def home() -> Path:
    """The kit's data directory (not created here)."""
    override = os.environ.get("FIELDKIT_HOME")
    if override:
        return Path(override).expanduser()
    return user_data_path("fieldkit", appauthor=False)


def profiles_dir() -> Path:
    """A utility's own meter profiles, loaded after (and overriding) the built-in ones."""
    return home() / "profiles"


def maps_dir() -> Path:
    """A utility's own Modbus register maps, found before (and hiding) the shipped ones."""
    return home() / "maps"
