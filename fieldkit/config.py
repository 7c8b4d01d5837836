"""The laptop's settings: ``config.toml`` in :func:`fieldkit.paths.home`, every key optional.

```toml
technician = "J. Rivera"          # who the visit log says did the work (default: the login)

[clock]                           # when may the laptop's clock be pushed into a meter?
source = "auto"                   # "ntp" (the OS says it is synchronised), "server" (the
                                  # time of the last sync with the office server), "auto"
max_server_age_hours = 24         # a server time older than this is not trusted

[adjust]
set_clock_level = 2               # the password level the utility's meters want for SP10
demand_reset_level = 3            # ... and for SP9 (demand reset)
demand_reset_lockout_days = 25    # one demand reset per meter per billing period
open_visit_hours = 12             # an adjustment joins an open visit to the meter this recent

[secrets]
backend = "keyring"               # "keyring" (the OS keyring) or "file" (encrypted file
                                  # in FIELDKIT_HOME, passphrase in FIELDKIT_SECRETS_PASSPHRASE)
```

``FIELDKIT_TECHNICIAN`` overrides ``technician``. A bad file is one :class:`ConfigError` line
naming the key.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fieldkit import paths

__all__ = [
    "CONFIG_FILENAME",
    "AdjustSettings",
    "ClockSettings",
    "ConfigError",
    "SecretsSettings",
    "Settings",
    "config_path",
    "load_settings",
    "technician",
]

CONFIG_FILENAME = "config.toml"


class ConfigError(ValueError):
    """The settings file cannot be used; one line naming the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClockSettings(_Section):
    """Where a trustworthy time comes from."""

    source: Literal["auto", "ntp", "server"] = "auto"
    max_server_age_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 24.0


class AdjustSettings(_Section):
    """What the utility allows at the meter."""

    set_clock_level: Annotated[int, Field(ge=1, le=255)] = 2
    demand_reset_level: Annotated[int, Field(ge=1, le=255)] = 3
    demand_reset_lockout_days: Annotated[float, Field(ge=0, le=400)] = 25.0
    open_visit_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 12.0


class SecretsSettings(_Section):
    """Where meter passwords and the device token are kept."""

    backend: Literal["keyring", "file"] = "keyring"


class Settings(_Section):
    """The whole settings file."""

    technician: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    clock: ClockSettings = ClockSettings()
    adjust: AdjustSettings = AdjustSettings()
    secrets: SecretsSettings = SecretsSettings()


def config_path() -> Path:
    """``$FIELDKIT_HOME/config.toml`` (or the user data directory's)."""
    return paths.home() / CONFIG_FILENAME


def load_settings(path: Path | None = None) -> Settings:
    """The settings, defaults for a missing file; raises :class:`ConfigError`."""
    target = config_path() if path is None else path
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {target}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target}: not valid TOML: {exc}") from exc
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{target}: {where}: {message}") from exc


def technician(settings: Settings) -> str:
    """Who is working: ``FIELDKIT_TECHNICIAN``, the settings file, or the login name."""
    named = os.environ.get("FIELDKIT_TECHNICIAN") or settings.technician
    if named:
        return named.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
