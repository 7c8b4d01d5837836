"""The thin I/O edge: one register read over a transport, with bounded timeouts and retries.

:class:`ModbusLink` sends a :class:`~fieldkit.drivers.modbus.codec.ReadRequest` framed as RTU
or Modbus TCP, waits for the answer in slices of at most 0.1 s (checking cancel between
them, so a cancel ends a wait within half a second), and returns the registers or raises a
typed error. Every frame in either direction goes to ``on_frame`` as it crosses the wire.

After an RTU answer that cannot be used, the link waits for the line to go quiet (the
3.5-character gap, at least 20 ms; never past the try's timeout) before flushing and sending
again, so a retry neither collides with the rest of the bad answer nor reads its tail.

No reconnects: a request that gets no usable answer is sent again at most ``retries`` times,
a "device busy" answer is asked again at most :data:`BUSY_RETRIES` times, and then the error
is the caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fieldkit.drivers.errors import LinkError, MeterRefused, NoResponse
from fieldkit.drivers.modbus.codec import (
    BadCrc,
    ExceptionCode,
    FrameError,
    MbapAnswerParser,
    OtherDevice,
    ReadRequest,
    Refusal,
    RtuAnswerParser,
    StaleAnswer,
    encode_mbap,
    encode_rtu,
    rtu_frame_gap,
)
from fieldkit.drivers.modbus.settings import DEFAULT_RETRIES
from fieldkit.drivers.transport import Transport
from fieldkit.model import FrameDirection

__all__ = ["BUSY_RETRIES", "Framing", "LinkCounters", "ModbusLink"]

Framing = Literal["rtu", "tcp"]

BUSY_RETRIES = 3
_BUSY_PAUSE = 0.2  # seconds before asking a busy device again
_SLICE = 0.1  # the longest wait between two cancel checks
# The least silence taken as "the meter has stopped talking": the RTU gap (3.5 characters)
# is 4 ms at 9600 baud, but a USB-RS485 adapter hands bytes over in bursts up to its latency
# timer apart (16 ms on FTDI's default), so a shorter silence may be the middle of a frame.
_QUIET_FLOOR = 0.02


@dataclass(slots=True)
class LinkCounters:
    """What the link has cost so far."""

    bytes_tx: int = 0
    bytes_rx: int = 0
    round_trips: int = 0  # answers received, usable or not
    retransmissions: int = 0  # requests sent again after no or a bad answer
    busy_retries: int = 0


class ModbusLink:
    """Register reads over one open transport."""

    def __init__(
        self,
        transport: Transport,
        *,
        framing: Framing,
        baud: int = 9600,
        response_timeout: float = 1.0,
        retries: int = DEFAULT_RETRIES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_frame: Callable[[FrameDirection, bytes, float], None] | None = None,
        cancel: Callable[[], None] | None = None,
    ) -> None:
        self._transport = transport
        self.framing = framing
        self._gap = rtu_frame_gap(baud) if framing == "rtu" else 0.0
        self._quiet = max(self._gap, _QUIET_FLOOR)
        self._timeout = response_timeout
        self._retries = retries
        self._clock = clock
        self._sleep = sleep
        self._on_frame = on_frame
        self._cancel = cancel
        self._transaction = 0
        self._quiet_since: float | None = None
        self._last_rx = 0.0  # when the last byte arrived
        self._other: int | None = None  # a device id that answered instead of the one asked
        self.counters = LinkCounters()

    # --- inside ---------------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self._cancel is not None:
            self._cancel()

    def _record(self, direction: FrameDirection, data: bytes) -> None:
        if data and self._on_frame is not None:
            self._on_frame(direction, data, self._clock())

    def _pause(self, seconds: float) -> None:
        end = self._clock() + seconds
        while (left := end - self._clock()) > 0:
            self._check_cancel()
            self._sleep(min(left, _SLICE))

    def _send(self, request: ReadRequest) -> RtuAnswerParser | MbapAnswerParser:
        if self.framing == "rtu":
            if self._quiet_since is not None:
                wait = self._quiet_since + self._gap - self._clock()
                if wait > 0:
                    self._sleep(wait)  # the 3.5-character silence between frames
            frame = encode_rtu(request)
            parser: RtuAnswerParser | MbapAnswerParser = RtuAnswerParser(request)
        else:
            self._transaction = (self._transaction + 1) & 0xFFFF
            frame = encode_mbap(request, self._transaction)
            parser = MbapAnswerParser(request, self._transaction)
        self._transport.flush_input()  # a late answer to an earlier try is not this one's
        self._transport.write(frame)
        self.counters.bytes_tx += len(frame)
        self._record("tx", frame)
        return parser

    def _settle(self, until: float) -> None:
        """Read and discard until the line has been silent for the quiet interval, or ``until``.

        An RTU answer that failed (a bad CRC after a corrupted byte count, a frame cut by a
        stall) may still be arriving: a retry sent over it collides on the half-duplex bus,
        and its answer would start with the old frame's tail. Bounded by ``until`` (the try's
        own deadline, or one quiet interval from now if that has passed) so a babbling line
        costs no more than the timeout; cancel is checked every slice.
        """
        end = max(until, self._clock() + self._quiet)
        tail = bytearray()
        while self._clock() - self._last_rx < self._quiet and (left := end - self._clock()) > 0:
            self._check_cancel()
            chunk = self._transport.read(512, min(left, self._quiet, _SLICE))
            if chunk:
                self._last_rx = self._clock()
                self.counters.bytes_rx += len(chunk)
                tail += chunk
        self._record("rx", bytes(tail))  # the rest of the bad answer, for the capture
        self._quiet_since = self._last_rx  # the inter-frame gap counts from the last byte

    def _fresh(
        self, parser: RtuAnswerParser | MbapAnswerParser
    ) -> RtuAnswerParser | MbapAnswerParser:
        if isinstance(parser, RtuAnswerParser):
            return RtuAnswerParser(parser.request)
        return MbapAnswerParser(parser.request, parser.transaction)

    def _one_try(self, request: ReadRequest) -> tuple[int, ...] | Refusal | str:
        """The registers, a refusal, or why this try failed (for the final error)."""
        parser = self._send(request)
        deadline = self._clock() + self._timeout
        pending = b""
        while True:
            self._check_cancel()
            left = deadline - self._clock()
            if left <= 0:
                break
            chunk = self._transport.read(512, min(left, _SLICE))
            if not chunk:
                continue
            self._last_rx = self._clock()
            self.counters.bytes_rx += len(chunk)
            try:
                answer = parser.feed(pending + chunk)
            except OtherDevice as exc:
                self._record("rx", exc.frame)
                self.counters.round_trips += 1
                self._other = exc.device_id
                pending, parser = parser.rest, self._fresh(parser)
                continue
            except StaleAnswer as exc:
                self._record("rx", exc.frame)
                pending, parser = parser.rest, self._fresh(parser)
                continue
            except FrameError as exc:
                self._record("rx", exc.frame)
                self.counters.round_trips += 1
                if self.framing == "rtu":
                    self._settle(deadline)
                if isinstance(exc, BadCrc):
                    return "corrupt answers (bad CRC)"
                return f"answers that do not fit the request ({exc})"
            pending = b""
            if answer is None:
                continue
            self._record("rx", parser.frame)
            self.counters.round_trips += 1
            self._quiet_since = self._clock()
            if isinstance(answer, Refusal):
                return answer
            return answer.values
        if parser.received:
            self._record("rx", parser.received)
            if self.framing == "rtu":
                self._settle(deadline)
            return f"incomplete answers ({len(parser.received)} bytes)"
        self._quiet_since = self._clock()
        return "no answer"

    # --- outside --------------------------------------------------------------------------

    def read(self, request: ReadRequest, *, where: str) -> tuple[int, ...]:
        """The registers ``request`` asks for; raises a DriverError naming ``where`` (the port).

        MeterRefused for an exception response, NoResponse for silence, LinkError for answers
        that cannot be used; ReadCancelled from the cancel check.
        """
        self._other = None
        tries = 0
        busy = 0
        failure = "no answer"
        while True:
            tries += 1
            outcome = self._one_try(request)
            if isinstance(outcome, tuple):
                return outcome
            if isinstance(outcome, Refusal):
                waiting = (ExceptionCode.SERVER_DEVICE_BUSY, ExceptionCode.ACKNOWLEDGE)
                if outcome.code in waiting and busy < BUSY_RETRIES:
                    busy += 1
                    self.counters.busy_retries += 1
                    self._pause(_BUSY_PAUSE)
                    tries -= 1  # a busy answer is an answer, not a lost request
                    continue
                raise MeterRefused(
                    f"device {request.device_id} refused {request.label}: {outcome.meaning}",
                    code=outcome.code,
                    service=f"read {request.label}",
                    hint=_refusal_hint(outcome.code),
                )
            failure = outcome
            if tries > self._retries:
                break
            self.counters.retransmissions += 1
        what = f"{tries} tr{'y' if tries == 1 else 'ies'}"
        if self._other is not None:
            raise LinkError(
                f"device {self._other} answered on {where}, not device {request.device_id}",
                hint=f"read with --device-id {self._other}",
            )
        if failure == "no answer":
            raise NoResponse(
                f"no answer from Modbus device {request.device_id} on {where} "
                f"within {self._timeout:g} s ({what})",
                hint="check the RS-485 wiring (A/B), termination, baud, parity and --device-id",
            )
        raise LinkError(
            f"{failure} from Modbus device {request.device_id} on {where} ({what})",
            hint="check baud, parity and stop bits, and the RS-485 wiring and termination",
        )


def _refusal_hint(code: int) -> str | None:
    if code == ExceptionCode.ILLEGAL_DATA_ADDRESS:
        return "the meter does not have these registers: is the map the right model?"
    if code == ExceptionCode.ILLEGAL_FUNCTION:
        return "the meter does not answer this function code: check the map's function"
    if code == ExceptionCode.SERVER_DEVICE_BUSY:
        return "the meter stayed busy: read again in a moment"
    if code in (ExceptionCode.GATEWAY_PATH_UNAVAILABLE, ExceptionCode.GATEWAY_TARGET_FAILED):
        return "the gateway cannot reach the meter: check its serial side and --device-id"
    return None
