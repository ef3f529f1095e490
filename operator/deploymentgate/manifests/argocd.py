"""Argo CD's `argocd-cm` entries for a DeploymentGate, built from the shipped
resource customizations (deploy/argocd/<group>/<kind>/, Argo CD's own layout).

The Lua files are the source: Argo CD reads them from this layout when they are
built into its image, and from `argocd-cm` otherwise. This module only puts
the same texts into the ConfigMap's keys, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import yaml

from deploymentgate.models import API_GROUP, KIND

# Argo CD's directory for this kind, relative to the repository root.
CUSTOMIZATION = PurePosixPath("deploy") / "argocd" / API_GROUP / KIND
CONFIG_MAP_FILE = PurePosixPath("deploy") / "argocd" / "argocd-cm.yaml"
HEALTH_SCRIPT = "health.lua"
DISCOVERY_SCRIPT = "actions/discovery.lua"
# The kubectl gate verbs, in the order Argo CD lists them.
ACTIONS = ("abort", "retry", "promote", "promote-full")
HEALTH_KEY = f"resource.customizations.health.{API_GROUP}_{KIND}"
ACTIONS_KEY = f"resource.customizations.actions.{API_GROUP}_{KIND}"
HEADER = (
    "# Generated from deploy/argocd/rollout.deploymentgate.dev/DeploymentGate by"
    " `make generate`.\n"
    "# Merge into Argo CD's argocd-cm ConfigMap, e.g.\n"
    "#   kubectl -n argocd patch configmap argocd-cm --patch-file deploy/argocd/argocd-cm.yaml\n"
)


def scripts() -> list[str]:
    """Every script of the customization, relative to its directory."""
    return [HEALTH_SCRIPT, DISCOVERY_SCRIPT] + [f"actions/{a}/action.lua" for a in ACTIONS]


def config_map_data(texts: Mapping[str, str]) -> dict[str, str]:
    """The argocd-cm keys, from each script's text (keyed as `scripts()` names them)."""
    actions = {
        "discovery.lua": texts[DISCOVERY_SCRIPT],
        "definitions": [
            {"name": action, "action.lua": texts[f"actions/{action}/action.lua"]}
            for action in ACTIONS
        ],
    }
    return {HEALTH_KEY: texts[HEALTH_SCRIPT], ACTIONS_KEY: _literal_yaml(actions)}


def config_map_patch(texts: Mapping[str, str]) -> str:
    """The file users merge into argocd-cm (`data` only: their other keys stay)."""
    return HEADER + _literal_yaml({"data": config_map_data(texts)})


class _Literal(str):
    """A multi-line string written as a YAML block, as Argo CD's docs show them."""


def _literal(dumper: yaml.SafeDumper, text: _Literal) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def _blocks(value: Any) -> Any:
    if isinstance(value, str) and "\n" in value:
        return _Literal(value)
    if isinstance(value, dict):
        return {k: _blocks(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blocks(v) for v in value]
    return value


def _literal_yaml(value: Any) -> str:
    return yaml.dump(_blocks(value), Dumper=_Dumper, sort_keys=False, width=1000)
