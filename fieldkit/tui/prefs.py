"""What the app remembers between visits: the last port and protocol (never a password)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Preferences"]


@dataclass
class Preferences:
    """The last probe choice; kept in ``path`` (JSON) when given, else for this run only."""

    path: Path | None = None
    last_port: str | None = None
    last_protocol: str = "c1218"

    @classmethod
    def load(cls, path: Path) -> Preferences:
        """Read ``path``; a missing or unreadable file gives the defaults."""
        prefs = cls(path=path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return prefs
        if isinstance(data, dict):
            port = data.get("last_port")
            protocol = data.get("last_protocol")
            if isinstance(port, str) and port:
                prefs.last_port = port
            if isinstance(protocol, str) and protocol:
                prefs.last_protocol = protocol
        return prefs

    def remember(self, port: str, protocol: str) -> None:
        """Keep the choice; written to ``path`` at once (atomically) when there is one."""
        self.last_port = port
        self.last_protocol = protocol
        if self.path is None:
            return
        data = {"last_port": port, "last_protocol": protocol}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # remembering the port is a convenience; a read-only home must not stop a visit
