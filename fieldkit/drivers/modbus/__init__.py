"""Modbus meters (RTU over RS-485 or a gateway, and Modbus TCP) read through register maps.

:func:`create` is what :func:`fieldkit.drivers.base.create_driver` calls for ``modbus``: it
validates the settings (:mod:`.settings`), loads the map (:mod:`.maps`) and returns a
:class:`~.driver.ModbusDriver`. The frame codec (:mod:`.codec`) and the snapshot builder
(:mod:`.snapshot`) are sans-I/O; :mod:`.client` is the only part that touches the port.
:mod:`.catalog` is what ``fieldkit maps list|show`` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fieldkit.drivers.errors import DriverSettingsError

if TYPE_CHECKING:
    from fieldkit.drivers.modbus.driver import ModbusDriver
    from fieldkit.drivers.transport import Transport

__all__ = ["create"]


def create(
    port: str,
    settings: Mapping[str, Any],
    *,
    wall_clock: Callable[[], datetime] | None = None,
    transport_factory: Callable[[str], Transport] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> ModbusDriver:
    """A Modbus driver for ``port``; raises DriverSettingsError for a bad setting or map.

    ``on_warning`` is accepted as every driver accepts it; a Modbus read has nothing to warn
    about before it starts (a broken map is an error: the read cannot go on without it).
    """
    del on_warning
    from fieldkit.drivers.errors import PortError
    from fieldkit.drivers.modbus.driver import ModbusDriver, ModbusOptions, split_port
    from fieldkit.drivers.modbus.maps import MapError, load_map
    from fieldkit.drivers.modbus.settings import parse_settings

    parsed = parse_settings(settings)
    try:
        meter_map = load_map(parsed.map, parsed.maps_dir)
    except MapError as exc:
        raise DriverSettingsError("map", str(exc)) from None
    try:
        split_port(port)
    except PortError as exc:
        raise DriverSettingsError("port", str(exc)) from None
    line = meter_map.serial
    options = ModbusOptions(
        device_id=parsed.device_id,
        baud=parsed.baud or line.baud,
        parity=parsed.parity or line.parity,
        stop_bits=parsed.stop_bits or line.stop_bits,
        response_timeout=parsed.response_timeout,
        retries=parsed.retries,
        rotation=parsed.rotation,
    )
    extra: dict[str, Any] = {}
    if wall_clock is not None:
        extra["wall_clock"] = wall_clock
    if transport_factory is not None:
        extra["transport_factory"] = transport_factory
    return ModbusDriver(port, meter_map, options, **extra)
