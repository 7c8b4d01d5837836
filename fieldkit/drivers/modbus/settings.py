"""What a caller may set on the Modbus driver, validated before the port is touched.

The settings arrive as a plain mapping (``{"map": "eastron-sdm630", "device_id": 7}``) and
are checked with pydantic; the first bad one raises
:class:`~fieldkit.drivers.errors.DriverSettingsError` naming it. Line settings left out
(``baud``, ``parity``, ``stop_bits``) take the map's ``[serial]`` defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fieldkit.drivers.errors import DriverSettingsError
from fieldkit.drivers.settings import validate_settings

__all__ = ["BAUD_RATES", "DEFAULT_RETRIES", "ModbusSettings", "parse_settings"]

# Two further tries: at a 1e-3 byte error rate one retry completes 94.85 % of full reads,
# two 97.45 % (docs/reliability.md); a silent meter then costs three timeouts, not two.
DEFAULT_RETRIES = 2

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

_PARITY_WORDS = {"n": "N", "none": "N", "e": "E", "even": "E", "o": "O", "odd": "O"}


class ModbusSettings(BaseModel):
    """The Modbus driver's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    map: str = Field(min_length=1, description="register map NAME (`fieldkit maps list`) or PATH")
    device_id: int = Field(default=1, ge=1, le=247, description="the meter's Modbus address")
    baud: int | None = None  # None: the map's
    parity: Literal["N", "E", "O"] | None = None
    stop_bits: Literal[1, 2] | None = None
    response_timeout: float = Field(default=1.0, ge=0.05, le=10.0)
    # further tries of a request that got no answer
    retries: int = Field(default=DEFAULT_RETRIES, ge=0, le=5)
    rotation: Literal["ABC", "ACB"] = "ABC"  # where derived voltage angles are placed
    maps_dir: Path | None = None  # the utility's own maps (default: $FIELDKIT_HOME/maps)

    @field_validator("baud")
    @classmethod
    def _baud(cls, baud: int | None) -> int | None:
        if baud is not None and baud not in BAUD_RATES:
            raise ValueError(f"{baud} is not a Modbus speed ({', '.join(map(str, BAUD_RATES))})")
        return baud

    @field_validator("parity", mode="before")
    @classmethod
    def _parity(cls, value: Any) -> Any:
        if isinstance(value, str):
            word = _PARITY_WORDS.get(value.strip().lower())
            if word is None:
                raise ValueError(f"'{value}' is not a parity: use N (none), E (even) or O (odd)")
            return word
        return value

    @field_validator("rotation", mode="before")
    @classmethod
    def _rotation(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


def parse_settings(settings: Mapping[str, Any]) -> ModbusSettings:
    """Validated settings; the first problem raises DriverSettingsError naming the setting."""
    values = {k: v for k, v in settings.items() if v is not None}
    if "map" not in values:
        raise DriverSettingsError(
            "map", "a Modbus read needs the meter's register map (see `fieldkit maps list`)"
        )
    return validate_settings(ModbusSettings, values, "Modbus")
