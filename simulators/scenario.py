"""Scenario files: what a simulated meter is, measures and remembers.

A scenario is one TOML file (``simulators/scenarios/NAME.toml``). Loading validates every key
and turns the first problem into a one-line :class:`ScenarioError` that names the key, so a
typo in a hand-written file never ends in a traceback. The schema is documented in
``docs/simulators.md``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fieldkit.model import STATUS_FLAG_NAMES, ServiceType

__all__ = [
    "BAUD_CODES",
    "MODEL_ELEMENTS",
    "SCENARIO_DIR",
    "ClockSection",
    "EventSection",
    "FaultsSection",
    "LinkSection",
    "MeterSection",
    "ModbusSection",
    "Password",
    "PhaseSection",
    "RegistersSection",
    "Scenario",
    "ScenarioError",
    "SecuritySection",
    "SiteSection",
    "StatusSection",
    "WorkOrderSection",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "resolve_scenario_path",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

# Negotiate baud codes (c12-protocols.md §1.9); 0x00 "externally defined" is not a speed.
BAUD_CODES: dict[int, int] = {
    0x01: 300,
    0x02: 600,
    0x03: 1200,
    0x04: 2400,
    0x05: 4800,
    0x06: 9600,
    0x07: 14400,
    0x08: 19200,
    0x09: 28800,
    0x0A: 57600,
    0x0B: 38400,
    0x0C: 115200,
    0x0D: 128000,
    0x0E: 256000,
}

# The elements each simulated model measures, in ST28 order.
MODEL_ELEMENTS: dict[str, tuple[str, ...]] = {
    "SIM-2S": ("A",),
    "SIM-16S": ("A", "B", "C"),
}

# NI formats the table encoders can write (c12-protocols.md §2.0).
SUPPORTED_NI_FORMATS = (0, 1, 7, 8, 9, 10, 11)


class ScenarioError(ValueError):
    """A scenario file cannot be used; the message is one line naming the file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _ascii(value: str, size: int, what: str) -> str:
    if not value.isascii():
        raise ValueError(f"{what} must be plain ASCII")
    if len(value) > size:
        raise ValueError(f"{what} holds at most {size} characters")
    return value


class MeterSection(_Section):
    """Identity and data formats of the meter ([meter])."""

    manufacturer: str = "FKIT"
    model: Literal["SIM-2S", "SIM-16S"] = "SIM-2S"
    serial: str = "SN0000000000001"
    meter_id: str = "M0000001"
    form: str = "2S"
    service_type: ServiceType = ServiceType.ONE_PHASE_3W
    hw_version: Annotated[int, Field(ge=0, le=255)] = 1
    hw_revision: Annotated[int, Field(ge=0, le=255)] = 0
    fw_version: Annotated[int, Field(ge=0, le=255)] = 1
    fw_revision: Annotated[int, Field(ge=0, le=255)] = 0
    data_order: Literal["little", "big"] = "little"
    tm_format: Literal[1, 2] = 2
    ni_format1: int = 8
    ni_format2: int = 8
    kh: str = "7.2"
    kt: str = "1.0"
    class_amps: str = "200"
    test_amps: str = "30"
    # Standard procedures the meter lists in ST0 and carries out (SP9 demand reset, SP10
    # set date/time); [] for a meter that runs none.
    procedures: tuple[Literal[9, 10], ...] = (9, 10)

    @field_validator("manufacturer")
    @classmethod
    def _manufacturer(cls, value: str) -> str:
        return _ascii(value, 4, "manufacturer")

    @field_validator("serial")
    @classmethod
    def _serial(cls, value: str) -> str:
        return _ascii(value, 16, "serial")

    @field_validator("meter_id")
    @classmethod
    def _meter_id(cls, value: str) -> str:
        return _ascii(value, 20, "meter_id")

    @field_validator("form")
    @classmethod
    def _form(cls, value: str) -> str:
        return _ascii(value, 5, "form")

    @field_validator("kh", "kt", "class_amps", "test_amps")
    @classmethod
    def _nameplate(cls, value: str) -> str:
        return _ascii(value, 6, "nameplate field")

    @field_validator("ni_format1", "ni_format2")
    @classmethod
    def _ni_format(cls, value: int) -> int:
        if value not in SUPPORTED_NI_FORMATS:
            raise ValueError(
                f"NI format {value} is not supported (use one of {list(SUPPORTED_NI_FORMATS)})"
            )
        return value

    @property
    def elements(self) -> tuple[str, ...]:
        """Names of the elements this model measures."""
        return MODEL_ELEMENTS[self.model]


class LinkSection(_Section):
    """Link limits and timing ([link])."""

    max_packet_size: Annotated[int, Field(ge=16, le=8192)] = 256
    max_packets: Annotated[int, Field(ge=1, le=255)] = 4
    bauds: tuple[int, ...] = (9600, 19200, 38400, 57600)
    turnaround_ms: Annotated[float, Field(ge=0, le=5000)] = 10.0
    traffic_timeout: Annotated[float, Field(gt=0, le=600)] = 6.0

    @field_validator("bauds")
    @classmethod
    def _bauds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        known = set(BAUD_CODES.values())
        for baud in value:
            if baud not in known:
                raise ValueError(f"{baud} is not a C12.18 baud rate ({sorted(known)})")
        # 9600 is where every session starts, so it is always supported.
        return tuple(sorted({9600, *value}))


class ClockSection(_Section):
    """The meter's clock against real time ([clock])."""

    drift_seconds: float = 0.0
    utc: bool = True
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _local_needs_zone(self) -> ClockSection:
        if not self.utc and self.timezone is None:
            raise ValueError("utc = false needs a timezone (for example 'America/Chicago')")
        return self


class StatusSection(_Section):
    """ST3 standard status flags that are set ([status])."""

    flags: tuple[str, ...] = ()

    @field_validator("flags")
    @classmethod
    def _flags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in STATUS_FLAG_NAMES:
                raise ValueError(f"unknown status flag {name!r}")
        return value


class PhaseSection(_Section):
    """One measuring element ([[phase]])."""

    name: str
    voltage: Annotated[float, Field(ge=0, le=100_000)]
    current: Annotated[float, Field(ge=0, le=100_000)]
    voltage_angle: float = 0.0
    current_angle: float = 0.0
    power_factor: Annotated[float, Field(ge=-1, le=1)] | None = None


class SiteSection(_Section):
    """Grid frequency and meter temperature ([site])."""

    frequency: Annotated[float, Field(gt=0, le=1000)] = 60.0
    # The SIM models always report a temperature; 35 °C is a meter in the shade.
    temperature_c: Annotated[float, Field(ge=-60, le=200)] = 35.0


class RegistersSection(_Section):
    """Billing registers when the simulator starts ([registers])."""

    kwh_delivered: Annotated[float, Field(ge=0)] = 0.0
    kwh_received: Annotated[float, Field(ge=0)] = 0.0
    kvarh_delivered: Annotated[float, Field(ge=0)] = 0.0
    kvarh_received: Annotated[float, Field(ge=0)] = 0.0
    demand_kw: Annotated[float, Field(ge=0)] = 0.0
    demand_age_hours: Annotated[float, Field(ge=0)] = 0.0
    demand_resets: Annotated[int, Field(ge=0, le=255)] = 0


class EventSection(_Section):
    """One logged event ([[event]]); its time is ``age_hours`` before the simulator started."""

    code: Annotated[int, Field(ge=0, le=2047)]
    age_hours: Annotated[float, Field(ge=0)] = 0.0
    log: Literal["event", "history"] = "event"
    user_id: Annotated[int, Field(ge=0, le=0xFFFF)] = 0
    argument: str = ""
    manufacturer: bool = False

    @field_validator("argument")
    @classmethod
    def _argument(cls, value: str) -> str:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError("argument must be hex digits, e.g. '0001'") from None
        if len(raw) > 2:
            raise ValueError("argument is at most 2 bytes (ST71 data length 2)")
        return value

    @property
    def argument_bytes(self) -> bytes:
        """The argument as bytes."""
        return bytes.fromhex(self.argument)


class Password(_Section):
    """One password the meter accepts and the access level it grants."""

    text: str | None = None
    hex: str | None = None
    level: Annotated[int, Field(ge=1, le=255)] = 1
    # How a text password may be padded to 20 bytes: spaces (MeteringSDK), NULs
    # (termineter), or either, because clients disagree and the default should not care.
    padding: Literal["space", "nul", "any"] = "any"

    @model_validator(mode="after")
    def _one_form(self) -> Password:
        if (self.text is None) == (self.hex is None):
            raise ValueError("give exactly one of text or hex")
        raw = self.raw
        if len(raw) > 20:
            raise ValueError("a C12.18 password is at most 20 bytes")
        return self

    @property
    def raw(self) -> bytes:
        """The password bytes before padding."""
        if self.hex is not None:
            try:
                return bytes.fromhex(self.hex)
            except ValueError:
                raise ValueError("hex password must be hex digits") from None
        assert self.text is not None
        if not self.text.isascii():
            raise ValueError("text password must be plain ASCII")
        return self.text.encode("ascii")

    def accepts(self, received: bytes) -> bool:
        """True when the 20 bytes of a Security request carry this password."""
        raw = self.raw
        if self.hex is not None:
            return received == raw.ljust(20, b"\x00")
        fills = {"space": b" ", "nul": b"\x00", "any": b" \x00"}[self.padding]
        return any(received == raw.ljust(20, bytes([fill])) for fill in fills)


class SecuritySection(_Section):
    """Passwords ([security]); without any, every table is served after Logon."""

    passwords: tuple[Password, ...] = ()
    read_level: Annotated[int, Field(ge=0, le=255)] = 1
    # The level a password needs to run a procedure (the ST7 write), by procedure number;
    # procedures not named need ``procedure_level``.
    procedure_level: Annotated[int, Field(ge=0, le=255)] = 2
    procedure_levels: dict[int, Annotated[int, Field(ge=0, le=255)]] = {}

    def level_for_procedure(self, number: int) -> int:
        """The access level a procedure needs (0 on a meter without passwords)."""
        if not self.passwords:
            return 0
        return self.procedure_levels.get(number, self.procedure_level)


class FaultsSection(_Section):
    """Faults to inject ([faults]); command-line flags override them."""

    corrupt_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    drop_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    busy: Annotated[int, Field(ge=0)] = 0
    slow_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0
    stop_after: Annotated[int, Field(ge=0)] | None = None
    seed: int | None = None
    # Procedures: answer this ST8 result code instead of carrying them out (2-6), and
    # answer "not completed yet" (1) to the first N reads of ST8 after each one.
    procedure_result: Annotated[int, Field(ge=0, le=255)] | None = None
    procedure_pending: Annotated[int, Field(ge=0, le=100)] = 0


class ModbusSection(_Section):
    """How the meter answers when served over Modbus ([modbus]); the C12.18 meter ignores it."""

    device_id: Annotated[int, Field(ge=1, le=247)] = 1
    baud: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] | None = None  # map's
    model_code: Annotated[int, Field(ge=0, le=0xFFFF)] = 15
    turnaround_ms: Annotated[float, Field(ge=0, le=5000)] = 2.0
    # Values drift a little over time (a real load is never still); off for exact tests.
    wobble: bool = True


class WorkOrderSection(_Section):
    """What the utility's work order says about the site; not served by the meter."""

    meter_number: str
    service_type: ServiceType
    nominal_voltage: Annotated[float, Field(gt=0)]
    form: str | None = None
    last_read_kwh: Annotated[float, Field(ge=0)] | None = None
    last_read_days_ago: Annotated[float, Field(ge=0)] | None = None
    last_visit_days_ago: Annotated[float, Field(ge=0)] | None = None
    net_metering: bool = False


class Scenario(_Section):
    """A whole scenario file."""

    name: str
    description: str = ""
    meter: MeterSection = MeterSection()
    link: LinkSection = LinkSection()
    clock: ClockSection = ClockSection()
    status: StatusSection = StatusSection()
    phase: tuple[PhaseSection, ...]
    site: SiteSection = SiteSection()
    registers: RegistersSection = RegistersSection()
    event: tuple[EventSection, ...] = ()
    security: SecuritySection = SecuritySection()
    faults: FaultsSection = FaultsSection()
    modbus: ModbusSection = ModbusSection()
    work_order: WorkOrderSection | None = None

    @field_validator("phase")
    @classmethod
    def _elements_match_model(
        cls, value: tuple[PhaseSection, ...], info: ValidationInfo
    ) -> tuple[PhaseSection, ...]:
        meter = info.data.get("meter")
        if not isinstance(meter, MeterSection):
            return value  # [meter] is invalid itself and reported on its own
        expected = meter.elements
        names = tuple(p.name for p in value)
        if names != expected:
            raise ValueError(
                f"{meter.model} measures elements {list(expected)}, "
                f"[[phase]] tables name {list(names)}"
            )
        return value

    @property
    def has_history(self) -> bool:
        """True when the history log (ST74) has entries, which is when it is served."""
        return any(e.log == "history" for e in self.event)


# --- loading --------------------------------------------------------------------------------


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _one_line(error: ValidationError) -> str:
    errors = error.errors()
    first = errors[0]
    kind = first.get("type", "")
    loc = tuple(first.get("loc", ()))
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        message = message.replace("\n", " ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{_where(loc)}: {message}{more}"


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario TOML; raise :class:`ScenarioError` with one line."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_one_line(exc)}") from None
    except ValueError as exc:  # raised by a property while validating (bad hex password)
        raise ScenarioError(f"{source}: {exc}") from None


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``simulators/scenarios``, sorted."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """The file for a scenario NAME (shipped) or PATH (any .toml file)."""
    candidate = Path(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, Path)
        or candidate.suffix == ".toml"
        or len(candidate.parts) > 1
        or candidate.exists()
    )
    if looks_like_path:
        if not candidate.is_file():
            raise ScenarioError(f"scenario file {candidate} does not exist")
        return candidate
    shipped = SCENARIO_DIR / f"{name_or_path}.toml"
    if not shipped.is_file():
        names = ", ".join(list_scenarios()) or "none"
        raise ScenarioError(f"no scenario called {name_or_path!r} (available: {names})")
    return shipped


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by name, or any scenario file by path."""
    path = resolve_scenario_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    return parse_scenario(text, source=path.name)
