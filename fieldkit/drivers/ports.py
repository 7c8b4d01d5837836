"""List the serial ports on this laptop; mark the ones that look like optical probes or RS-485.

An ANSI optical probe (C12.18) and a USB RS-485 adapter (Modbus RTU) are often built on the
same USB bridge chips, so a chip match is a hint, not a verdict; a name that says "probe"
or "485" is taken at its word.
"""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports as _list_ports

__all__ = ["KNOWN_PROBES", "KNOWN_RS485", "PortInfo", "list_ports"]

# USB bridges that ANSI Type 2 optical probes are built on. A match says "probe-like", not
# "certainly a probe": the same chips sit in plain USB-serial cables.
KNOWN_PROBES: dict[tuple[int, int], str] = {
    (0x0403, 0x6001): "FTDI FT232R: usual in ANSI optical probes",
    (0x0403, 0x6015): "FTDI FT230X: usual in ANSI optical probes",
    (0x067B, 0x2303): "Prolific PL2303: found in some optical probes",
    (0x10C4, 0xEA60): "Silicon Labs CP210x: found in some optical probes",
}


# USB bridges common in RS-485 adapters for Modbus RTU meters.
KNOWN_RS485: dict[tuple[int, int], str] = {
    (0x1A86, 0x7523): "WCH CH340: usual in USB RS-485 dongles",
    (0x1A86, 0x55D3): "WCH CH343: found in USB RS-485 adapters",
    (0x0403, 0x6001): "FTDI FT232R: also in USB-RS485 cables",
    (0x0403, 0x6015): "FTDI FT230X: also in USB-RS485 cables",
    (0x10C4, 0xEA60): "Silicon Labs CP210x: also in RS-485 adapters",
}


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One serial port as the operating system reports it."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    probe: str | None  # why it may be an optical probe
    rs485: str | None = None  # why it may be an RS-485 adapter


def _probe_note(vid: int | None, pid: int | None, text: str) -> str | None:
    if "optical" in text.lower() or "probe" in text.lower():
        return "optical probe (by name)"
    if vid is None or pid is None:
        return None
    return KNOWN_PROBES.get((vid, pid))


def _rs485_note(vid: int | None, pid: int | None, text: str) -> str | None:
    if "485" in text:
        return "RS-485 adapter (by name)"
    if vid is None or pid is None:
        return None
    return KNOWN_RS485.get((vid, pid))


def list_ports() -> list[PortInfo]:
    """Every serial port: probes first, then RS-485 adapters, then the rest."""
    found = []
    for info in _list_ports.comports():
        text = f"{info.description or ''} {info.product or ''} {info.manufacturer or ''}"
        found.append(
            PortInfo(
                device=info.device,
                description=(info.description or "").strip() or "-",
                vid=info.vid,
                pid=info.pid,
                serial_number=info.serial_number,
                probe=_probe_note(info.vid, info.pid, text),
                rs485=_rs485_note(info.vid, info.pid, text),
            )
        )
    return sorted(
        found, key=lambda p: (p.probe is None, p.probe is None and p.rs485 is None, p.device)
    )
