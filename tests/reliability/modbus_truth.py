"""What a simulated Modbus meter serves, and how far a driver's snapshot strays from it.

The truth is computed from the scenario (the simulator's physics, :func:`scenario_values`)
and the map file as the meter side reads it (:func:`load_sim_map`, ``tomllib`` and
``struct``, written apart from the driver): never through the driver's decoder. Each value a
snapshot carries must equal the truth within one step of its register (the map's scale in
the map's unit, or float32's precision); a value it leaves out must be explained.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fieldkit.model import MeterSnapshot
from simulators.modbus.registers import SimMap, SimPoint, load_sim_map, scenario_values
from simulators.scenario import Scenario, load_scenario

__all__ = ["ModbusTruth", "truth_for"]

# One engineering unit (V, A, W, var, kWh, kvarh) in a map's unit, as the meter side packs.
_PER_UNIT = {"kV": 1e-3, "mA": 1e3, "kW": 1e-3, "kvar": 1e-3, "Wh": 1e3, "varh": 1e3}
_PER_UNIT |= {"MWh": 1e-3, "Mvarh": 1e-3}
_ELEMENT = ("voltage", "current", "power_factor", "active_power", "reactive_power")
_ELEMENT += ("voltage_angle", "current_angle")
_WHOLE = {
    "frequency": "frequency",
    "temperature": "temperature_c",
    "total_active_power": "total_active_power",
    "total_reactive_power": "total_reactive_power",
}
_ENERGY = ("kwh_delivered", "kwh_received", "kvarh_delivered", "kvarh_received")
_TEXT = ("serial_number", "meter_id", "model_code", "firmware_version")


def _step(point: SimPoint, value: float) -> float:
    """The register's resolution around ``value``, in the snapshot's unit."""
    if point.type == "float32":
        return abs(value) * 2e-7 + 1e-9
    return abs(point.scale) / _PER_UNIT.get(point.unit, 1.0)


def _fold(pf: float) -> float:
    if pf > 1.0:
        return 2.0 - pf
    if pf < -1.0:
        return -2.0 - pf
    return pf


@dataclass
class ModbusTruth:
    """One scenario served through one map, from ``started_at`` (the simulator's start)."""

    scenario: Scenario
    sim_map: SimMap
    started_at: float

    def values_at(self, now: float) -> dict[tuple[str, str | None], float | str]:
        """What the meter serves at ``now`` (wall clock, as the simulator's)."""
        values = scenario_values(self.scenario, self.sim_map, started_at=self.started_at, now=now)
        return values

    def _expected_text(self, point: SimPoint, value: float | str) -> str:
        if point.type == "string":
            raw = str(value).encode("utf-8")[: 2 * point.registers]
            return raw.rstrip(b"\x00").decode("utf-8", "replace")
        if isinstance(value, str):
            found = re.search(r"(\d+)\D*$", value)
            return str(int(found.group(1))) if found else "0"
        return str(round(float(value)))

    def wrong_values(self, snapshot: MeterSnapshot, before: float, after: float) -> list[str]:
        """Every value in ``snapshot`` that is not the meter's between ``before`` and ``after``.

        A value left out is fine only when the snapshot says why (an ``unavailable`` item
        or the read marked incomplete).
        """
        lo, hi = self.values_at(before), self.values_at(after)
        explained = {u.item for u in snapshot.unavailable}
        partial = snapshot.incomplete is not None
        wrong: list[str] = []
        ident = snapshot.identity
        if ident.manufacturer != self.sim_map.manufacturer:
            wrong.append(f"manufacturer {ident.manufacturer!r}")
        if not ident.model.startswith(self.sim_map.model):
            wrong.append(f"model {ident.model!r}")

        def check(label: str, got: float | None, point: SimPoint, name: str) -> None:
            if got is None:
                if not (partial or name in explained):
                    wrong.append(f"{label} missing without a reason")
                return
            a, b = (
                float(lo[(point.quantity, point.element)]),
                float(hi[(point.quantity, point.element)]),
            )
            if point.pf_4q:
                a, b = _fold(a), _fold(b)
            step = max(_step(point, a), _step(point, b))
            if not math.isfinite(got) or not min(a, b) - step <= got <= max(a, b) + step:
                wrong.append(f"{label} {got!r} != {a!r} (step {step:g})")

        for point in self.sim_map.points:
            q, e = point.quantity, point.element
            name = _point_name(point)
            if q in _ELEMENT and e is not None:
                phase = snapshot.phase(e)
                if phase is None:
                    if not (partial or name in explained):
                        wrong.append(f"phase {e} missing without a reason")
                    continue
                if q in phase.derived:
                    continue
                check(f"phase {e} {q}", getattr(phase, q), point, name)
            elif q in _WHOLE:
                check(q, getattr(snapshot, _WHOLE[q]), point, name)
            elif q in _ENERGY:
                register = snapshot.register(q)
                check(q, None if register is None else register.value, point, name)
            elif q in _TEXT:
                got_text = {
                    "serial_number": ident.serial_number or None,
                    "meter_id": ident.meter_id,
                    "firmware_version": ident.firmware_version,
                    "model_code": _model_code(ident.model),
                }[q]
                want = self._expected_text(point, lo[(q, e)])
                if got_text is None:
                    if not (partial or name in explained or not want):
                        wrong.append(f"{q} missing without a reason")
                elif got_text != want:
                    wrong.append(f"{q} {got_text!r} != {want!r}")
        wrong += self._derived_angles(snapshot, lo)
        return wrong

    def _derived_angles(
        self, snapshot: MeterSnapshot, truth: dict[tuple[str, str | None], float | str]
    ) -> list[str]:
        """A derived current angle must sit where the scenario's current sits from its voltage.

        The driver makes it from the power factor (or P and Q); its size is only as good as
        the power factor's register step, which near unity is worth a few degrees.
        """
        wrong: list[str] = []
        by_element = {e.name: e for e in self.scenario.phase}
        for phase in snapshot.phases:
            if "current_angle" not in phase.derived or phase.current_angle is None:
                continue
            va = phase.voltage_angle
            source = by_element.get(phase.phase)
            if va is None or source is None:
                continue
            want = (source.current_angle - source.voltage_angle) % 360.0
            got = (phase.current_angle - va) % 360.0
            gap = min(abs(got - want), 360.0 - abs(got - want))
            pf = next(
                (p for p in self.sim_map.points if p.quantity == "power_factor"),
                None,
            )
            step = 0.0 if pf is None or pf.type == "float32" else _step(pf, 0.0)
            cos = abs(math.cos(math.radians(want)))
            near = math.degrees(math.acos(max(-1.0, min(1.0, cos - step))))
            slack = abs(near - math.degrees(math.acos(min(1.0, cos)))) + 0.05
            if float(truth.get(("current", phase.phase), 0.0)) == 0.0:
                continue
            if gap > slack:
                wrong.append(
                    f"phase {phase.phase} derived current angle {got:.3f} from V, "
                    f"truth {want:.3f} (slack {slack:.3f})"
                )
        return wrong


def _point_name(point: SimPoint) -> str:
    return point.quantity if point.element is None else f"{point.quantity}_{point.element.lower()}"


def _model_code(model: str) -> str | None:
    found = re.search(r"\(model code (\d+)\)$", model)
    return found.group(1) if found else None


def truth_for(scenario: str, map_name: str, started_at: float) -> ModbusTruth:
    """The truth of ``scenario`` served through ``map_name`` since ``started_at``."""
    loaded = load_scenario(scenario)
    modbus = loaded.modbus.model_copy(update={"wobble": False})
    return ModbusTruth(
        loaded.model_copy(update={"modbus": modbus}), load_sim_map(map_name), started_at
    )
