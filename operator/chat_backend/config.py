"""Everything a backend instance is told at start; read once, then immutable."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from chat_backend.modes import Knobs, Mode, parse_mode

DEFAULT_VERSION = "dev"


@dataclass(frozen=True)
class BackendConfig:
    mode: Mode = Mode.HEALTHY
    version: str = DEFAULT_VERSION
    pod_name: str = field(default_factory=socket.gethostname)
    knobs: Knobs = field(default_factory=Knobs)

    @classmethod
    def from_env(
        cls, mode: str | Mode, version: str | None, env: Mapping[str, str]
    ) -> BackendConfig:
        """Raises UnknownModeError / ValueError with a message meant for the operator's eyes."""
        return cls(
            mode=mode if isinstance(mode, Mode) else parse_mode(mode),
            version=version or env.get("APP_VERSION") or DEFAULT_VERSION,
            pod_name=env.get("POD_NAME") or socket.gethostname(),
            knobs=Knobs.from_env(env),
        )
