"""The probe kinds' registry: everything outside a kind's own modules reaches it here.

Adding a probe kind (tests/e2e/test_probe_kind_recipe.py does it in one module):

- its section: a `models.Model` subclass;
- its descriptor (pure): a `ProbeDescriptor` in a module of this package, what
  it means for verification, its rollback rules and how the views name it;
- its runner (the I/O): a `probes.kind_runner.ProbeRunner` in deploymentgate.probes;
- one line in `_REGISTRY` here and one in `probes.registry` (or, from outside
  the package, `register()` and `probes.registry.register_runner()` at start-up:
  `register` adds `spec.probes.<field>` and `status.probes.<field>` to the
  models, and the CRD generated afterwards carries them);
- its tests.

The built-in kinds' sections are declared in models.py, where they were, so
that the shipped CRD stays as it is.
"""

from __future__ import annotations

from deploymentgate.models import GateSpec, Model, ProbesStatus, ProbeStatus, add_probe_section
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds.base import (
    ProbeDescriptor,
    Rule,
    Stage,
    at_zero_rule,
    failing_for_rule,
)
from deploymentgate.probe_kinds.error_rate import ERROR_RATE
from deploymentgate.probe_kinds.health import HEALTH
from deploymentgate.probe_kinds.metrics import METRICS
from deploymentgate.probe_kinds.smoke import SMOKE
from deploymentgate.probe_kinds.startup import STARTUP
from deploymentgate.probe_kinds.websocket import WEBSOCKET

# Run order: the startup probe must watch a service from its start, so it comes
# first; the others run once startup is over (they would only see 503s before).
_REGISTRY: dict[ProbeKind, ProbeDescriptor] = {
    d.kind: d for d in (STARTUP, HEALTH, WEBSOCKET, ERROR_RATE, SMOKE, METRICS)
}


def register(descriptor: ProbeDescriptor, section: type[Model], description: str) -> None:
    """Add an extra probe kind, its section in `spec.probes` and its status field.

    Call it before any gate is parsed (and before generating the CRD): the
    models are extended once, for the life of the process.
    """
    if descriptor.kind in _REGISTRY:
        raise ValueError(f"probe kind {descriptor.kind.value} is registered already")
    if descriptor.spec_path != ("probes", descriptor.field):
        raise ValueError("an extra probe kind's section is spec.probes.<field>")
    add_probe_section(descriptor.field, section, description)
    _REGISTRY[descriptor.kind] = descriptor


def kinds() -> list[ProbeDescriptor]:
    """Every registered kind, in run order."""
    return list(_REGISTRY.values())


def descriptor(kind: ProbeKind) -> ProbeDescriptor:
    return _REGISTRY[kind]


def runnable(spec: GateSpec) -> list[ProbeDescriptor]:
    """The kinds the probe runner runs for this gate (configured ones), in run order."""
    return [d for d in _REGISTRY.values() if d.runs and d.section(spec) is not None]


def by_name(name: str) -> ProbeDescriptor | None:
    """A runnable kind by its name or an alias, as `check --only` takes it (any case)."""
    wanted = name.lower()
    for d in _REGISTRY.values():
        if d.runs and wanted in (d.kind.value.lower(), *d.aliases):
            return d
    return None


def result(probes: ProbesStatus, kind: ProbeKind) -> ProbeStatus | None:
    """A kind's last result in `status.probes`."""
    value = getattr(probes, _REGISTRY[kind].field, None)
    return value if isinstance(value, ProbeStatus) else None


__all__ = [
    "ProbeDescriptor",
    "Rule",
    "Stage",
    "at_zero_rule",
    "by_name",
    "descriptor",
    "failing_for_rule",
    "kinds",
    "register",
    "result",
    "runnable",
]
