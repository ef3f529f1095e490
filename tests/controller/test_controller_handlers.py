"""The operator's kopf handlers, one module per job, registered as they were
in one module (plus the two HPA indexes): kopf finds a handler only if
`controller.handlers` imports the module that registers it, and its id (the
function's name) is what kopf's annotations and the index keyword arguments
are named after."""

from __future__ import annotations

import importlib
import pkgutil

import kopf

from deploymentgate.controller import handlers
from deploymentgate.models import (
    API_GROUP,
    APPROVAL_PLURAL,
    CLUSTER_TEMPLATE_PLURAL,
    PLURAL,
    TEMPLATE_PLURAL,
)

DEPLOYMENTS = ("apps", "deployments")
SERVICES = ("", "services")
PODS = ("", "pods")
JOBS = ("batch", "jobs")
HPAS = ("autoscaling", "horizontalpodautoscalers")
GATES = (API_GROUP, PLURAL)
APPROVALS = (API_GROUP, APPROVAL_PLURAL)
TEMPLATES = (API_GROUP, TEMPLATE_PLURAL)
CLUSTER_TEMPLATES = (API_GROUP, CLUSTER_TEMPLATE_PLURAL)

# (kind of handler, id, activity or resource), in kopf's order within each kind.
EXPECTED = [
    ("ActivityHandler", "configure", "startup"),
    ("ActivityHandler", "login", "authentication"),
    ("IndexingHandler", "deployments_idx", DEPLOYMENTS),
    ("IndexingHandler", "owned_idx", DEPLOYMENTS),
    ("IndexingHandler", "services_idx", SERVICES),
    ("IndexingHandler", "pods_idx", PODS),
    ("IndexingHandler", "autoscalers_idx", HPAS),
    ("IndexingHandler", "scaling_idx", HPAS),
    ("IndexingHandler", "jobs_idx", JOBS),
    ("IndexingHandler", "gates_idx", GATES),
    ("IndexingHandler", "approvals_idx", APPROVALS),
    ("IndexingHandler", "templates_idx", TEMPLATES),
    ("IndexingHandler", "cluster_templates_idx", CLUSTER_TEMPLATES),
    ("IndexingHandler", "claims_idx", GATES),
    ("DaemonHandler", "gate_loop", GATES),
    ("ChangingHandler", "gate_deleted", GATES),
]


def registered(registry: kopf.OperatorRegistry) -> list[tuple[str, str, object]]:
    found: list[tuple[str, str, object]] = []
    for activity in registry._activities.get_all_handlers():
        assert activity.activity is not None
        found.append((type(activity).__name__, activity.id, activity.activity.value))
    kinds = (registry._indexing, registry._spawning, registry._changing, registry._watching)
    for kind in kinds:
        for handler in kind.get_all_handlers():
            selector = handler.selector
            assert selector is not None
            resource = (selector.group, selector.plural or selector.any_name)
            found.append((type(handler).__name__, handler.id, resource))
    return found


def test_the_operator_registers_every_handler_it_had_in_the_same_order() -> None:
    assert registered(handlers.registry) == EXPECTED
    assert not list(handlers.registry._webhooks.get_all_handlers())


def test_every_controller_module_that_registers_a_handler_is_imported_by_handlers() -> None:
    import deploymentgate.controller as package

    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)  # a module the runner misses would register here
    imported = {module.__name__ for module in handlers.MODULES}
    kinds = (
        handlers.registry._activities,
        handlers.registry._indexing,
        handlers.registry._spawning,
        handlers.registry._changing,
    )
    everything = [h for kind in kinds for h in kind.get_all_handlers()]
    assert {h.fn.__module__ for h in everything} <= imported
    assert len(everything) == len(EXPECTED)
