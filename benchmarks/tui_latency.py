"""The app's latency: start to first screen, and the event loop's largest stall during a read.

    .venv/bin/python benchmarks/tui_latency.py [--runs 5] [--scenario healthy-16s]

1. **Start to first screen**: a fresh interpreter imports the app, builds it as
   ``fieldkit tui`` does (``fieldkit.tui.laptop``, on a laptop home whose database holds
   the tests' orders), and runs it headless until the work-order list shows its orders
   (target ≤ 0.8 s). Measured from just before the interpreter is started to the list on
   screen (one monotonic clock across both processes), so the interpreter's start and
   the imports count. The figure as first measured (the tests' app with its new test
   database, interpreter start to exit) is printed after it, for the history.
2. **Largest event-loop stall while a meter is read**: the simulated meter runs in its own
   process (``fieldkit-sim c1218 --baud-pace``: bytes paced at 9600 baud, as on an
   optical probe), the app reads it through the real driver, and a 10 ms timer on the UI
   loop records the gap between its ticks from F5 until the read's result is on screen
   (target ≤ 50 ms). The gap while the checks screen is built after the read is reported
   apart.

Figures go to the lead / docs/performance.md; this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _laptop_home() -> Path:
    """A laptop home (``FIELDKIT_HOME``) whose database holds the tests' work orders.

    Made before the clock starts: a technician's laptop already has its database.
    """
    import tempfile

    from fieldkit import store
    from tests.tui.helpers import FIXED_NOW, ORDERS

    home = Path(tempfile.mkdtemp(prefix="fieldkit-bench-tui-"))
    with store.database(home / "fieldkit.db") as db:
        store.upsert_many(db, list(ORDERS), "csv", now=FIXED_NOW)
    return home


# The list is on screen: its rows are there and the screen's pending updates are drawn
# (``pause(0)`` settles the screen's message queues and paints; ``pause()`` would wait for
# the whole process to be idle, background loading included).
_UNTIL_LIST = (
    "async def pilot(p):\n"
    "    while not (isinstance(app.screen, WorkOrdersScreen) and\n"
    "               app.screen.query_one('#wo-table').row_count):\n"
    "        await p.pause(0.005)\n"
    "    await p.pause(0)\n"
    "    app.exit(time.monotonic())\n"
)


def _first_screen_once(home: Path) -> float:
    """Process start to the list on screen, the app built as ``fieldkit tui`` builds it.

    ``time.monotonic`` is one clock for every process on the machine: the parent stamps
    the moment before it starts the interpreter, the child the moment the list is shown;
    the interpreter's start and the imports count, its exit does not.
    """
    code = (
        "import time\n"
        "from fieldkit.tui.laptop import laptop_app\n"
        "from fieldkit.tui.screens.work_orders import WorkOrdersScreen\n"
        "app = laptop_app()\n"
        + _UNTIL_LIST
        + "shown = app.run(headless=True, size=(80, 24), auto_pilot=pilot)\n"
        "print(repr(shown))\n"
    )
    env = {**os.environ, "FIELDKIT_HOME": str(home), "FIELDKIT_TECHNICIAN": "bench"}
    xopt = "importtime" if os.environ.get("IMPORTTIME") else "utf8"
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-X", xopt, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if os.environ.get("IMPORTTIME"):
        sys.stderr.write(out.stderr)
    return float(out.stdout.strip().splitlines()[-1]) - started


def _first_screen_tests_way() -> float:
    """The figure as first measured: the tests' app (a new test database, the test
    helpers' imports), from starting the interpreter to its exit."""
    code = (
        "import time\n"
        "from tests.tui.helpers import make_app\n"
        "from fieldkit.tui.screens.work_orders import WorkOrdersScreen\n"
        "app = make_app()\n"
        + _UNTIL_LIST.replace("pause(0)", "pause()")
        + "app.run(headless=True, size=(80, 24), auto_pilot=pilot)\n"
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-X", "utf8", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started


def _start_sim(scenario: str) -> tuple[subprocess.Popen[str], str]:
    # This interpreter, not the console script: its shebang may name another checkout's venv.
    code = "import sys; from simulators.cli import main; sys.argv[0] = 'fieldkit-sim'; main()"
    sim = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "c1218",
            "--scenario",
            scenario,
            "--baud-pace",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert sim.stdout is not None
    line = sim.stdout.readline()
    match = re.search(r"socket://\S+", line)
    if not match:
        sim.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return sim, match.group(0)


class _Sampler:
    """``--where``: a thread that, whenever the UI loop's 10 ms timer is late by over
    ``late`` seconds, records the UI thread's innermost frames of this repository and
    Textual (what holds the loop), counted over the whole read."""

    def __init__(self, late: float = 0.025) -> None:
        import collections
        import threading

        self.late = late
        self.last_tick = time.perf_counter()
        self.seen: collections.Counter[str] = collections.Counter()
        self.active = False
        self._main = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def tick(self) -> None:
        self.last_tick = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            if not self.active or time.perf_counter() - self.last_tick < self.late:
                continue
            frame = sys._current_frames().get(self._main)
            where: list[str] = []
            while frame is not None and len(where) < 4:
                name = frame.f_code.co_filename
                if "asyncio" not in name and "selectors" not in name:
                    short = name.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
                    where.append(f"{short}:{frame.f_lineno} {frame.f_code.co_name}")
                frame = frame.f_back
            self.seen[" < ".join(where)] += 1

    def stop(self) -> None:
        self._stop.set()


async def _stall_once(
    url: str, sampler: _Sampler | None = None
) -> tuple[float, float, float, int, float]:
    from fieldkit.tui.messages import ReadFinished
    from fieldkit.tui.screens.checks import ChecksScreen
    from fieldkit.tui.screens.connect import ConnectScreen
    from fieldkit.tui.screens.site import SiteScreen
    from tests.tui.helpers import make_app, text_of, until

    finished: list[float] = []

    def hook(message: object) -> None:
        if isinstance(message, ReadFinished):
            finished.append(time.perf_counter())  # the result reaches the UI loop

    app = make_app(last_port=url)
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen))
        await pilot.pause(0.5)  # the protocol warm-up has long finished
        ticks: list[float] = []

        def tick() -> None:
            ticks.append(time.perf_counter())
            if sampler is not None:
                sampler.tick()

        app.set_interval(0.01, tick)
        await pilot.pause(0.1)
        started = time.perf_counter()
        cpu_started = time.thread_time()  # the UI thread's own CPU: steady on a busy machine
        if sampler is not None:
            sampler.active = True
        await pilot.press("f5")
        # Not ``until``: each ``pilot.pause`` forces a screen update and waits for every
        # widget's queue, work the real app does not do; waiting on the bare loop measures
        # only the app.
        deadline = time.monotonic() + 60
        while not finished:
            if time.monotonic() > deadline:
                raise SystemExit("the read did not finish in 60 s")
            await asyncio.sleep(0.02)
        cpu = time.thread_time() - cpu_started
        if sampler is not None:
            sampler.active = False
        read_done = finished[0]
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), 10, "checks")
        await pilot.pause(0.3)
        shown = time.perf_counter()
    during = [b - a for a, b in itertools.pairwise(ticks) if started <= b <= read_done]
    after = [b - a for a, b in itertools.pairwise(ticks) if read_done < b <= shown]
    return read_done - started, max(during), max(after, default=0.0), len(during), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenario", default="healthy-16s")
    parser.add_argument(
        "--where",
        action="store_true",
        help="only the read, and print where the UI thread was whenever its timer was late",
    )
    args = parser.parse_args()
    if args.where:
        _where(args.runs, args.scenario)
        return

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the start")
    home = _laptop_home()
    firsts = [_first_screen_once(home) for _ in range(args.runs)]
    print(
        f"start to first screen (80x24, fresh interpreter, the laptop's app, {args.runs} "
        f"runs): median {statistics.median(firsts):.3f} s, worst {max(firsts):.3f} s "
        "(target 0.8 s)"
    )
    olds = [_first_screen_tests_way() for _ in range(args.runs)]
    print(
        f"  as first measured (the tests' app, interpreter start to exit): median "
        f"{statistics.median(olds):.3f} s, worst {max(olds):.3f} s"
    )
    sim, url = _start_sim(args.scenario)
    try:
        results = [asyncio.run(_stall_once(url)) for _ in range(args.runs)]
    finally:
        sim.terminate()
        sim.wait(5)
    reads = [r[0] for r in results]
    stalls = [r[1] * 1000 for r in results]
    after = [r[2] * 1000 for r in results]
    ticks = [r[3] for r in results]
    print(
        f"read at 9600 baud ({args.scenario}, simulator in its own process): "
        f"median {statistics.median(reads):.2f} s, {min(ticks)}-{max(ticks)} timer ticks"
    )
    print(
        f"largest event-loop gap during the read (10 ms timer): median "
        f"{statistics.median(stalls):.0f} ms, worst {max(stalls):.0f} ms (target 50 ms)"
    )
    cpus = [r[4] * 1000 for r in results]
    print(
        f"UI thread CPU during the read (time.thread_time, steady under load): median "
        f"{statistics.median(cpus):.0f} ms, worst {max(cpus):.0f} ms"
    )
    print(
        f"largest gap while the checks screen is built after the read: median "
        f"{statistics.median(after):.0f} ms, worst {max(after):.0f} ms"
    )


def _where(runs: int, scenario: str) -> None:
    sim, url = _start_sim(scenario)
    sampler = _Sampler()
    try:
        for _ in range(runs):
            _, stall, _, _, cpu = asyncio.run(_stall_once(url, sampler))
            print(f"largest gap {stall * 1000:.0f} ms, UI thread CPU {cpu * 1000:.0f} ms")
    finally:
        sampler.stop()
        sim.terminate()
        sim.wait(5)
    print("where the UI thread was while its timer was over 25 ms late (5 ms samples):")
    for where, count in sampler.seen.most_common(25):
        print(f"{count:5d}  {where}")


if __name__ == "__main__":
    main()
