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
    # CHAT_PHASE_RECORD=0: /health omits its `phases` record, like an app that only
    # reports its current phase (what a gate must then see by polling alone).
    phase_record: bool = True

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
            phase_record=env.get("CHAT_PHASE_RECORD", "1").strip() != "0",
        )
