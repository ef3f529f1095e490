"""The demo's manifests: YAML files in this package (examples/ at the repo root holds copies)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

APP = "chat-app.yaml"
GATE = "chat-gate.yaml"


def text(name: str) -> str:
    return (resources.files(__name__) / name).read_text()


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text(name)) if doc]
