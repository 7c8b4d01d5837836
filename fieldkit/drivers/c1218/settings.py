"""What a caller may set on the C12.18 driver, validated before the port is touched.

The settings arrive as a plain mapping (from the command line, the app's connect form, a
stored meter record) and are checked here with pydantic; the first bad one raises
:class:`~fieldkit.drivers.errors.DriverSettingsError` naming it. :func:`parse_settings`
returns a :class:`C1218Settings` whose methods give what the session needs: the padded
password, the link and session configuration, and the meter's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from fieldkit.drivers.c1218.client import SessionConfig
from fieldkit.drivers.c1218.link import LinkConfig
from fieldkit.drivers.c1218.services import PASSWORD_SIZE, USER_SIZE, baud_to_code, pad_password
from fieldkit.drivers.errors import DriverError, DriverSettingsError
from fieldkit.drivers.settings import validate_settings

__all__ = ["C1218Settings", "parse_settings"]


class C1218Settings(BaseModel):
    """The C12.18 driver's settings; the defaults follow C12.18 and common optical probes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    password: SecretStr | None = Field(
        default=None, description="text, space-padded to 20 bytes (most meters)"
    )
    password_hex: SecretStr | None = Field(default=None, description="raw bytes as hex, ≤ 20")
    user_id: int = Field(default=2, ge=0, le=0xFFFF)
    user: str = Field(default="FIELDKIT", max_length=USER_SIZE)
    baud: int = 9600  # asked for in Negotiate; the meter's grant is used
    packet_size: int = Field(default=1024, ge=64, le=8192)
    packets: int = Field(default=8, ge=1, le=255)
    response_timeout: float = Field(default=2.0, ge=0.1, le=30.0)
    rts: bool = True  # powers most ANSI optical probes
    dtr: bool = False
    ignore_toggle: bool = False  # meters that never flip the toggle bit
    meter_tz: str | None = None  # None: the meter keeps the laptop's local time
    read_events: bool = True
    # A utility's own profiles, beside the built-in ones (default: $FIELDKIT_HOME/profiles).
    profiles_dir: Path | None = None

    @field_validator("baud")
    @classmethod
    def _negotiable(cls, baud: int) -> int:
        try:
            baud_to_code(baud)
        except DriverError as exc:
            raise ValueError(exc.message) from None
        return baud

    @field_validator("meter_tz")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone '{name}' (use a name like America/Chicago)"
                ) from None
        return name

    def password_bytes(self) -> bytes | None:
        """The password as the meter gets it (20 bytes for text, raw for hex), or None."""
        if self.password is not None and self.password_hex is not None:
            raise DriverSettingsError("password", "give a password as text or as hex, not both")
        try:
            if self.password is not None:
                return pad_password(self.password.get_secret_value())
        except DriverError as exc:
            raise DriverSettingsError("password", exc.message) from None
        if self.password_hex is None:
            return None
        text = "".join(self.password_hex.get_secret_value().split())
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            # Never echo the value: it is a secret.
            raise DriverSettingsError(
                "password_hex", "not hex: write the bytes as pairs of 0-9 and a-f, e.g. 0a1b2c"
            ) from None
        if len(raw) > PASSWORD_SIZE:
            raise DriverSettingsError(
                "password_hex", f"{len(raw)} bytes; a C12.18 password has at most {PASSWORD_SIZE}"
            )
        return raw

    def session_config(self) -> SessionConfig:
        """Logon, password and Negotiate requests."""
        return SessionConfig(
            user_id=self.user_id,
            user=self.user,
            password=self.password_bytes(),
            packet_size=self.packet_size,
            max_packets=self.packets,
            baud=self.baud,
        )

    def link_config(self) -> LinkConfig:
        """Timers and duplicate detection."""
        return LinkConfig(
            response_timeout=self.response_timeout, duplicate_detection=not self.ignore_toggle
        )

    def time_zone(self) -> tzinfo | None:
        """The meter's time zone when it keeps local time, or None."""
        return None if self.meter_tz is None else ZoneInfo(self.meter_tz)


def parse_settings(settings: Mapping[str, Any]) -> C1218Settings:
    """Validated settings; the first problem raises DriverSettingsError naming the setting."""
    parsed = validate_settings(C1218Settings, settings, "C12.18")
    parsed.password_bytes()  # both given, bad hex, too long: said now, not at Security
    return parsed
