"""Pushes prepared in helper processes (``syncserver.core.cpu_pool``), on both engines.

The helpers are an optimisation: a push prepared in one must be answered and stored exactly
as one prepared in the server's own threads; a body that is not a push must get the same
one-line 4xx; a helper that dies must cost no request its answer; and no helper may outlive
its server, however the server ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from syncserver.core.config import Settings
from syncserver.core.cpu_pool import CpuPool
from syncserver.core.errors import ApiError, Conflict, NotFound, Unauthorized
from syncserver.db.models import AppliedOp, Visit
from tests.server.conftest import World, op, open_world, visit
from tests.syncserver_process import ROOT, ServerProcess, syncserver


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def helped(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> Iterator[World]:
    """The example world with one push helper, started and answering."""
    for world in open_world(request, tmp_path, engine, push_helpers=1):
        pool: CpuPool = world.client.app.state.cpu_pool  # type: ignore[attr-defined]
        assert world.client.portal is not None
        assert world.client.portal.call(pool.wait_ready), "the push helper did not start"
        yield world


@pytest.fixture
def unhelped(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> Iterator[World]:
    """The same world on the same engine, preparing pushes in threads, to compare with."""
    folder = tmp_path / "threads"
    folder.mkdir()
    yield from open_world(request, folder, engine, push_helpers=0)


def _batch(world: World) -> list[dict[str, Any]]:
    """Every kind of op an answer can come of: new visits (with and without a work order,
    one for another technician's order), a bad visit, a command, a document of a newer
    schema (retried, and every op after it) and an unknown kind."""
    return [
        op("h-1", visit("v-h-1")),
        op("h-2", visit("v-h-2", work_order=None)),
        op("h-3", visit("v-h-3", work_order="WO-2026-10503")),
        op("h-4", {**visit("v-h-4"), "revision": "one"}),
        op(
            "h-5",
            {
                "schema_version": 1,
                "document": "work_order_command",
                "work_order_id": "WO-2026-10404",
                "command": "arrive",
                "at": "2026-12-03T09:00:00Z",
            },
            kind="work_order_command",
        ),
        op("h-6", {**visit("v-h-6"), "schema_version": 99}),
        op("h-7", {"anything": 1}, kind="meter_swap"),
    ]


def _stored(world: World) -> list[tuple[Any, ...]]:
    with world.database.read() as session:
        visits = session.execute(
            select(
                Visit.visit_id, Visit.body_sha256, Visit.flags, Visit.verdict, Visit.meter_number
            ).order_by(Visit.visit_id)
        ).all()
        ops = session.execute(
            select(AppliedOp.op_id, AppliedOp.status, AppliedOp.code, AppliedOp.flags).order_by(
                AppliedOp.op_id
            )
        ).all()
    return [tuple(row) for row in [*visits, *ops]]


def test_a_push_prepared_in_a_helper_is_answered_and_stored_as_in_threads(
    helped: World, unhelped: World
) -> None:
    answers = []
    for world in (helped, unhelped):
        first = world.push(world.tech, world.tech_device, _batch(world))
        again = world.push(world.tech, world.tech_device, _batch(world))
        assert first.status_code == again.status_code == 200, first.text
        answers.append((first.json()["results"], again.json()["results"]))
    (helped_first, helped_again), (threads_first, threads_again) = answers
    assert helped_first == threads_first
    assert helped_again == threads_again
    statuses = [r["status"] for r in helped_first]
    assert statuses == ["applied", "applied", "applied", "rejected", "applied", "retry", "retry"]
    assert [r["code"] for r in helped_first][5:] == ["schema_unsupported", "after_retry"]
    assert [r["status"] for r in helped_again] == [
        *["duplicate"] * 3,
        "rejected",
        "duplicate",
        "retry",
        "retry",
    ]
    assert _stored(helped) == _stored(unhelped)


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"{not json", 422, "invalid_request", "the body is not JSON"),
        (
            b'{"schema_version": 7, "document": "sync_push", "device_id": "x", "ops": []}',
            400,
            "schema_unsupported",
            "the push is schema 7; this server reads up to 1",
        ),
        (
            b'{"schema_version": 1, "document": "sync_push", "device_id": "x", "ops": 5}',
            422,
            "invalid_request",
            "ops",
        ),
    ],
)
def test_a_body_that_is_not_a_push_gets_its_one_line_4xx_from_the_helper(
    helped: World, body: bytes, status: int, code: str, message: str
) -> None:
    answer = helped.client.post(
        "/api/v1/sync/push",
        content=body,
        headers={**helped.tech, "Content-Type": "application/json"},
    )
    assert answer.status_code == status
    assert answer.json()["code"] == code
    assert message in answer.json()["detail"]
    assert "\n" not in answer.json()["detail"]


@pytest.mark.parametrize(
    "error",
    [
        ApiError("invalid_request", "the body is not JSON", status=422),
        ApiError("schema_unsupported", "the push is schema 7"),
        NotFound("not_found", "no such visit"),
        Unauthorized("no_token", "send a token"),
        Conflict("cursor_ahead", "cursor 9 is past the end"),
    ],
)
def test_an_api_error_crosses_a_process_boundary_whole(error: ApiError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is type(error)
    assert (copy.code, str(copy), copy.status) == (error.code, str(error), error.status)


def _helper_pids(pool: CpuPool) -> list[int]:
    return list(pool._executor._processes) if pool._executor is not None else []


def test_a_helper_that_dies_costs_no_request_its_answer(helped: World) -> None:
    pool: CpuPool = helped.client.app.state.cpu_pool  # type: ignore[attr-defined]
    (pid,) = _helper_pids(pool)
    os.kill(pid, signal.SIGKILL)
    answer = helped.push(helped.tech, helped.tech_device, [op("d-1", visit("v-d-1"))])
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["status"] == "applied"
    assert helped.client.portal is not None
    assert helped.client.portal.call(pool.wait_ready), "no new helper was started"
    assert _helper_pids(pool)
    assert pid not in _helper_pids(pool)
    later = helped.push(helped.tech, helped.tech_device, [op("d-2", visit("v-d-2"))])
    assert later.json()["results"][0]["status"] == "applied"


def _stopped(pid: int) -> Iterator[None]:
    """``pid`` stopped (SIGSTOP: a helper that hangs) for the block, and gone after it."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:  # whatever the pool did, leave no stopped process behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGCONT)


def test_a_helper_that_hangs_is_replaced_and_costs_no_request_its_answer(helped: World) -> None:
    pool: CpuPool = helped.client.app.state.cpu_pool  # type: ignore[attr-defined]
    pool.hung_after = 1.0
    (pid,) = _helper_pids(pool)
    answers: list[Any] = []

    def push(name: str) -> None:
        answers.append(helped.push(helped.tech, helped.tech_device, [op(name, visit(f"v-{name}"))]))

    with contextlib.contextmanager(_stopped)(pid):
        pushes = [threading.Thread(target=push, args=(f"hung-{n}",)) for n in range(3)]
        for thread in pushes:
            thread.start()
        for thread in pushes:
            thread.join(15)
        assert len(answers) == 3, "a push waited on a hung helper"
        assert [a.json()["results"][0]["status"] for a in answers] == ["applied"] * 3
        assert _wait_for(lambda: not _alive({pid})), "the hung helper was left running"
    assert helped.client.portal is not None
    assert helped.client.portal.call(pool.wait_ready), "no new helper was started"
    assert pid not in _helper_pids(pool)


def _quick_pid() -> int:
    time.sleep(0.2)
    return os.getpid()


def _stuck_in_a_helper(server: int) -> int:
    if os.getpid() != server:
        time.sleep(600)
    return os.getpid()


def test_a_call_stuck_in_one_helper_of_two_is_answered() -> None:
    async def scenario() -> list[int]:
        # not 1 s: a helper's first call imports this module, which takes about that
        pool = CpuPool(2, hung_after=4.0)
        pool.start()
        try:
            assert await pool.wait_ready()
            for _ in range(10):  # until both helpers have started and answer
                if len({*await asyncio.gather(*(pool.run(_slow_pid) for _ in range(4)))}) == 2:
                    break
            else:
                pytest.fail("the two helpers never both answered")
            stuck = asyncio.ensure_future(pool.run(_stuck_in_a_helper, os.getpid()))
            # the other helper goes on answering: the stuck call must not wait for ever
            # behind that
            others = [pool.run(_quick_pid) for _ in range(40)]
            return await asyncio.wait_for(asyncio.gather(stuck, *others), 30)
        finally:
            pool.close(grace=0.5)

    answers = asyncio.run(scenario())
    assert answers[0] == os.getpid()  # answered here, after its helper was taken for hung
    assert len(answers) == 41


def test_a_hung_helper_does_not_keep_its_server_from_stopping() -> None:
    async def scenario() -> int:
        pool = CpuPool(1)
        pool.start()
        assert await pool.wait_ready()
        (pid,) = _helper_pids(pool)
        with contextlib.contextmanager(_stopped)(pid):
            closing = threading.Thread(target=pool.close, kwargs={"grace": 0.5})
            closing.start()
            closing.join(10)
            assert not closing.is_alive(), "close() waited on a hung helper"
            assert _wait_for(lambda: not _alive({pid})), "the hung helper was left running"
        return pid

    asyncio.run(scenario())


def test_a_helper_killed_with_pushes_waiting_on_it_answers_each_once(helped: World) -> None:
    pool: CpuPool = helped.client.app.state.cpu_pool  # type: ignore[attr-defined]
    (pid,) = _helper_pids(pool)
    answers: dict[int, Any] = {}

    def push(n: int) -> None:
        batch = [op(f"m-{n}-{i}", visit(f"v-m-{n}-{i}", work_order=None)) for i in range(50)]
        answers[n] = helped.push(helped.tech, helped.tech_device, batch)

    pushes = [threading.Thread(target=push, args=(n,)) for n in range(4)]
    for thread in pushes:
        thread.start()
    time.sleep(0.05)  # some prepared, some in the helper, some waiting for it
    os.kill(pid, signal.SIGKILL)
    for thread in pushes:
        thread.join(60)
    assert sorted(answers) == [0, 1, 2, 3]
    for answer in answers.values():
        assert answer.status_code == 200, answer.text
        assert {r["status"] for r in answer.json()["results"]} == {"applied"}
    with helped.database.read() as session:
        visits = session.scalars(select(Visit.visit_id).where(Visit.visit_id.like("v-m-%")))
        ops = session.scalars(select(AppliedOp.op_id).where(AppliedOp.op_id.like("m-%")))
        assert (len(list(visits)), len(list(ops))) == (200, 200)


def test_calls_go_to_the_helper_once_it_is_ready_and_run_here_before() -> None:
    async def scenario() -> tuple[int, int, bool]:
        pool = CpuPool(1)
        before = await pool.run(os.getpid)  # nothing started: the thread pool
        pool.start()
        try:
            assert await pool.wait_ready()
            return before, await pool.run(os.getpid), pool.ready
        finally:
            pool.close()

    before, after, ready = asyncio.run(scenario())
    assert before == os.getpid()
    assert ready
    assert after != os.getpid()


class _NeedsTwo(Exception):
    """Pickles, but not back: unpickling calls ``_NeedsTwo(first)``."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(first)
        self.second = second


def _returns_a_lock() -> object:
    return threading.Lock()  # cannot be pickled


def _raises_what_does_not_unpickle() -> object:
    raise _NeedsTwo("refused", "here")


def test_what_a_helper_cannot_send_back_is_answered_as_in_threads() -> None:
    async def scenario() -> None:
        pool = CpuPool(1)
        pool.start()
        try:
            assert await pool.wait_ready()
            (pid,) = _helper_pids(pool)
            lock = await pool.run(_returns_a_lock)
            assert type(lock) is type(threading.Lock())
            with pytest.raises(_NeedsTwo) as raised:
                await pool.run(_raises_what_does_not_unpickle)
            assert raised.value.second == "here"
            assert _helper_pids(pool) == [pid], "the helper was restarted"
            assert pool.ready
            assert await pool.run(os.getpid) == pid
        finally:
            pool.close()

    asyncio.run(scenario())


def _slow_pid() -> int:
    time.sleep(0.5)
    return os.getpid()


def test_calls_in_flight_when_the_pool_closes_are_all_answered() -> None:
    async def scenario() -> list[int]:
        pool = CpuPool(1)
        pool.start()
        assert await pool.wait_ready()
        calls = [asyncio.ensure_future(pool.run(_slow_pid)) for _ in range(5)]
        await asyncio.sleep(0.2)  # the first is running, the others wait for the helper
        closing = threading.Thread(target=pool.close)
        closing.start()
        answers = await asyncio.gather(*calls)
        closing.join(15)
        return answers

    answers = asyncio.run(scenario())
    assert len(answers) == 5
    assert os.getpid() in answers  # those the closing pool dropped were answered here
    assert len(set(answers)) == 2  # and the one running in the helper by the helper


def test_no_helpers_configured_means_every_call_runs_here() -> None:
    async def scenario() -> tuple[int, bool]:
        pool = CpuPool(0)
        pool.start()
        try:
            return await pool.run(os.getpid), await pool.wait_ready()
        finally:
            pool.close()

    assert asyncio.run(scenario()) == (os.getpid(), False)


@pytest.mark.parametrize(
    ("db", "helpers", "expected"),
    [
        ("server.db", None, 1),
        ("postgresql+psycopg://fk@127.0.0.1/fk", None, 0),
        ("server.db", 0, 0),
        ("postgresql+psycopg://fk@127.0.0.1/fk", 2, 2),
    ],
)
def test_one_helper_on_sqlite_none_on_postgresql_unless_set(
    db: str, helpers: int | None, expected: int
) -> None:
    assert Settings(db=db, push_helpers=helpers).helper_processes() == expected


def test_the_helper_count_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCSERVER_PUSH_HELPERS", "0")
    assert Settings(db="server.db").helper_processes() == 0


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_for(condition: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc")
@pytest.mark.parametrize("ending", ["SIGTERM", "SIGKILL"])
def test_no_helper_outlives_its_server(tmp_path: Path, ending: str) -> None:
    db = str(tmp_path / "server.db")
    syncserver(db, "migrate")
    server = ServerProcess(db, tmp_path / "server.log")
    server.start()
    assert server.proc is not None
    pid = server.proc.pid
    # the helper (and multiprocessing's resource tracker) are the server's children
    assert _wait_for(lambda: len(_children(pid)) >= 1), "the server started no helper"
    helpers = _children(pid)
    if ending == "SIGKILL":  # the server alone, as the OOM killer would: not its group
        os.kill(pid, signal.SIGKILL)
        server.proc.wait(15)
    else:
        server.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then ends by the signal it caught
        assert server.proc.wait(15) in (0, -signal.SIGTERM)
        log = (tmp_path / "server.log").read_text()
        assert "Application shutdown complete" in log
        # stopped as told, and its queues closed before the server exits
        assert "did not stop" not in log
        assert "leaked semaphore" not in log
    server.proc = None
    assert _wait_for(lambda: not _alive(helpers)), f"left running: {_alive(helpers)}"


def _python(args: list[str], path: str) -> subprocess.CompletedProcess[str]:
    """This interpreter run on ``args`` with ``PYTHONPATH`` set to ``path``."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )


def test_python_dash_m_syncserver_spawns_its_helper_without_running_the_cli_again(
    tmp_path: Path,
) -> None:
    # spawn re-imports the parent's __main__ in the child unless it is a package's
    # __main__: `python -m syncserver serve` must not start a second server in its helper.
    script = (
        "import asyncio, os\n"
        "from syncserver.core.cpu_pool import CpuPool\n"
        "async def main():\n"
        "    pool = CpuPool(1)\n"
        "    pool.start()\n"
        "    assert await pool.wait_ready()\n"
        "    print(await pool.run(os.getpid) != os.getpid())\n"
        "    pool.close()\n"
        "asyncio.run(main())\n"
    )
    module = tmp_path / "spawner"
    module.mkdir()
    (module / "__init__.py").write_text("")
    (module / "__main__.py").write_text(script)
    done = _python(["-m", "spawner"], os.pathsep.join([str(tmp_path), str(ROOT)]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]


def test_a_ctrl_c_as_the_server_starts_does_not_reach_its_helper(tmp_path: Path) -> None:
    # A terminal's Ctrl+C reaches the whole process group, helpers included, and may come
    # while a helper is still importing, before it could ignore SIGINT itself.
    script = (
        "import asyncio, os, signal\n"
        "from syncserver.core.cpu_pool import CpuPool\n"
        "async def main():\n"
        "    pool = CpuPool(1)\n"
        "    pool.start()\n"
        "    for pid in pool._executor._processes:\n"
        "        os.kill(pid, signal.SIGINT)\n"
        "    print(await pool.wait_ready())\n"
        "    pool.close()\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    (tmp_path / "interrupted.py").write_text(script)
    done = _python([str(tmp_path / "interrupted.py")], str(ROOT))
    assert done.returncode == 0, done.stderr
    assert "KeyboardInterrupt" not in done.stderr
    assert done.stdout.split() == ["True"], "the helper was interrupted"
