"""The driver interface (fieldkit.drivers.base) against the simulated meter: the factory,
progress, cancel, the outcome that keeps frames, and procedures inside the read's session."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from fieldkit.drivers.base import (
    CancelToken,
    DemandReset,
    Progress,
    SetClock,
    Stage,
    create_driver,
    read_once,
)
from fieldkit.drivers.errors import DriverSettingsError, MeterRefused, ReadCancelled
from simulators.c1218.options import SimOptions
from simulators.scenario import load_scenario
from tests.helpers import scenario_data

pytestmark = pytest.mark.sim


def test_progress_names_every_stage_and_table_in_order(sim: Any) -> None:
    simulator = sim("healthy-16s")
    seen: list[Progress] = []
    outcome = read_once(create_driver("c1218", simulator.url), progress=seen.append)
    assert outcome.ok, outcome.error
    stages = [p.stage for p in seen]
    first = {stage: stages.index(stage) for stage in stages[::-1]}
    assert (
        first[Stage.CONNECT]
        < first[Stage.IDENTIFY]
        < first[Stage.NEGOTIATE]
        < first[Stage.LOGON]
        < first[Stage.READ]
        < first[Stage.CLOSE]
    )
    items = [p.item for p in seen if p.stage is Stage.READ]
    assert items[0] == "ST0 (general configuration)"
    assert any(item and item.startswith("ST23") for item in items)
    counts = [p.bytes_rx + p.bytes_tx for p in seen]
    assert counts == sorted(counts)  # bytes only ever grow
    last_read = [p for p in seen if p.stage is Stage.READ][-1]
    assert last_read.items_total is not None
    assert 2 < last_read.items_done <= last_read.items_total
    # The close stage is announced before Logoff and Terminate go out.
    assert outcome.stats.round_trips == seen[-1].round_trips + 2


def test_cancel_ends_the_read_within_half_a_second_and_keeps_the_frames(sim: Any) -> None:
    # 150 ms a reply: the read takes several seconds, so the cancel lands mid-read.
    simulator = sim("healthy-16s", SimOptions(slow_ms=150))
    token = CancelToken()
    reading = threading.Event()

    def progress(p: Progress) -> None:
        if p.stage is Stage.READ and p.items_done >= 4:
            reading.set()

    result: dict[str, Any] = {}

    def run() -> None:
        result["outcome"] = read_once(
            create_driver("c1218", simulator.url), progress=progress, cancel=token
        )
        result["ended"] = time.monotonic()

    worker = threading.Thread(target=run)
    worker.start()
    assert reading.wait(20), "the read never got to the fourth table"
    cancelled_at = time.monotonic()
    token.cancel()
    worker.join(5)
    assert not worker.is_alive()
    assert result["ended"] - cancelled_at <= 0.5
    outcome = result["outcome"]
    assert outcome.result == "cancelled"
    assert isinstance(outcome.error, ReadCancelled)
    assert outcome.frames
    assert outcome.snapshot is not None  # ST0, ST1 and more were in: kept, marked incomplete
    # Where it stopped and how much was in, in plain words.
    assert outcome.snapshot.incomplete.startswith("the read was cancelled after ST")
    assert "items read" in outcome.snapshot.incomplete
    # The port was let go: the meter takes a new session at once.
    again = read_once(create_driver("c1218", simulator.url))
    assert again.ok, again.error


def test_a_token_cancelled_before_the_read_touches_nothing(sim: Any) -> None:
    simulator = sim("healthy-2s")
    token = CancelToken()
    token.cancel("the technician walked away")
    outcome = read_once(create_driver("c1218", simulator.url), cancel=token)
    assert outcome.result == "cancelled"
    assert str(outcome.error) == "the technician walked away"
    assert outcome.frames == ()
    assert simulator.stats.requests == 0


def test_wrong_password_outcome_keeps_the_exchange(sim: Any) -> None:
    simulator = sim("secured-2s")
    outcome = read_once(create_driver("c1218", simulator.url, {"password": "WRONG"}))
    assert outcome.result == "failed"
    assert outcome.snapshot is None
    assert "password" in str(outcome.error)
    assert {f.direction for f in outcome.frames} == {"tx", "rx"}
    assert all(b"WRONG" not in f.data for f in outcome.frames)
    assert outcome.stats.round_trips >= 4


def test_a_procedure_the_meter_does_not_list_is_refused_without_writing(sim: Any) -> None:
    # A meter that lists no procedures in ST0: the kit must not write ST7 at all.
    scenario = load_scenario("secured-2s")
    simulator = sim(
        scenario.model_copy(update={"meter": scenario.meter.model_copy(update={"procedures": ()})})
    )
    password = scenario_data("secured-2s")["security"]["passwords"][0]["text"]
    driver = create_driver("c1218", simulator.url, {"password": password})
    session = driver.session()
    with session:
        before = session.read_snapshot()
        assert before.clock is not None
        with pytest.raises(MeterRefused) as refused:
            session.run_procedure(DemandReset())
        # Still in the same session: the meter answers the next request.
        with pytest.raises(MeterRefused):
            session.run_procedure(SetClock(before.clock.reference_time))
    assert refused.value.table == 7
    assert "does not list standard procedure 9 (demand reset)" in str(refused.value)
    writes = [f for f in session.frames if f.direction == "tx" and f.data[6:7] == b"\x40"]
    assert writes == []


@pytest.mark.parametrize(
    ("protocol", "settings", "setting", "says"),
    [
        ("dlms", {}, "protocol", "not a protocol this kit speaks (c1218"),
        ("c1218", {"password_hex": "zz"}, "password_hex", "not hex"),
        ("c1218", {"password_hex": "00" * 21}, "password_hex", "at most 20"),
        ("c1218", {"password": "a", "password_hex": "00"}, "password", "not both"),
        ("c1218", {"baud": 12345}, "baud", "cannot be negotiated"),
        ("c1218", {"packet_size": 10}, "packet_size", "greater than or equal to 64"),
        ("c1218", {"meter_tz": "Mars/Olympus"}, "meter_tz", "unknown time zone"),
        ("c1218", {"map": "eastron-sdm630"}, "map", "not a C12.18 setting"),
    ],
)
def test_bad_settings_are_refused_before_the_port_is_opened(
    protocol: str, settings: dict[str, Any], setting: str, says: str
) -> None:
    with pytest.raises(DriverSettingsError) as caught:
        create_driver(protocol, "socket://127.0.0.1:9", settings)
    assert caught.value.setting == setting
    assert says in caught.value.problem
    assert "\n" not in str(caught.value)


def test_a_bug_in_the_kit_mid_read_keeps_the_frames(sim: Any, monkeypatch: Any) -> None:
    """A decoder tripping over bytes no one foresaw: the outcome still holds the exchange."""
    from fieldkit.drivers.c1218 import driver as c1218_driver
    from fieldkit.drivers.errors import KitFault

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(c1218_driver, "build_snapshot", broken)
    simulator = sim("healthy-2s")
    outcome = read_once(create_driver("c1218", simulator.url))
    assert outcome.result == "failed"
    assert isinstance(outcome.error, KitFault)
    assert "ZeroDivisionError: division by zero" in str(outcome.error)
    assert outcome.frames
    assert outcome.stats.round_trips > 5
    # The port was released: the next read works.
    monkeypatch.undo()
    assert read_once(create_driver("c1218", simulator.url)).ok
