"""router: gatewayAPI in the pure core: weights split the traffic, both revisions at full size."""

from __future__ import annotations

import dataclasses

import pytest
from gatesim import T0, Sim, adopted, deployment, gate_spec, minutes, passing, rev

from deploymentgate.core import (
    RemoveServing,
    ScaleServing,
)
from deploymentgate.core.routers import Fleet, router_for
from deploymentgate.core.routers.gateway import (
    EnsureBackends,
    GatewayRouter,
    GatewayState,
    RemoveBackends,
    RestoreRoutes,
    RouteState,
    SetRouteWeights,
    weights_for,
)
from deploymentgate.models import GateSpec, Phase, Traffic
from deploymentgate.observations import WorkloadState

ROUTER = GatewayRouter()
S, C = "s" * 16, "c" * 16


def spec(steps: list[int] | None = None) -> GateSpec:
    traffic = {"router": "gatewayAPI", "httpRoutes": [{"name": "web"}, {"name": "api"}]}
    return gate_spec(traffic={**traffic, "steps": steps or [1, 10, 50, 100]})


def served(replicas: int, revision: str, ready: int | None = None) -> WorkloadState:
    n = replicas if ready is None else ready
    return WorkloadState(
        exists=True, revision=revision, replicas=replicas, ready=n, updated=n, observed=True
    )


def routes(weights: tuple[int, int] | None, *names: str) -> dict[str, RouteState]:
    return {n: RouteState(weights=weights, managed=weights is not None) for n in names or ("web",)}


def fleet(
    serving: dict[str, WorkloadState],
    backends: tuple[str | None, str | None] = (S, C),
    read: dict[str, RouteState] | None = None,
    *,
    canary: str | None = C,
) -> Fleet:
    routes_read = read if read is not None else {}
    gateway = GatewayState(backends=backends, routes=routes_read, serving=backends)
    return Fleet(total=4, stable=S, canary=canary, serving=serving, router_state=gateway)


# ------------------------------------------------------------------ model


def test_gateway_router_is_picked_for_gateway_api_and_needs_a_route() -> None:
    assert isinstance(router_for(spec()), GatewayRouter)
    assert Traffic.model_validate({"router": "gatewayAPI", "httpRouteSelector": {"a": "b"}})
    with pytest.raises(ValueError, match="httpRoutes or httpRouteSelector"):
        Traffic.model_validate({"router": "gatewayAPI"})
    both = Traffic.model_validate(
        {"router": "gatewayAPI", "httpRoute": "web", "httpRoutes": [{"name": "web"}, {"name": "a"}]}
    )
    assert both.route_names == ["web", "a"]
    with pytest.raises(ValueError):
        Traffic.model_validate(
            {"router": "gatewayAPI", "httpRoutes": [{"name": f"r{i}"} for i in range(17)]}
        )


def test_weights_are_percentages_of_the_canary() -> None:
    assert [weights_for(p) for p in (0, 1, 10, 50, 100)] == [
        (100, 0),
        (99, 1),
        (90, 10),
        (50, 50),
        (0, 100),
    ]


# ------------------------------------------------------------------ table


@pytest.mark.parametrize(
    ("serving", "backends", "read", "weights", "in_effect"),
    [
        # Canary not ready yet: the routes are left as they are.
        ({S: served(4, S), C: served(4, C, ready=2)}, (S, C), routes((100, 0)), None, False),
        # Canary ready but its Service still selects the stable: not yet.
        ({S: served(4, S), C: served(4, C)}, (S, S), routes((100, 0)), None, False),
        # Ready and selected: write 99/1; in effect once every route reads it.
        ({S: served(4, S), C: served(4, C)}, (S, C), routes((100, 0)), (99, 1), False),
        ({S: served(4, S), C: served(4, C)}, (S, C), routes((99, 1), "web", "api"), (99, 1), True),
        (
            {S: served(4, S), C: served(4, C)},
            (S, C),
            {"web": RouteState(weights=(99, 1), managed=True), "api": RouteState()},
            (99, 1),
            False,
        ),
    ],
)
def test_a_one_percent_step_runs_both_revisions_at_full_size(
    serving: dict[str, WorkloadState],
    backends: tuple[str, str],
    read: dict[str, RouteState],
    weights: tuple[int, int] | None,
    in_effect: bool,
) -> None:
    layout = ROUTER.step(fleet(serving, backends, read), 1, 0, shifted=False)
    assert layout.replicas == {S: 4, C: 4}
    assert layout.backends == (S, C)
    assert layout.weights == weights
    assert layout.in_effect is in_effect


def test_promotion_moves_weight_100_first_then_shrinks_the_stable() -> None:
    both = {S: served(4, S), C: served(4, C)}
    before = ROUTER.promote(fleet(both, read=routes((50, 50))))
    assert before.weights == (0, 100) and before.replicas == {C: 4, S: 4}
    assert not before.in_effect
    moved = ROUTER.promote(fleet(both, read=routes((0, 100))))
    assert moved.replicas == {C: 4, S: 0} and not moved.in_effect
    done = ROUTER.promote(fleet({S: served(0, S), C: served(4, C)}, read=routes((0, 100))))
    assert done.in_effect


def test_after_promotion_the_stable_service_is_repointed_before_it_gets_weight_back() -> None:
    # Promoted: C is stable now; the stable Service still selects S at weight 0.
    after = {S: served(0, S), C: served(4, C)}
    layout = ROUTER.stable_only(
        Fleet(4, C, None, after, GatewayState((S, C), routes((0, 100)), serving=(S, C)))
    )
    assert layout.backends == (C, C)
    assert layout.weights is None  # not before the stable Service selects C
    assert layout.remove == () and not layout.in_effect
    repointed = GatewayState((C, C), routes((0, 100)), serving=(C, C))
    layout = ROUTER.stable_only(Fleet(4, C, None, after, repointed))
    assert layout.weights == (100, 0) and layout.remove == ()
    settled = GatewayState((C, C), routes((100, 0)), serving=(C, C))
    layout = ROUTER.stable_only(Fleet(4, C, None, after, settled))
    assert layout.remove == (S,) and layout.in_effect


def test_a_rejected_canary_gets_weight_0_at_once_and_leaves_once_routes_read_it() -> None:
    both = {S: served(4, S), C: served(4, C)}
    evict = frozenset({C})
    layout = ROUTER.stable_only(fleet(both, read=routes((50, 50)), canary=None), evict=evict)
    assert layout.weights == (100, 0)
    assert layout.replicas == {S: 4, C: 4}  # not before the gateway stops sending it any
    assert layout.backends == (S, S)
    layout = ROUTER.stable_only(fleet(both, read=routes((100, 0)), canary=None), evict=evict)
    assert layout.replicas == {S: 4, C: 0}
    gone = {"web": RouteState(exists=False, problem="not found"), **routes((100, 0), "api")}
    layout = ROUTER.stable_only(fleet(both, read=gone, canary=None), evict=evict)
    assert layout.replicas == {S: 4, C: 0}  # a deleted route holds nothing up


def test_no_weight_for_a_service_whose_endpoints_do_not_hold_its_revision_yet() -> None:
    both = {S: served(4, S), C: served(4, C)}
    lagging = GatewayState(backends=(S, C), routes=routes((100, 0)), serving=(S, None))
    layout = ROUTER.step(Fleet(4, S, C, both, lagging), 10, 0, shifted=False)
    assert layout.weights is None and not layout.in_effect
    after = {S: served(0, S), C: served(4, C)}
    flipped = GatewayState(backends=(C, C), routes=routes((0, 100)), serving=(None, C))
    assert ROUTER.stable_only(Fleet(4, C, None, after, flipped)).weights is None


# ------------------------------------------------------------------ scenario


def gateway_sim(names: tuple[str, ...] = ("web", "api")) -> Sim:
    sim = Sim(spec=spec(), target=deployment("chat:1", 4))
    sim.gateway = GatewayState(routes={n: RouteState() for n in names})
    sim.settle(T0)
    assert sim.status.phase is Phase.IDLE, sim.status.message
    assert sim.gateway.backends == (rev("chat:1"), rev("chat:1"))
    assert sim.gateway.reads((100, 0))
    assert [(r.name, r.stable_weight, r.canary_weight) for r in sim.status.routes] == [
        ("api", 100, 0),
        ("web", 100, 0),
    ]
    sim.events.clear()
    sim.weight_writes.clear()
    return sim


def verified(sim: Sim, image: str, at: int = 1) -> str:
    new = sim.deploy(image)
    sim.tick(T0 + minutes(at))
    sim.tick(T0 + minutes(at), passing(T0 + minutes(at), new))
    sim.settle(T0 + minutes(at))
    return new


def test_good_revision_steps_1_10_50_100_by_weight_and_is_promoted() -> None:
    sim = gateway_sim()
    old = rev("chat:1")
    new = verified(sim, "chat:2")
    assert sim.status.phase is Phase.PROGRESSING and sim.status.step == 0
    assert sim.replicas_of(new) == 4 and sim.replicas_of(old) == 4
    assert sim.gateway.reads((99, 1)) and sim.status.canary_weight == 1
    t = 1
    for expected in ((90, 10), (50, 50), (0, 100), (100, 0)):
        sim.tick(T0 + minutes(t + 1), passing(T0 + minutes(t + 1), new))
        t += 3
        sim.settle(T0 + minutes(t))
        if expected != (100, 0):
            assert sim.gateway.reads(expected), (expected, sim.status.message)
            assert sim.replicas_of(old) == 4  # the stable runs at full size throughout
    assert sim.phase() is Phase.PROMOTED, sim.status.message
    assert sim.status.stable_revision == new
    assert old not in sim.serving and sim.replicas_of(new) == 4
    assert sim.gateway.backends == (new, new) and sim.gateway.reads((100, 0))
    # Weight came back to the stable Service only after it selected the new revision.
    assert sim.weight_writes == [(99, 1), (90, 10), (50, 50), (0, 100), (100, 0)]


def test_weights_wait_for_every_canary_pod_and_a_step_counts_from_the_read_back() -> None:
    sim = gateway_sim()
    sim.hold.add(rev("chat:2"))
    new = verified(sim, "chat:2")
    assert sim.status.phase is Phase.PROGRESSING and sim.status.step_ready_since is None
    assert sim.weight_writes == [] and sim.gateway.reads((100, 0))
    sim.release(new)
    sim.settle(T0 + minutes(2))
    assert sim.weight_writes == [(99, 1)] and sim.status.step_ready_since is not None


def test_rollback_writes_weight_0_before_the_canary_pods_go() -> None:
    from gatesim import obs_for

    from deploymentgate.observations import ProbeKind

    sim = gateway_sim()
    new = verified(sim, "chat:2")
    assert sim.gateway.reads((99, 1))
    now = T0 + minutes(2)
    failing = [obs_for(ProbeKind.HEALTH, False, now, revision=new)]
    sim.tick(now, failing)
    sim.tick(now + minutes(6), [obs_for(ProbeKind.HEALTH, False, now + minutes(6), revision=new)])
    assert sim.status.phase in (Phase.ROLLED_BACK, Phase.BLOCKED), sim.status.message
    # Weight 0 at once; the canary pods go on the next pass, once the routes read it.
    ops = sim.calls[-1].decision.operations
    assert SetRouteWeights(100, 0) in ops
    assert not any(isinstance(a, ScaleServing) and a.revision == new for a in ops)
    assert sim.gateway.reads((100, 0))
    ops = sim.tick(now + minutes(6)).operations
    assert ScaleServing(new, 0) in ops
    sim.settle(now + minutes(7))
    assert new not in sim.serving and sim.gateway.reads((100, 0))


def test_deletion_gives_the_routes_back_first_and_removes_the_services_last() -> None:
    sim = gateway_sim()
    sim.deleting, sim.deleting_since = True, T0 + minutes(1)
    first = sim.tick(T0 + minutes(1)).operations
    assert first == [RestoreRoutes()]
    assert not any(r.managed for r in sim.gateway.routes.values())
    for _ in range(6):
        decision = sim.tick(T0 + minutes(1))
        if decision.deletion_complete:
            break
    assert decision.deletion_complete
    actions = [a for c in sim.calls for a in c.decision.operations]
    assert RemoveBackends() in actions
    assert actions.index(RemoveBackends()) < actions.index(RemoveServing(rev("chat:1")))
    assert sim.gateway.backends == (None, None) and not sim.service.gated


def test_a_missing_route_holds_adoption_and_says_so() -> None:
    sim = Sim(spec=spec(), target=deployment("chat:1", 4))
    sim.gateway = GatewayState(
        routes={"web": RouteState(exists=False, problem="not found"), "api": RouteState()}
    )
    for _ in range(5):
        sim.tick(T0)
    assert sim.status.phase is Phase.INITIALIZING
    assert "HTTPRoute web: not found" in sim.status.message
    assert not sim.service.gated  # the team's pods keep serving as before
    sim.gateway = dataclasses.replace(
        sim.gateway, routes={**sim.gateway.routes, "web": RouteState()}
    )
    sim.settle(T0 + minutes(1))
    assert sim.phase() is Phase.IDLE
    assert sim.gateway.reads((100, 0))


def test_replicas_router_gates_are_untouched_by_gateway_actions() -> None:
    sim = adopted()
    new = verified(sim, "chat:2")
    ops = [a for c in sim.calls for a in c.decision.operations]
    assert not any(isinstance(a, (EnsureBackends, SetRouteWeights, RestoreRoutes)) for a in ops)
    assert sim.status.routes == [] and new in sim.serving
