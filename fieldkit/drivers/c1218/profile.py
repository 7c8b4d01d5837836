"""Meter profiles: where a meter model keeps its per-phase quantities and registers.

C12.19 standardises the *containers* (ST23 registers, ST28 present values, manufacturer
tables) but not which slot holds "phase B volts" or how to scale it; that differs per model.
A profile is a small TOML file, chosen by the ST1 manufacturer and model, that says so. The
kit ships profiles in ``fieldkit/drivers/c1218/profiles/``; a utility adds its own in
``$FIELDKIT_HOME/profiles/`` (see ``docs/c1218.md``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ANGLE_QUANTITIES",
    "PHASE_QUANTITIES",
    "SITE_QUANTITIES",
    "MeterProfile",
    "ProfileError",
    "ProfileRegistry",
    "QuantitySpec",
    "RegisterSpec",
    "builtin_profile_dir",
    "load_profile",
]

PHASE_QUANTITIES = (
    "voltage",
    "current",
    "voltage_angle",
    "current_angle",
    "power_factor",
    "active_power",
    "reactive_power",
)
SITE_QUANTITIES = ("frequency", "temperature_c", "total_active_power", "total_reactive_power")
# Kept in [0, 360) whichever way a meter counts them (model conventions).
ANGLE_QUANTITIES = frozenset({"voltage_angle", "current_angle"})

RawType = Literal["u8", "i8", "u16", "i16", "u24", "i24", "u32", "i32", "u48", "i48", "f32", "f64"]
RAW_SIZES: dict[str, int] = {
    "u8": 1,
    "i8": 1,
    "u16": 2,
    "i16": 2,
    "u24": 3,
    "i24": 3,
    "u32": 4,
    "i32": 4,
    "u48": 6,
    "i48": 6,
    "f32": 4,
    "f64": 8,
}


class ProfileError(ValueError):
    """A profile file is missing, unreadable or says something impossible."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuantitySpec(_Strict):
    """Where one quantity lives: a present value (ST28) or a field of any table."""

    name: str
    phase: str | None = None
    present_value: int | None = Field(default=None, ge=0)
    table: int | None = Field(default=None, ge=0, le=0xFFFF)
    offset: int | None = Field(default=None, ge=0)
    type: RawType | None = None
    byte_order: Literal["meter", "little", "big"] = "meter"
    scale: float = 1.0

    @model_validator(mode="after")
    def _one_location(self) -> QuantitySpec:
        if self.name in PHASE_QUANTITIES:
            if self.phase is None:
                raise ValueError(f"quantity '{self.name}' needs a phase")
        elif self.name in SITE_QUANTITIES:
            if self.phase is not None:
                raise ValueError(f"quantity '{self.name}' is site-wide: no phase")
        else:
            known = ", ".join(PHASE_QUANTITIES + SITE_QUANTITIES)
            raise ValueError(f"unknown quantity '{self.name}' (known: {known})")
        in_table = self.table is not None or self.offset is not None or self.type is not None
        if self.present_value is None and not in_table:
            raise ValueError(f"quantity '{self.name}' needs present_value or table+offset+type")
        if self.present_value is not None and in_table:
            raise ValueError(f"quantity '{self.name}': give present_value or a table, not both")
        if in_table and (self.table is None or self.offset is None or self.type is None):
            raise ValueError(f"quantity '{self.name}': a table location needs table, offset, type")
        return self


class RegisterSpec(_Strict):
    """One ST23 register: summation or demand ``index`` of the total (or a tier) block."""

    id: str
    source: Literal["summation", "demand"]
    index: int = Field(ge=0)
    scale: float = 1.0
    unit: str
    description: str = ""
    tier: int | None = Field(default=None, ge=0)


class _ProfileHeader(_Strict):
    name: str
    manufacturer: str
    models: list[str] = Field(min_length=1)
    elements: list[str] = Field(min_length=1)


class _ProfileFile(_Strict):
    profile: _ProfileHeader
    # TOML's [[register]] / [[quantity]] arrays; "register" would shadow a BaseModel attribute.
    registers: list[RegisterSpec] = Field(default=[], alias="register")
    quantities: list[QuantitySpec] = Field(default=[], alias="quantity")


@dataclass(frozen=True, slots=True)
class MeterProfile:
    """A loaded profile."""

    name: str
    manufacturer: str
    models: tuple[str, ...]
    elements: tuple[str, ...]
    registers: tuple[RegisterSpec, ...]
    quantities: tuple[QuantitySpec, ...]
    path: Path

    def matches(self, manufacturer: str, model: str) -> bool:
        """True when ST1's manufacturer and model name this profile (blanks, case ignored)."""
        return self.manufacturer.strip().upper() == manufacturer.strip().upper() and any(
            m.strip().upper() == model.strip().upper() for m in self.models
        )

    @property
    def tables(self) -> frozenset[int]:
        """Tables other than ST28 that the quantities live in."""
        return frozenset(q.table for q in self.quantities if q.table is not None)


def load_profile(path: Path) -> MeterProfile:
    """Read and validate one profile file; errors name the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot read meter profile {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"meter profile {path} is not valid TOML: {exc}") from exc
    try:
        parsed = _ProfileFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(f"meter profile {path.name}: {where}: {first['msg']}") from exc
    for q in parsed.quantities:
        if q.phase is not None and q.phase not in parsed.profile.elements:
            raise ProfileError(
                f"meter profile {path.name}: quantity '{q.name}' names phase {q.phase}, "
                f"not one of the elements {parsed.profile.elements}"
            )
    return MeterProfile(
        name=parsed.profile.name,
        manufacturer=parsed.profile.manufacturer,
        models=tuple(parsed.profile.models),
        elements=tuple(parsed.profile.elements),
        registers=tuple(parsed.registers),
        quantities=tuple(parsed.quantities),
        path=path,
    )


def builtin_profile_dir() -> Path:
    """The profiles shipped with the kit."""
    return Path(__file__).resolve().parent / "profiles"


class ProfileRegistry:
    """All profiles found in some directories; later directories override earlier ones."""

    def __init__(self, profiles: Iterable[MeterProfile]) -> None:
        self._profiles = tuple(profiles)

    @classmethod
    def from_dirs(
        cls, *dirs: Path, on_error: Callable[[ProfileError], None] | None = None
    ) -> ProfileRegistry:
        """Load every ``*.toml`` in ``dirs`` (missing directories are skipped).

        A broken file raises :class:`ProfileError`, unless ``on_error`` is given: then it
        hears the error, the file is skipped, and every other profile still loads.
        """
        found: list[MeterProfile] = []
        for directory in dirs:
            if not directory.is_dir():
                continue
            for path in sorted(directory.glob("*.toml")):
                try:
                    found.append(load_profile(path))
                except ProfileError as exc:
                    if on_error is None:
                        raise
                    on_error(exc)
        return cls(found)

    @classmethod
    def default(
        cls,
        extra_dir: Path | None = None,
        *,
        on_error: Callable[[ProfileError], None] | None = None,
    ) -> ProfileRegistry:
        """The built-in profiles plus a utility's own directory.

        ``on_error`` applies to the utility's directory only: a broken built-in profile is
        the kit's bug and always raises.
        """
        registry = cls.from_dirs(builtin_profile_dir())
        if extra_dir is None:
            return registry
        extra = cls.from_dirs(extra_dir, on_error=on_error)
        return cls((*registry._profiles, *extra._profiles))

    def find(self, manufacturer: str, model: str) -> MeterProfile | None:
        """The profile for this meter; the last one loaded wins."""
        for profile in reversed(self._profiles):
            if profile.matches(manufacturer, model):
                return profile
        return None
