"""The numbers a check judged, as :class:`~fieldkit.model.Quantity` values for trending.

Every name a check may put on a result is in :data:`QUANTITIES` with its one unit, so the
office can plot "voltage" or "drift" across visits and meters without knowing which check
produced it. docs/checks.md ("Numeric values") documents each name.

Conventions: ``low``/``high`` are the pass band where the check has one (a value on a limit
passes); ``expected`` is the target (a nominal, a diagram angle). Voltages are primary
(secondary × PT ratio), currents secondary amps at the meter terminals. Angles are given
within ±180° of their ``expected`` (a VA of 359.0° against 0° is -1.0°), so ``low <= value
<= high`` reads the same way the check does.
"""

from __future__ import annotations

from fieldkit.model import Quantity

__all__ = ["QUANTITIES", "quantity"]

# name -> unit. Small and fixed on purpose: a new name is a change to the office's reports.
QUANTITIES: dict[str, str] = {
    "voltage": "V",  # an element's voltage, primary (service_voltage)
    "voltage_angle": "deg",  # an element's voltage angle in the diagram's frame (cross_phase)
    "current": "A",  # an element's current, secondary (the current checks)
    "current_angle": "deg",  # an element's current angle in the diagram's frame (polarity)
    "pf_angle": "deg",  # power-factor angle, delta offset removed, lagging + (phase_angle)
    "imbalance": "%",  # voltage or current imbalance (by the result's check id)
    "drift": "s",  # meter clock minus reference clock, fast + (clock_drift)
    "frequency": "Hz",
    "active_power": "W",  # total active power, delivered + (reverse_energy)
    "energy": "kWh",  # kWh delivered register (register_read)
    "energy_per_day": "kWh/day",  # average use since the last billed read (register_read)
    "received_energy": "kWh",  # kWh received register (reverse_energy)
    "temperature": "degC",  # the meter's internal temperature (meter_temperature)
}


def quantity(
    name: str,
    value: float,
    *,
    element: str | None = None,
    expected: float | None = None,
    low: float | None = None,
    high: float | None = None,
) -> Quantity:
    """A Quantity with the vocabulary's unit; a name outside the vocabulary is a bug."""
    return Quantity(
        name=name,
        value=_tidy(value),
        unit=QUANTITIES[name],
        element=element,
        expected=None if expected is None else _tidy(expected),
        low=None if low is None else _tidy(low),
        high=None if high is None else _tidy(high),
    )


def _tidy(value: float) -> float:
    # Floating-point dust (126.00000000000001 V) is noise in a trend chart and a JSON file.
    return round(float(value), 6)
