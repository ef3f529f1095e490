"""A team's HPA keeps governing what serves, through every rollout (issue 20).

The gate holds the team's Deployment at 0, which disables an HPA on it; the
gate keeps a copy of it on the serving Deployment that runs the full size, and
the rollout's size follows what that copy decides. The simulator plays the HPA
controller (`Sim.autoscale`): bounds first, then what the metrics want.
"""

from __future__ import annotations

from datetime import datetime

from gatesim import T0, Sim, adopted, gate_spec, minutes, passing, rev, seconds

from deploymentgate.core import AutoscalerState, EnsureAutoscaler, RemoveAutoscaler
from deploymentgate.models import Phase
from deploymentgate.observations import ProbeKind

STABLE = rev("chat:1")
GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
SPEC = {"minReplicas": 3, "maxReplicas": 8, "metrics": [{"type": "Resource"}]}


def team_hpa(min_replicas: int = 3, max_replicas: int = 8) -> AutoscalerState:
    spec = {**SPEC, "minReplicas": min_replicas, "maxReplicas": max_replicas}
    return AutoscalerState(
        name="chat", target="chat", spec=spec, min_replicas=min_replicas, max_replicas=max_replicas
    )


def autoscaled(replicas: int = 2) -> tuple[Sim, datetime]:
    """Adopted with `replicas`, then the team's HPA (min 3) found and copied."""
    sim = adopted(replicas=replicas)
    sim.team_hpa = team_hpa()
    t = T0 + seconds(5)
    decision = sim.tick(t)
    assert decision.operations == [EnsureAutoscaler(revision=STABLE, spec=SPEC)]
    sim.autoscale()
    sim.settle(t + seconds(1))
    return sim, t + seconds(2)


def step_until(sim: Sim, new: str, t: datetime, until: Phase) -> datetime:
    for _ in range(60):
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
        sim.autoscale()
        if sim.phase() is until:
            return t
    raise AssertionError(f"never {until}: {sim.status.phase} {sim.status.message}")


def test_the_teams_hpa_minimum_sizes_what_serves_after_adoption() -> None:
    sim, _ = autoscaled(replicas=2)
    assert sim.replicas_of(STABLE) == 3 and sim.status.replicas == 3
    assert sim.own_hpa is not None and sim.own_hpa.revision == STABLE
    assert sim.target.replicas == 0  # the team's Deployment stays held; their HPA as written
    assert sim.team_hpa == team_hpa()


def test_raising_the_minimum_reaches_the_serving_pods() -> None:
    sim, t = autoscaled()
    sim.team_hpa = team_hpa(min_replicas=5)
    decision = sim.tick(t)
    assert decision.operations == [EnsureAutoscaler(STABLE, {**SPEC, "minReplicas": 5})]
    sim.autoscale()
    sim.settle(t + seconds(1))
    assert sim.replicas_of(STABLE) == 5 and sim.status.replicas == 5


def test_each_step_sizes_the_canary_from_the_stables_current_replicas() -> None:
    sim, t = autoscaled()
    new = sim.deploy("chat:2")
    sim.tick(t)
    sim.tick(t, passing(t, new))
    sim.tick(t + seconds(1))
    assert sim.phase() is Phase.PROGRESSING and sim.replicas_of(new) == 1  # 10% of 3
    # Load comes: the HPA scales the stable to 6 during the step.
    sim.autoscale(metrics_want=6)
    sim.tick(t + seconds(2))
    assert sim.status.replicas == 6 and sim.replicas_of(STABLE) == 6
    assert sim.own_hpa is not None and sim.own_hpa.revision == STABLE
    t = step_until(sim, new, t + seconds(2), Phase.PROGRESSING)
    while sim.status.step is not None and sim.status.step < 1:
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
    assert sim.replicas_of(new) == 6  # the 50% step: as many as the stable runs now


def test_promotion_hands_the_hpa_a_deployment_already_at_full_size() -> None:
    sim, t = autoscaled()
    sim.autoscale(metrics_want=5)
    sim.settle(t)
    sim.samples.clear()
    new = sim.deploy("chat:2")
    sim.tick(t)
    sim.tick(t, passing(t, new))
    step_until(sim, new, t, Phase.PROMOTED)
    sim.settle(t + minutes(30))
    assert sim.own_hpa is not None and sim.own_hpa.revision == new
    assert set(sim.serving) == {new} and sim.replicas_of(new) == 5
    # Ready serving pods never fell below the HPA's minimum, nor below its count.
    assert min(s.total for s in sim.samples) >= 5
    moves = [c for c in sim.calls for a in c.decision.operations if isinstance(a, EnsureAutoscaler)]
    assert len(moves) == 2, moves  # onto the new revision once, above 50%; never back and forth


def test_a_rollback_gives_the_hpa_back_to_the_stable() -> None:
    sim, t = autoscaled()
    new = sim.deploy("chat:2")
    sim.tick(t)
    sim.tick(t, passing(t, new))
    spec = gate_spec(traffic={"steps": [75]})
    sim.spec = spec
    step_until(sim, new, t, Phase.PROGRESSING)
    sim.tick(t + seconds(40), passing(t + seconds(40), new, GATED))
    assert sim.own_hpa is not None and sim.own_hpa.revision == new  # above 50%
    sim.commands = {"rollout.deploymentgate.dev/abort": f"{new}/1"}
    sim.settle(t + minutes(1))
    sim.autoscale()
    sim.settle(t + minutes(2))
    assert sim.phase() is Phase.ROLLED_BACK
    assert sim.own_hpa is not None and sim.own_hpa.revision == STABLE
    assert sim.replicas_of(STABLE) == 3 and sim.status.replicas == 3


def test_without_a_team_hpa_nothing_is_copied_and_a_removed_one_goes() -> None:
    sim = adopted(replicas=4)
    assert all(
        not isinstance(a, EnsureAutoscaler) for c in sim.calls for a in c.decision.operations
    )
    sim, t = autoscaled()
    sim.team_hpa = None
    assert sim.tick(t).operations == [RemoveAutoscaler()]
    assert sim.own_hpa is None and sim.replicas_of(STABLE) == 3


def test_hand_back_removes_the_copy_and_gives_the_team_its_current_size() -> None:
    sim, t = autoscaled()
    sim.autoscale(metrics_want=7)
    sim.settle(t)
    sim.deleting = True
    decision = sim.tick(t + seconds(1))
    assert RemoveAutoscaler() in decision.operations
    sim.settle(t + seconds(2))
    assert sim.own_hpa is None and sim.target.replicas == 7
