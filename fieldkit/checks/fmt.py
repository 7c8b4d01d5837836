"""Short human strings for measured/expected values: numbers with their units."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "amps",
    "degrees",
    "hz",
    "joined",
    "limit",
    "nominal",
    "one_line",
    "pct",
    "pf_angle",
    "pf_range",
    "volts",
    "watts",
]


def volts(value: float) -> str:
    """'118.2 V'."""
    return f"{value:.1f} V"


def nominal(value: float) -> str:
    """A nominal voltage without noise: '120 V', '207.8 V', '7200 V'."""
    return f"{value:.0f} V" if abs(value - round(value)) < 0.05 else f"{value:.1f} V"


def amps(value: float) -> str:
    """'5.02 A'."""
    return f"{value:.2f} A"


def degrees(value: float) -> str:
    """'301.2°'."""
    return f"{value:.1f}°"


def pf_angle(value: float) -> str:
    """A power-factor angle as a technician says it: '25.8° lag', '10.0° lead', '0.0°'."""
    if abs(value) < 0.05:
        return "0.0°"
    return f"{abs(value):.1f}° {'lag' if value > 0 else 'lead'}"


def pf_range(first: float, second: float) -> str:
    """The span of power-factor angles a current may read, by the load mix behind it:
    '5.0–35.0° lag', '12.0° lead to 18.0° lag'."""
    low, high = sorted((first, second))
    if low >= 0 or high <= 0:
        near, far = sorted((abs(low), abs(high)))
        if far < 0.05:
            return "0.0°"
        side = "lag" if high > 0 else "lead"
        return f"{near:.1f}–{far:.1f}° {side}"
    return f"{pf_angle(low)} to {pf_angle(high)}"


def pct(value: float) -> str:
    """'2.35 %'."""
    return f"{value:.2f} %"


def hz(value: float) -> str:
    """'60.02 Hz'."""
    return f"{value:.2f} Hz"


def watts(value: float) -> str:
    """Active power, given in watts, as kW: '-3.250 kW'."""
    return f"{value / 1000:.3f} kW"


def joined(items: Iterable[tuple[str, str]]) -> str:
    """'A 118.2 V, B 0.0 V' from (element, value) pairs."""
    return ", ".join(f"{name} {text}" for name, text in items)


def one_line(text: object) -> str:
    """Text from the meter or the work order made safe for a one-line message."""
    return " ".join(str(text).replace("\x00", " ").split())


def limit(value: float) -> str:
    """A threshold without trailing zeros: '5', '8.3', '0.1'."""
    return f"{value:g}"
