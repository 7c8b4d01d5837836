"""C12.19 history/event log codes: standard events 0–76 and the manufacturer flag.

A log code is a TABLE_IDB_BFLD: bits 0–10 the event number, bit 11 set for a
manufacturer-defined event, bits 12–15 unused here. Manufacturer numbers mean something
only per meter model, so they are named generically ("Manufacturer event 41").
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.drivers.errors import DecodeError

__all__ = [
    "EVENT_NUMBER_MASK",
    "MANUFACTURER_FLAG",
    "STANDARD_EVENTS",
    "EventDefinition",
    "event_id",
    "event_name",
    "split_event_code",
]

EVENT_NUMBER_MASK = 0x07FF
MANUFACTURER_FLAG = 0x0800
_CODE_LIMIT = 0xFFFF


@dataclass(frozen=True, slots=True)
class EventDefinition:
    """A standard event: its number, a stable snake_case id and a name for people."""

    number: int
    id: str
    name: str


# Numbers 0–76 are the ones the standard defines; 58–76 are the audit variants of the
# security-relevant events (with values, with a signature, secured reads).
STANDARD_EVENTS: tuple[EventDefinition, ...] = (
    EventDefinition(0, "no_event", "No event"),
    EventDefinition(1, "primary_power_down", "Primary power down"),
    EventDefinition(2, "primary_power_up", "Primary power up"),
    EventDefinition(3, "time_changed_old_time", "Time changed (stamped with the old time)"),
    EventDefinition(4, "time_changed_new_time", "Time changed (stamped with the new time)"),
    EventDefinition(5, "time_changed_old_time_argument", "Time changed (old time in the argument)"),
    EventDefinition(6, "time_changed_new_time_argument", "Time changed (new time in the argument)"),
    EventDefinition(7, "accessed_for_read", "End device accessed for read"),
    EventDefinition(8, "accessed_for_write", "End device accessed for write"),
    EventDefinition(9, "procedure_invoked", "Procedure invoked"),
    EventDefinition(10, "table_written", "Table written"),
    EventDefinition(11, "end_device_programmed", "End device programmed"),
    EventDefinition(12, "communication_ended_normally", "Communication session ended normally"),
    EventDefinition(13, "communication_ended_abnormally", "Communication session ended abnormally"),
    EventDefinition(14, "list_pointers_reset", "List pointers reset"),
    EventDefinition(15, "list_pointers_updated", "List pointers updated"),
    EventDefinition(16, "history_log_cleared", "History log cleared"),
    EventDefinition(17, "history_log_pointers_updated", "History log pointers updated"),
    EventDefinition(18, "event_log_cleared", "Event log cleared"),
    EventDefinition(19, "event_log_pointers_updated", "Event log pointers updated"),
    EventDefinition(20, "demand_reset", "Demand reset"),
    EventDefinition(21, "self_read", "Self read occurred"),
    EventDefinition(22, "dst_on", "Daylight saving time on"),
    EventDefinition(23, "dst_off", "Daylight saving time off"),
    EventDefinition(24, "season_changed", "Season changed"),
    EventDefinition(25, "rate_changed", "Rate changed"),
    EventDefinition(26, "special_schedule_activated", "Special schedule activated"),
    EventDefinition(27, "tier_switch_changed", "Tier switch changed"),
    EventDefinition(28, "pending_table_activated", "Pending table activated"),
    EventDefinition(29, "pending_table_cleared", "Pending table cleared"),
    EventDefinition(30, "metering_mode_started", "Metering mode started"),
    EventDefinition(31, "metering_mode_stopped", "Metering mode stopped"),
    EventDefinition(32, "test_mode_started", "Test mode started"),
    EventDefinition(33, "test_mode_stopped", "Test mode stopped"),
    EventDefinition(34, "meter_shop_mode_started", "Meter shop mode started"),
    EventDefinition(35, "meter_shop_mode_stopped", "Meter shop mode stopped"),
    EventDefinition(36, "end_device_reprogrammed", "End device reprogrammed"),
    EventDefinition(37, "configuration_error", "Configuration error detected"),
    EventDefinition(38, "self_check_error", "Self-check error detected"),
    EventDefinition(39, "ram_failure", "RAM failure detected"),
    EventDefinition(40, "rom_failure", "ROM failure detected"),
    EventDefinition(41, "nonvolatile_memory_failure", "Non-volatile memory failure detected"),
    EventDefinition(42, "clock_error", "Clock error detected"),
    EventDefinition(43, "measurement_error", "Measurement error detected"),
    EventDefinition(44, "low_battery", "Low battery detected"),
    EventDefinition(45, "low_loss_potential", "Low loss potential detected"),
    EventDefinition(46, "demand_overload", "Demand overload detected"),
    EventDefinition(47, "tamper_attempt", "Tamper attempt detected"),
    EventDefinition(48, "reverse_rotation", "Reverse rotation detected"),
    EventDefinition(49, "control_point_changed_by_command", "Control point changed by command"),
    EventDefinition(50, "control_point_changed_by_schedule", "Control point changed by schedule"),
    EventDefinition(51, "control_point_changed_by_condition", "Control point changed by condition"),
    EventDefinition(
        52, "control_point_changed_by_prepayment", "Control point changed by prepayment"
    ),
    EventDefinition(53, "credit_added", "Credit added"),
    EventDefinition(54, "credit_subtracted", "Credit subtracted"),
    EventDefinition(55, "credit_adjusted", "Credit adjusted"),
    EventDefinition(56, "end_device_sealed", "End device sealed"),
    EventDefinition(57, "end_device_unsealed", "End device unsealed"),
    EventDefinition(58, "procedure_invoked_with_values", "Procedure invoked with values"),
    EventDefinition(59, "table_written_with_values", "Table written with values"),
    EventDefinition(60, "end_device_programmed_with_values", "End device programmed with values"),
    EventDefinition(61, "end_device_sealed_with_values", "End device sealed with values"),
    EventDefinition(62, "end_device_unsealed_with_values", "End device unsealed with values"),
    EventDefinition(63, "procedure_invoked_with_signature", "Procedure invoked with signature"),
    EventDefinition(64, "table_written_with_signature", "Table written with signature"),
    EventDefinition(
        65, "end_device_programmed_with_signature", "End device programmed with signature"
    ),
    EventDefinition(66, "end_device_sealed_with_signature", "End device sealed with signature"),
    EventDefinition(67, "end_device_unsealed_with_signature", "End device unsealed with signature"),
    EventDefinition(
        68,
        "procedure_invoked_with_signature_and_values",
        "Procedure invoked with signature and values",
    ),
    EventDefinition(
        69, "table_written_with_signature_and_values", "Table written with signature and values"
    ),
    EventDefinition(
        70,
        "end_device_programmed_with_signature_and_values",
        "End device programmed with signature and values",
    ),
    EventDefinition(
        71,
        "end_device_sealed_with_signature_and_values",
        "End device sealed with signature and values",
    ),
    EventDefinition(
        72,
        "end_device_unsealed_with_signature_and_values",
        "End device unsealed with signature and values",
    ),
    EventDefinition(73, "read_secured_table", "Secured table read"),
    EventDefinition(74, "read_secured_register", "Secured register read"),
    EventDefinition(75, "read_secured_table_with_values", "Secured table read with values"),
    EventDefinition(76, "read_secured_register_with_values", "Secured register read with values"),
)
_BY_NUMBER = {event.number: event for event in STANDARD_EVENTS}


def split_event_code(code: int) -> tuple[int, bool]:
    """``(event number, manufacturer)`` from a 16-bit log code (TABLE_IDB_BFLD)."""
    if not 0 <= code <= _CODE_LIMIT:
        raise DecodeError(f"event code {code} is outside 0–65535")
    return code & EVENT_NUMBER_MASK, bool(code & MANUFACTURER_FLAG)


def event_id(code: int, *, manufacturer: bool = False) -> str:
    """Stable snake_case id: ``"primary_power_down"``, ``"mfg_event_41"``, ``"std_event_99"``.

    ``code`` is either the whole log code (bit 11 marks a manufacturer event) or a bare
    event number with ``manufacturer`` saying which list it belongs to.
    """
    number, mfg = split_event_code(code)
    if mfg or manufacturer:
        return f"mfg_event_{number}"
    known = _BY_NUMBER.get(number)
    return known.id if known else f"std_event_{number}"


def event_name(code: int, *, manufacturer: bool = False) -> str:
    """Name for people: ``"Primary power down"``, ``"Manufacturer event 41"``.

    Accepts the same ``code``/``manufacturer`` pair as :func:`event_id`.
    """
    number, mfg = split_event_code(code)
    if mfg or manufacturer:
        return f"Manufacturer event {number}"
    known = _BY_NUMBER.get(number)
    return known.name if known else f"Standard event {number} (not defined in C12.19)"
