"""The simulated Modbus meter, sans-I/O: request bytes in, answer bytes out, time passed in.

It frames RTU (device id, PDU, CRC-16 low byte first) or Modbus TCP (MBAP) itself, with
its own CRC, apart from the driver's codec. Reads (functions 3 and 4) are answered from a
:class:`~simulators.modbus.registers.RegisterImage` taken when the request arrives; other
function codes get "illegal function". Faults (:class:`ModbusFaults`): silence, going silent
after N answers, "device busy" to the first N requests, "illegal data address" for chosen
registers, answering under another device id, and a slow device.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from simulators.modbus.registers import RegisterImage

__all__ = ["DeviceCounters", "Framing", "ModbusDevice", "ModbusFaults", "crc16"]

Framing = Literal["rtu", "socket"]

ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
DEVICE_BUSY = 6
GATEWAY_TARGET_FAILED = 11


def crc16(data: bytes) -> int:
    """CRC-16/Modbus, bit by bit (reflected 0xA001, init 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class ModbusFaults:
    """What goes wrong on purpose."""

    silent: bool = False  # never answers (a dead meter, a broken A/B pair)
    stop_after: int | None = None  # answers this many requests, then nothing
    busy: int = 0  # "device busy" to the first N requests
    illegal: tuple[tuple[int, int], ...] = ()  # [start, end) wire addresses refused
    answer_as: int | None = None  # answers under this device id (a misaddressed meter)
    slow_ms: float = 0.0  # extra delay before every answer


@dataclass(slots=True)
class DeviceCounters:
    """What the meter saw."""

    requests: int = 0  # well-formed requests addressed to it
    answers: int = 0
    exceptions: int = 0
    busy_answers: int = 0
    ignored: int = 0  # frames for another device, or with a bad CRC
    registers_served: int = 0


@dataclass(order=True)
class _Pending:
    due: float
    data: bytes = field(compare=False)


# A real meter drops a half-received RTU frame after 3.5 characters of silence (2 ms at
# 19200 baud). Loopback scheduling on a loaded machine can pause a frame for longer than
# that, so the simulator waits 0.1 s: still far below any master's response timeout, so a
# request cut short by a lost byte does not spoil the master's retry, as it would not on a
# real line. (At 0.5 s it did: the link-fault campaign's retries after 0.3 s got no answer.)
_FRAME_SILENCE = 0.1


class ModbusDevice:
    """One meter on one link."""

    def __init__(
        self,
        image_at: Callable[[float], RegisterImage],
        *,
        device_id: int,
        framing: Framing,
        faults: ModbusFaults = ModbusFaults(),  # frozen
        turnaround_s: float = 0.002,
    ) -> None:
        self._image_at = image_at
        self.device_id = device_id
        self.framing = framing
        self.faults = faults
        self._turnaround = turnaround_s
        self._buffer = bytearray()
        self._last_rx = 0.0
        self._out: list[_Pending] = []
        self.counters = DeviceCounters()

    # --- bytes in ------------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Bytes that arrived from the client at ``now``."""
        if self.framing == "rtu" and self._buffer and now - self._last_rx > _FRAME_SILENCE:
            self._buffer.clear()  # a silence ends any half-received frame
        self._last_rx = now
        self._buffer += data
        while True:
            frame = self._take_frame()
            if frame is None:
                return
            self._handle(frame, now)

    def _take_frame(self) -> bytes | None:
        buf = self._buffer
        if self.framing == "socket":
            if len(buf) < 7:
                return None
            length = struct.unpack(">H", buf[4:6])[0]
            if len(buf) < 6 + length:
                return None
            frame = bytes(buf[: 6 + length])
            del buf[: 6 + length]
            return frame
        if len(buf) < 2:
            return None
        function = buf[1]
        if function in (15, 16):
            if len(buf) < 7:
                return None
            size = 9 + buf[6]
        elif 1 <= function <= 6:
            size = 8
        else:
            size = len(buf)  # unknown: take what there is; the CRC decides
            if size < 4:
                return None
        if len(buf) < size:
            return None
        frame = bytes(buf[:size])
        del buf[:size]
        if crc16(frame[:-2]) != struct.unpack("<H", frame[-2:])[0]:
            self.counters.ignored += 1
            buf.clear()  # out of step: wait for the next request
            return None
        return frame

    # --- answers -------------------------------------------------------------------------------

    def _handle(self, frame: bytes, now: float) -> None:
        if self.framing == "socket":
            transaction, _proto, _length, unit = struct.unpack(">HHHB", frame[:7])
            pdu = frame[7:]
        else:
            transaction, unit, pdu = 0, frame[0], frame[1:-2]
        if unit != self.device_id:
            self.counters.ignored += 1
            if self.framing == "socket" and unit != 0:
                # A TCP gateway answers for a unit it cannot reach.
                self._queue(transaction, unit, bytes([pdu[0] | 0x80, GATEWAY_TARGET_FAILED]), now)
            return
        self.counters.requests += 1
        f = self.faults
        if f.silent or (f.stop_after is not None and self.counters.answers >= f.stop_after):
            return
        answer = self._answer(pdu, now)
        self._queue(transaction, unit, answer, now)

    def _answer(self, pdu: bytes, now: float) -> bytes:
        function = pdu[0]
        if function not in (3, 4):
            return self._exception(function, ILLEGAL_FUNCTION)
        if len(pdu) != 5:
            return self._exception(function, ILLEGAL_VALUE)
        if self.counters.busy_answers < self.faults.busy:
            self.counters.busy_answers += 1
            return self._exception(function, DEVICE_BUSY)
        address, count = struct.unpack(">HH", pdu[1:5])
        image = self._image_at(now)
        if not 1 <= count <= min(125, image.map.max_registers):
            return self._exception(function, ILLEGAL_VALUE)
        end = address + count
        refused = any(address < e and s < end for s, e in self.faults.illegal)
        if refused or not image.answers(function, address, count):
            return self._exception(function, ILLEGAL_ADDRESS)
        words = image.read(function, address, count)
        self.counters.registers_served += count
        return struct.pack(f">BB{count}H", function, 2 * count, *words)

    def _exception(self, function: int, code: int) -> bytes:
        self.counters.exceptions += 1
        return bytes([function | 0x80, code])

    def _queue(self, transaction: int, unit: int, pdu: bytes, now: float) -> None:
        unit = self.faults.answer_as if self.faults.answer_as is not None else unit
        if self.framing == "socket":
            data = struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu
        else:
            body = bytes([unit]) + pdu
            data = body + struct.pack("<H", crc16(body))
        self.counters.answers += 1
        due = now + self._turnaround + self.faults.slow_ms / 1000.0
        self._out.append(_Pending(due, data))

    # --- bytes out -----------------------------------------------------------------------------

    def data_to_send(self, now: float) -> bytes:
        """The answers that are due by ``now``."""
        out = bytearray()
        while self._out and self._out[0].due <= now:
            out += self._out.pop(0).data
        return bytes(out)

    def next_deadline(self) -> float | None:
        """When the next answer is due, or None."""
        return self._out[0].due if self._out else None
