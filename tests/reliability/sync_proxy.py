"""A small asyncio TCP proxy on 127.0.0.1 that injects the faults a cellular link gives.

One fault per connection, drawn from a seeded random source (the client opens a new
connection per request, so each request meets its own fault):

- ``pass``: bytes go through untouched;
- ``refuse``: the connection is aborted as soon as it is accepted (nothing reaches the
  server);
- ``delay``: every chunk is held back ``delay_seconds`` in each direction;
- ``cut_request``: only part of the request reaches the server, then both sides are cut;
- ``cut_response``: the whole request goes through, and the proxy waits for the server's
  answer — which the server sends only after COMMIT — then cuts the client off without
  it: the server has applied the batch, the laptop never hears so.

When the server is down (restarting) the upstream connect fails and the client is cut,
counted as ``upstream_down``. Everything injected is counted in :attr:`FaultProxy.counts`.
:meth:`FaultProxy.script` queues faults for the next connections, in order, before the
random draw resumes (a test that needs "this request's answer is cut" exactly).

:attr:`FaultProxy.traffic` records when each HTTP request went up and when its answer
started to come back (a chunk from the client that starts with a method, a chunk from the
server that starts with ``HTTP/``: the client speaks request/answer in lockstep, keep-alive
or not), so a test can act at a moment it chooses, such as "just after the server answered
a push" (:meth:`FaultProxy.wait_for`), without any hook in the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["FAULTS", "FaultProxy", "Traffic"]

FAULTS: tuple[str, ...] = ("pass", "refuse", "delay", "cut_request", "cut_response")

METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ")


@dataclass(frozen=True, slots=True)
class Traffic:
    """One request going up (``request``) or its answer starting back (``answer``)."""

    at: float  # time.monotonic()
    event: str
    request: str  # its request line without the version, e.g. "POST /api/v1/sync/push"


class FaultProxy:
    """``127.0.0.1:port`` → ``127.0.0.1:upstream_port``, faulting connections at ``rate``."""

    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int,
        rate: float = 0.0,
        faults: Sequence[str] = FAULTS[1:],
        delay_seconds: float = 0.05,
    ) -> None:
        self.upstream_port = upstream_port
        self.rate = rate
        self.faults = tuple(faults)
        self.delay_seconds = delay_seconds
        self.counts: Counter[str] = Counter()
        self.traffic: list[Traffic] = []
        self._seen = threading.Condition()
        self._scripted: deque[str] = deque()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.port = 0

    # --- life ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    def script(self, faults: Sequence[str]) -> None:
        """The next ``len(faults)`` connections meet these faults, in order."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        with self._lock:
            self._scripted.extend(faults)

    def _record(self, event: str, request: str) -> None:
        with self._seen:
            self.traffic.append(Traffic(time.monotonic(), event, request))
            self._seen.notify_all()

    def wait_for(
        self, event: str, request_prefix: str, *, after: int, nth: int = 1, timeout: float
    ) -> Traffic | None:
        """The ``nth`` ``event`` of a request starting ``request_prefix`` among
        ``traffic[after:]``, waiting up to ``timeout`` s for it (None if it never came)."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                found = [
                    t
                    for t in self.traffic[after:]
                    if t.event == event and t.request.startswith(request_prefix)
                ]
                if len(found) >= nth:
                    return found[nth - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._seen.wait(left)

    def _draw(self) -> tuple[str, int]:
        with self._lock:
            fault = "pass"
            if self._scripted:
                fault = self._scripted.popleft()
            elif self._rng.random() < self.rate:
                fault = self._rng.choice(self.faults)
            cut_at = self._rng.randint(1, 400)
            self.counts[fault] += 1
            return fault, cut_at

    # --- one connection ------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fault, cut_at = self._draw()
        if fault == "refuse":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            with self._lock:
                self.counts["upstream_down"] += 1
            writer.transport.abort()
            return
        delay = self.delay_seconds if fault == "delay" else 0.0
        request_limit = cut_at if fault == "cut_request" else None
        current = ["?"]  # the request line of the exchange in flight on this connection

        def went_up(chunk: bytes) -> None:
            if chunk.startswith(METHODS):
                line = chunk.split(b"\r\n", 1)[0].decode("latin-1")
                current[0] = line.rsplit(" ", 1)[0]
                self._record("request", current[0])

        def came_back(chunk: bytes) -> None:
            if chunk.startswith(b"HTTP/"):
                self._record("answer", current[0])

        upstream = asyncio.ensure_future(
            self._pipe(
                reader, up_writer, delay=delay, limit=request_limit, peer=writer, seen=went_up
            )
        )
        downstream = asyncio.ensure_future(
            self._pipe(
                up_reader, writer, delay=delay, swallow=fault == "cut_response", seen=came_back
            )
        )
        await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        for task in (upstream, downstream):
            if not task.done():
                task.cancel()
        for w in (writer, up_writer):  # a faulted side is already aborted; close the rest
            with contextlib.suppress(Exception):
                w.close()
                await w.wait_closed()

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        delay: float = 0.0,
        limit: int | None = None,
        swallow: bool = False,
        peer: asyncio.StreamWriter | None = None,
        seen: Callable[[bytes], None] | None = None,
    ) -> None:
        sent = 0
        try:
            while data := await reader.read(4096):
                if swallow:
                    # The server answered, so it committed: the client never gets the answer.
                    writer.transport.abort()
                    return
                if delay:
                    await asyncio.sleep(delay)
                if limit is not None and sent + len(data) >= limit:
                    writer.write(data[: max(0, limit - sent)])
                    with contextlib.suppress(Exception):
                        await writer.drain()
                    writer.transport.abort()
                    if peer is not None:
                        peer.transport.abort()
                    return
                if seen is not None:
                    seen(data)
                writer.write(data)
                await writer.drain()
                sent += len(data)
        except (ConnectionError, OSError):
            return
