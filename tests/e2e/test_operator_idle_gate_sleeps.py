"""An idle gate costs nothing until something it looks at changes (issue 13 goal 1).

A settled gate used to run a reconcile pass every 10 s whether or not anything
had changed: 1,000 idle gates kept a quarter of a core busy. Now it sleeps
until an index wakes it; the operator's reconcile counter shows it, and a
change to its Deployment or to its own spec still gets a pass within about a
second.
"""

from __future__ import annotations

import time

from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    passes,
    wait_rested,
    wait_until,
)

from deploymentgate_devkit.testing import OperatorProcess

# The scenario, not a synchronisation: an idle gate must stay quiet for longer
# than the old 10 s idle tick, so that it would have ticked at least once.
QUIET = 12.0
WOKEN_WITHIN = 1.5  # seconds from a change to the first pass it causes


def seconds_until_pass(operator: OperatorProcess, before: float, timeout: float = 10.0) -> float:
    began = time.monotonic()
    while passes(operator) <= before:
        assert time.monotonic() - began < timeout, f"no reconcile pass within {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - began


def test_idle_gate_runs_no_pass_until_its_deployment_or_spec_changes(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=1), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(gate_spec()))
    world.wait_phase("Idle", 60)
    count = wait_rested(operator)
    version = world.gate()["metadata"]["resourceVersion"]
    by_gate = passes(operator, "gate")
    by_deployment = passes(operator, "deployment")

    time.sleep(QUIET)
    assert passes(operator) == count, f"an Idle gate reconciled within {QUIET:.0f}s"
    assert world.gate()["metadata"]["resourceVersion"] == version, "an Idle gate wrote"

    # Its own spec changed: the next pass records the new generation at once.
    patch = '{"spec":{"traffic":{"stepDuration":"7s"}}}'
    world.kubectl("patch", "deploymentgate/chat", "--type=merge", "-p", patch)
    generation = world.gate()["metadata"]["generation"]
    woken = seconds_until_pass(operator, count)
    assert woken < WOKEN_WITHIN, f"a spec change took {woken:.1f}s to wake the gate"
    assert passes(operator, "gate") > by_gate, "the pass was not counted as the gate's"
    wait_until(
        lambda: world.status().get("observedGeneration") == generation,
        5,
        describe=world.diagnostics,
        what=f"observedGeneration {generation}",
    )
    count = wait_rested(operator)
    # kopf keeps no copy of the spec on the gate (a write per new gate and per
    # spec change, for handlers we do not have); the finalizer stays.
    meta = world.gate()["metadata"]
    assert not [k for k in meta.get("annotations") or {} if "kopf" in k or "last-handled" in k]
    assert meta.get("finalizers") == ["rollout.deploymentgate.dev/finalizer"]

    # Its Deployment changed: a pass within a second, and the revision is verified.
    world.set_version("v2")
    woken = seconds_until_pass(operator, count)
    assert woken < WOKEN_WITHIN, f"a new template took {woken:.1f}s to wake the gate"
    assert passes(operator, "deployment") > by_deployment
    world.wait_phase("Verifying", 10, allowed=["Idle"])
