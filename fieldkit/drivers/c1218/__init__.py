"""ANSI C12.18 over the optical port, with C12.19 tables: the driver behind drivers.base.

:func:`create` is what :func:`fieldkit.drivers.base.create_driver` calls for ``c1218``:
it validates the settings (:mod:`.settings`), loads the meter profiles and returns a
:class:`~.driver.C1218Driver`. Nothing outside ``fieldkit.drivers`` imports this package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fieldkit.drivers.errors import DriverSettingsError

if TYPE_CHECKING:
    from fieldkit.drivers.c1218.driver import C1218Driver

__all__ = ["create"]


def create(
    port: str,
    settings: Mapping[str, Any],
    *,
    wall_clock: Callable[[], datetime] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> C1218Driver:
    """A C12.18 driver for ``port``; raises DriverSettingsError for a bad setting.

    ``on_warning`` hears what the technician should know but that does not stop the read:
    each broken profile under the utility's folder is reported and skipped, and every other
    profile still loads; without it that error is raised.
    """
    # Imported here so that the codec modules the simulators share load without the I/O.
    from fieldkit.drivers.c1218.driver import C1218Driver, C1218Options
    from fieldkit.drivers.c1218.profile import ProfileError, ProfileRegistry
    from fieldkit.drivers.c1218.settings import parse_settings
    from fieldkit.paths import profiles_dir

    parsed = parse_settings(settings)
    user_dir = parsed.profiles_dir
    if user_dir is None and profiles_dir().is_dir():
        user_dir = profiles_dir()

    def skip(exc: ProfileError) -> None:
        assert on_warning is not None
        on_warning(f"{exc}: that profile is skipped")

    try:
        profiles = ProfileRegistry.default(user_dir, on_error=None if on_warning is None else skip)
    except ProfileError as exc:
        raise DriverSettingsError("profiles_dir", str(exc)) from None
    options = C1218Options(
        link=parsed.link_config(),
        session=parsed.session_config(),
        meter_tz=parsed.time_zone(),
        read_events=parsed.read_events,
        rts=parsed.rts,
        dtr=parsed.dtr,
    )
    extra: dict[str, Any] = {} if wall_clock is None else {"wall_clock": wall_clock}
    return C1218Driver(port, options, profiles=profiles, **extra)
