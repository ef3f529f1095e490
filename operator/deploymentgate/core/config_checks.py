"""Seed §7, configuration validation: read off the pod template before any pod
of the new revision starts.

- every required environment variable is set in each serving container;
- a variable whose name looks like a credential (spec.config.secretEnv
  patterns) takes its value from a Secret (`valueFrom.secretKeyRef`), never a
  literal value or a ConfigMap;
- no variable holds a forbidden value (e.g. DEBUG=true in production).

Only what the template itself says can be checked: a variable that could come
from `envFrom` is not counted as set, and the message says so.

Whatever the spec says, a template may not carry the serving label: only the
gate's own serving pods may match the gated Service (`reserved_label_problems`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from deploymentgate.models import SERVING_LABEL, ConfigChecks


def template_problems(config: ConfigChecks | None, template: Mapping[str, Any] | None) -> list[str]:
    """Every reason the template must not even be verified; empty when it may."""
    found = reserved_label_problems(template)
    if config is not None:
        found += config_problems(config, template)
    return found


def reserved_label_problems(template: Mapping[str, Any] | None) -> list[str]:
    labels = ((template or {}).get("metadata") or {}).get("labels") or {}
    if SERVING_LABEL not in labels:
        return []
    return [
        f"the pod template carries label {SERVING_LABEL}, which only the gate's own serving"
        " pods may carry (the gated Service would select these pods); remove it"
    ]


def config_problems(config: ConfigChecks, template: Mapping[str, Any] | None) -> list[str]:
    """What is wrong with `template`'s configuration, one sentence each; empty if fine."""
    spec = (template or {}).get("spec") or {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, Mapping)]
    problems: list[str] = []
    for container in containers:
        name = str(container.get("name") or "?")
        env = [e for e in container.get("env") or [] if isinstance(e, Mapping) and e.get("name")]
        defined = {str(e["name"]): e for e in env}
        for variable in config.required_env:
            if variable not in defined:
                hint = (
                    " (it may come from envFrom, which cannot be checked: set it in env)"
                    if container.get("envFrom")
                    else ""
                )
                problems.append(f"container {name}: required variable {variable} is not set{hint}")
        for variable, entry in defined.items():
            problems += _secret_problems(config, name, variable, entry)
            problems += _forbidden_problems(config, name, variable, entry)
    return problems


def _secret_problems(
    config: ConfigChecks, container: str, variable: str, entry: Mapping[str, Any]
) -> list[str]:
    if not any(fnmatch.fnmatchcase(variable.upper(), p.upper()) for p in config.secret_env):
        return []
    source = entry.get("valueFrom")
    if isinstance(source, Mapping) and source.get("secretKeyRef"):
        return []
    how = "a literal value" if "value" in entry else "not a Secret"
    return [
        f"container {container}: {variable} looks like a credential and is {how};"
        " take it from a Secret (valueFrom.secretKeyRef)"
    ]


def _forbidden_problems(
    config: ConfigChecks, container: str, variable: str, entry: Mapping[str, Any]
) -> list[str]:
    value = entry.get("value")
    for forbidden in config.forbidden_env:
        same = isinstance(value, str) and value.strip().lower() == forbidden.value.strip().lower()
        if forbidden.name == variable and same:
            return [f"container {container}: {variable}={value} is forbidden"]
    return []
