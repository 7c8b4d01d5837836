"""One way for every driver to validate its settings: pydantic, errors naming the setting.

A leaf module (pydantic and the driver errors only), so the sans-I/O protocol cores may
use it without reaching a port or a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fieldkit.drivers.errors import DriverSettingsError

__all__ = ["validate_settings"]

S = TypeVar("S", bound=BaseModel)


def validate_settings(model: type[S], settings: Mapping[str, Any], protocol: str) -> S:
    """A driver's settings checked by its pydantic ``model``; None values mean "not given".

    The first problem raises :class:`DriverSettingsError` naming the setting, in words a
    technician reads (an option meant for another protocol: "not a C12.18 setting").
    """
    values = {k: v for k, v in settings.items() if v is not None}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        if first["type"] == "extra_forbidden":
            raise DriverSettingsError(name, f"not a {protocol} setting") from None
        message = first["msg"].removeprefix("Value error, ")
        raise DriverSettingsError(name, message) from None
