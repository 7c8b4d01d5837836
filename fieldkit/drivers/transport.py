"""The only module that opens a serial port.

A :class:`Transport` is what the protocol clients talk to: write bytes, read what has
arrived (waiting at most ``timeout``), change speed. :func:`open_transport` builds one on
pyserial's ``serial_for_url``, so device paths (``/dev/ttyUSB0``, ``COM3``), ``socket://``,
``spy://`` (hex dump) and ``rfc2217://`` all work, and tests reach simulators over
``socket://127.0.0.1:PORT`` or a pty.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Protocol, runtime_checkable

import serial

from fieldkit.drivers.errors import PortError

__all__ = ["SerialTransport", "Transport", "open_transport", "url_problem"]


@runtime_checkable
class Transport(Protocol):
    """A byte pipe to the meter."""

    url: str

    def write(self, data: bytes) -> None:
        """Send ``data`` now."""

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Return as soon as at least one byte is there (up to ``max_bytes``), or b"" after
        ``timeout`` seconds."""

    def set_baudrate(self, baudrate: int) -> None:
        """Switch the port's speed (a no-op for socket links)."""

    def flush_input(self) -> None:
        """Discard anything received and not yet read."""

    def close(self) -> None:
        """Release the port."""


class SerialTransport:
    """A :class:`Transport` over a pyserial port object."""

    def __init__(self, port: serial.Serial, url: str) -> None:
        self._port = port
        self._timeout: float | None = port.timeout
        self.url = url

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"lost the port {self.url}: {exc}") from exc

    def read(self, max_bytes: int, timeout: float) -> bytes:
        try:
            wanted = max(timeout, 0.0)
            if wanted != self._timeout:
                # Setting the timeout reconfigures a real UART: only when it changes.
                self._port.timeout = self._timeout = wanted
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            if waiting and max_bytes > 1:
                return bytes(first + self._port.read(min(waiting, max_bytes - 1)))
            return bytes(first)
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"lost the port {self.url}: {exc}") from exc

    def set_baudrate(self, baudrate: int) -> None:
        try:
            self._port.baudrate = baudrate
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortError(f"cannot set {baudrate} baud on {self.url}: {exc}") from exc

    def flush_input(self) -> None:
        # Nothing to discard is not an error.
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.reset_input_buffer()

    def close(self) -> None:
        # Closing an unplugged probe must not hide the real error.
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()


def _no_delay(port: serial.Serial) -> None:
    """Turn Nagle off on ``socket://`` links (ser2net bridges, simulators).

    C12.18 writes a lone ACK and then the next request; with Nagle on, the request waits for
    the peer's delayed TCP ACK (40 ms on Linux) and every round trip costs that much.
    """
    sock = getattr(port, "_socket", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def open_transport(
    url: str,
    *,
    baudrate: int = 9600,
    rts: bool = True,
    dtr: bool = False,
    power_delay: float = 0.05,
    parity: str = "N",
    stop_bits: int = 1,
) -> SerialTransport:
    """Open ``url`` at 8 data bits, ``parity`` ("N", "E", "O") and ``stop_bits`` (8N1 unless
    told). An ANSI optical probe draws power from RTS (on) with DTR off; ``power_delay`` lets
    it power up before the first byte."""
    problem = url_problem(url)
    if problem is not None:
        raise PortError(problem)
    try:
        port = serial.serial_for_url(url, do_not_open=True, baudrate=baudrate, timeout=0.1)
        port.bytesize = serial.EIGHTBITS
        port.parity = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}[
            parity
        ]
        port.stopbits = serial.STOPBITS_TWO if stop_bits == 2 else serial.STOPBITS_ONE
        port.rts = rts
        port.dtr = dtr
        port.open()
    except (serial.SerialException, OSError, ValueError, KeyError) as exc:
        raise PortError(_open_failure(url, exc)) from exc
    _no_delay(port)
    if power_delay > 0 and not url.startswith(("socket://", "loop://")):
        time.sleep(power_delay)
    return SerialTransport(port, url)


_NETWORK_SCHEMES = ("socket://", "rfc2217://")


def url_problem(url: str) -> str | None:
    """What is wrong with a port URL before anything is opened, in a technician's words."""
    for scheme in _NETWORK_SCHEMES:
        if url.startswith(scheme):
            rest = url[len(scheme) :].split("?", 1)[0].rstrip("/")
            host, sep, port = rest.rpartition(":")
            if not sep or not host:
                return f"{url} has no port number: write it as {scheme}HOST:PORT"
            if not port.isdigit() or not 0 < int(port) < 65536:
                return f"{url}: '{port}' is not a port number (1-65535)"
    return None


def _open_failure(url: str, exc: BaseException) -> str:
    """Why ``url`` did not open: a missing device, a file that is no serial port, ..."""
    errno_ = getattr(exc, "errno", None)
    text = str(exc)
    if "://" not in url:
        if errno_ == 2 or "No such file or directory" in text or "FileNotFoundError" in text:
            return f"there is no device {url}: is the probe plugged in? 'fieldkit ports' lists them"
        if errno_ == 25 or "Inappropriate ioctl" in text:
            return f"{url} is not a serial port: give the probe's device ('fieldkit ports')"
        if errno_ in (13, 1) or "Permission denied" in text:
            return f"no permission to open {url}: add your user to the serial-port group"
        if errno_ == 16 or "busy" in text.lower():
            return f"{url} is in use by another program: close it and read again"
    if "Connection refused" in text:
        return f"nothing answers at {url} (connection refused): check the host and port"
    return f"cannot open {url}: {exc}"
