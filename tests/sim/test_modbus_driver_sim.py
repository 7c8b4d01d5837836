"""The Modbus driver against the simulated Modbus meter: real sockets, a pty, real faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fieldkit.drivers.base import (
    CancelToken,
    DemandReset,
    Progress,
    Stage,
    create_driver,
    read_once,
)
from fieldkit.drivers.errors import LinkError, MeterRefused, NoResponse, ReadCancelled
from fieldkit.model import MeterSnapshot
from simulators.modbus.device import ModbusFaults
from simulators.modbus.server import ModbusSimOptions, RunningModbusSimulator, start
from tests.helpers import scenario_data

pytestmark = pytest.mark.sim

MAPS = ["eastron-sdm630", "schneider-pm5100", "eastron-sdm72dm-v2", "chint-dtsu666"]
FAST = {"response_timeout": 0.3, "retries": 0}


@pytest.fixture
def modbus_sim() -> Iterator[Any]:
    """Start simulated Modbus meters; each is stopped when the test ends."""
    running: list[RunningModbusSimulator] = []

    def _start(
        scenario: str = "healthy-16s",
        map_name: str = "eastron-sdm630",
        pty: bool = False,
        **options: Any,
    ) -> RunningModbusSimulator:
        options.setdefault("wobble", False)
        sim = start(scenario, map_name=map_name, pty=pty, options=ModbusSimOptions(**options))
        running.append(sim)
        return sim

    yield _start
    for sim in running:
        sim.stop()


def assert_matches_scenario(snapshot: MeterSnapshot, name: str) -> None:
    data = scenario_data(name)
    for expected in data["phase"]:
        got = snapshot.phase(expected["name"])
        assert got is not None
        assert got.voltage == pytest.approx(expected["voltage"], abs=0.06)
        assert got.current == pytest.approx(expected["current"], abs=0.002)
        assert got.voltage_angle == pytest.approx(expected["voltage_angle"])
        assert got.current_angle == pytest.approx(expected["current_angle"], abs=0.05)
        assert got.derived == frozenset({"voltage_angle", "current_angle"})
    assert snapshot.frequency == pytest.approx(data["site"]["frequency"], abs=0.01)
    kwh = snapshot.register("kwh_delivered")
    assert kwh is not None
    assert (
        data["registers"]["kwh_delivered"] - 0.01
        <= kwh.value
        < data["registers"]["kwh_delivered"] + 1
    )


@pytest.mark.parametrize("map_name", MAPS)
@pytest.mark.parametrize("framer", ["rtu", "socket"])
def test_every_map_reads_the_scenario(modbus_sim: Any, map_name: str, framer: str) -> None:
    sim = modbus_sim(map_name=map_name, framer=framer)
    assert sim.url.startswith("tcp://" if framer == "socket" else "socket://")
    outcome = read_once(create_driver("modbus", sim.url, {"map": map_name}))
    assert outcome.result == "complete", outcome.error
    assert outcome.snapshot is not None
    assert_matches_scenario(outcome.snapshot, "healthy-16s")
    assert outcome.stats.round_trips == sim.stats.answers
    assert [f.direction for f in outcome.frames] == ["tx", "rx"] * sim.stats.answers


def test_identity_from_the_meters_registers(modbus_sim: Any) -> None:
    sim = modbus_sim(map_name="schneider-pm5100")
    snap = create_driver("modbus", sim.url, {"map": "schneider-pm5100"}).session()
    with snap as session:
        snapshot = session.read_snapshot()
    assert snapshot.identity.manufacturer == "Schneider Electric"
    assert snapshot.identity.meter_id == "M16-0054321"
    assert snapshot.identity.serial_number == "54321"


def test_reads_over_a_pty(modbus_sim: Any) -> None:
    sim = modbus_sim(pty=True)
    assert sim.url.startswith("/dev/")
    outcome = read_once(create_driver("modbus", sim.url, {"map": "eastron-sdm630"}))
    assert outcome.snapshot is not None
    assert outcome.ok
    assert_matches_scenario(outcome.snapshot, "healthy-16s")


def test_values_move_over_time(modbus_sim: Any) -> None:
    sim = modbus_sim(wobble=True)
    driver = create_driver("modbus", sim.url, {"map": "eastron-sdm630"})
    first = read_once(driver).snapshot
    time.sleep(0.5)
    second = read_once(driver).snapshot
    assert first is not None
    assert second is not None
    a1, a2 = first.phase("A"), second.phase("A")
    assert a1 is not None
    assert a2 is not None
    assert a1.current != a2.current
    assert a2.current == pytest.approx(12.6, rel=0.011)


def test_progress_names_each_block(modbus_sim: Any) -> None:
    sim = modbus_sim(map_name="chint-dtsu666")
    seen: list[Progress] = []
    outcome = read_once(
        create_driver("modbus", sim.url, {"map": "chint-dtsu666"}), progress=seen.append
    )
    assert outcome.ok
    reads = [p for p in seen if p.stage is Stage.READ]
    assert [p.item for p in reads] == [
        "holding registers 4126-4127",
        "holding registers 4136-4137",
        "holding registers 8198-8225",
        "holding registers 8236-8241",
        "holding registers 8260-8261",
    ]
    assert [p.items_done for p in reads] == [0, 1, 2, 3, 4]
    assert {p.items_total for p in reads} == {5}
    assert seen[0].stage is Stage.CONNECT
    assert seen[-1].stage is Stage.CLOSE


def test_cancel_ends_a_slow_read_within_half_a_second(modbus_sim: Any) -> None:
    sim = modbus_sim(map_name="schneider-pm5100", faults=ModbusFaults(slow_ms=3000))
    token = CancelToken()
    driver = create_driver("modbus", sim.url, {"map": "schneider-pm5100", "response_timeout": 5})
    timer = threading.Timer(0.3, token.cancel)
    timer.start()
    started = time.monotonic()
    outcome = read_once(driver, cancel=token)
    elapsed = time.monotonic() - started
    timer.join()
    assert outcome.result == "cancelled"
    assert isinstance(outcome.error, ReadCancelled)
    assert elapsed < 0.3 + 0.5 + 0.35  # the cancel, its half second, pyserial's close pause
    assert outcome.frames
    assert outcome.frames[0].direction == "tx"


def test_silent_device(modbus_sim: Any) -> None:
    sim = modbus_sim(faults=ModbusFaults(silent=True))
    driver = create_driver(
        "modbus", sim.url, {"map": "eastron-sdm630", "response_timeout": 0.2, "retries": 2}
    )
    outcome = read_once(driver)
    assert outcome.result == "failed"
    assert isinstance(outcome.error, NoResponse)
    assert "within 0.2 s (3 tries)" in str(outcome.error)
    assert "--device-id" in str(outcome.error)
    assert [f.direction for f in outcome.frames] == ["tx", "tx", "tx"]
    assert outcome.stats.retransmissions == 2
    assert outcome.stats.bytes_tx == 24
    assert sim.stats.requests == 3


def test_going_silent_keeps_what_was_read(modbus_sim: Any) -> None:
    sim = modbus_sim(map_name="schneider-pm5100", faults=ModbusFaults(stop_after=4))
    outcome = read_once(create_driver("modbus", sim.url, {"map": "schneider-pm5100", **FAST}))
    assert outcome.result == "incomplete"
    assert isinstance(outcome.error, NoResponse)
    snap = outcome.snapshot
    assert snap is not None
    assert snap.incomplete == str(outcome.error)
    assert snap.identity.meter_id == "M16-0054321"
    a = snap.phase("A")
    assert a is not None
    assert a.current == pytest.approx(12.6, abs=0.01)
    assert a.voltage is None
    assert any(u.item == "voltage_a" and u.reason.startswith("not read") for u in snap.unavailable)


def test_wrong_device_id_is_silence_with_a_hint(modbus_sim: Any) -> None:
    sim = modbus_sim(device_id=7)
    outcome = read_once(create_driver("modbus", sim.url, {"map": "eastron-sdm630", **FAST}))
    assert isinstance(outcome.error, NoResponse)
    assert sim.stats.ignored == 1
    good = read_once(create_driver("modbus", sim.url, {"map": "eastron-sdm630", "device_id": 7}))
    assert good.ok


def test_answer_from_another_device(modbus_sim: Any) -> None:
    sim = modbus_sim(faults=ModbusFaults(answer_as=9))
    outcome = read_once(create_driver("modbus", sim.url, {"map": "eastron-sdm630", **FAST}))
    assert isinstance(outcome.error, LinkError)
    assert str(outcome.error) == (
        f"device 9 answered on {sim.url}, not device 1 (read with --device-id 9)"
    )
    assert [f.direction for f in outcome.frames] == ["tx", "rx"]


def test_busy_device_is_asked_again(modbus_sim: Any) -> None:
    sim = modbus_sim(map_name="chint-dtsu666", faults=ModbusFaults(busy=2))
    outcome = read_once(create_driver("modbus", sim.url, {"map": "chint-dtsu666"}))
    assert outcome.ok
    assert outcome.stats.busy_retries == 2
    assert sim.stats.busy_answers == 2


def test_busy_to_the_end_is_a_refusal(modbus_sim: Any) -> None:
    sim = modbus_sim(faults=ModbusFaults(busy=100))
    outcome = read_once(create_driver("modbus", sim.url, {"map": "eastron-sdm630"}))
    assert isinstance(outcome.error, MeterRefused)
    assert outcome.error.code == 6
    assert "device busy (6)" in str(outcome.error)


def test_illegal_address_on_one_block_reads_on(modbus_sim: Any) -> None:
    sim = modbus_sim(map_name="schneider-pm5100", faults=ModbusFaults(illegal=((3109, 3111),)))
    outcome = read_once(create_driver("modbus", sim.url, {"map": "schneider-pm5100"}))
    assert outcome.ok
    assert outcome.snapshot is not None
    assert outcome.snapshot.frequency is None
    (item,) = [u for u in outcome.snapshot.unavailable if u.item == "frequency"]
    assert "illegal data address (2)" in item.reason
    assert "right model" in item.reason
    assert outcome.snapshot.phase("A") is not None


def test_wrong_map_is_refused_everywhere(modbus_sim: Any) -> None:
    sim = modbus_sim(map_name="eastron-sdm630")
    outcome = read_once(create_driver("modbus", sim.url, {"map": "schneider-pm5100"}))
    assert isinstance(outcome.error, MeterRefused)
    assert str(outcome.error).startswith(
        "the meter refused every register of the schneider-pm5100 map"
    )
    assert outcome.snapshot is None


def test_tcp_gateway_without_the_unit(modbus_sim: Any) -> None:
    sim = modbus_sim(framer="socket")
    outcome = read_once(create_driver("modbus", sim.url, {"map": "eastron-sdm630", "device_id": 5}))
    assert isinstance(outcome.error, MeterRefused)
    assert outcome.error.code == 11
    assert "gateway" in str(outcome.error)


def test_no_procedures_on_modbus(modbus_sim: Any) -> None:
    sim = modbus_sim()
    driver = create_driver("modbus", sim.url, {"map": "eastron-sdm630"})
    refusal = pytest.raises(MeterRefused, match="demand reset is not available on Modbus meters")
    with driver.session() as session, refusal:
        session.run_procedure(DemandReset())
