"""Where the laptop side keeps its files.

``FIELDKIT_HOME`` moves everything (database, config, profiles, credentials fallback) to one
directory; otherwise the platform's user data directory is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

__all__ = ["home", "home_problem", "maps_dir", "meter_links_file", "profiles_dir"]


def home() -> Path:
    """The kit's data directory (not created here)."""
    override = os.environ.get("FIELDKIT_HOME")
    if override:
        return Path(override).expanduser()
    return user_data_path("fieldkit", appauthor=False)


def home_problem(folder: Path | None = None) -> str | None:
    """Why the kit's folder cannot hold its files, in the words a technician needs; None
    when it can (or does not exist yet and can be created)."""
    target = home() if folder is None else folder
    named = f"FIELDKIT_HOME ({target})" if os.environ.get("FIELDKIT_HOME") else str(target)
    if target.exists() and not target.is_dir():
        return f"{named} is not a writable folder: it is a file; point it at a folder"
    if target.is_dir() and not os.access(target, os.W_OK | os.X_OK):
        return f"{named} is not a writable folder: no permission to write there"
    return None


def profiles_dir() -> Path:
    """A utility's own meter profiles, loaded after (and overriding) the built-in ones."""
    return home() / "profiles"


def maps_dir() -> Path:
    """A utility's own Modbus register maps, found before (and hiding) the shipped ones."""
    return home() / "maps"


def meter_links_file() -> Path:
    """Known meters (number → protocol, URL, driver settings): ``fieldkit demo`` writes it
    for its simulators, and the app's Connect screen fills its form from it."""
    return home() / "meter-links.json"
