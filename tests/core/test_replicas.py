"""The replicas router: weight -> replica arithmetic, and the layouts it asks for."""

from __future__ import annotations

import dataclasses

import pytest
from gatesim import gate_spec

from deploymentgate.core.routers import Fleet, Layout, router_for
from deploymentgate.core.routers.gateway import GatewayRouter
from deploymentgate.core.routers.replicas import ReplicasRouter, Split, split
from deploymentgate.observations import WorkloadState


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        # Up to 50% the canary is added beside a full stable (surge).
        (10, 10, Split(stable=10, canary=1)),
        (10, 50, Split(stable=10, canary=10)),
        (4, 25, Split(stable=4, canary=1)),  # 1.33 pods: 1 of 5 = 20%
        (4, 50, Split(stable=4, canary=4)),
        (20, 1, Split(stable=20, canary=1)),
        (1, 10, Split(stable=1, canary=1)),
        # Above 50% the canary runs in full and the stable shrinks, keeping a pod.
        (10, 75, Split(stable=3, canary=10)),
        (10, 99, Split(stable=1, canary=10)),
        (2, 90, Split(stable=1, canary=2)),
        (10, 100, Split(stable=0, canary=10)),
        (1, 100, Split(stable=0, canary=1)),
        (0, 50, Split(stable=0, canary=0)),
        (10, 0, Split(stable=10, canary=0)),
    ],
)
def test_split_adds_the_canary_beside_a_full_stable_up_to_half(
    total: int, weight: int, expected: Split
) -> None:
    assert split(total, weight) == expected


@pytest.mark.parametrize("total", [1, 2, 3, 5, 7, 10, 20, 100])
def test_split_never_loses_capacity_and_grows_with_weight(total: int) -> None:
    previous = 0
    for weight in range(1, 101):
        share = split(total, weight)
        assert share.stable + share.canary >= total
        assert share.canary >= previous
        previous = share.canary
    assert split(total, 100) == Split(stable=0, canary=total)


@pytest.mark.parametrize(
    ("share", "actual"),
    [(Split(9, 1), 10), (Split(5, 5), 50), (Split(1, 1), 50), (Split(0, 3), 100), (Split(0, 0), 0)],
)
def test_actual_weight_is_the_share_of_pods(share: Split, actual: int) -> None:
    assert share.actual_weight == actual


# ------------------------------------------------ the router's layouts

S, C, X = "stable0000000000", "canary0000000000", "stray00000000000"


def served(replicas: int, ready: int | None = None) -> WorkloadState:
    n = replicas if ready is None else ready
    return WorkloadState(exists=True, replicas=replicas, ready=n, updated=n)


def fleet(total: int = 10, **serving: WorkloadState) -> Fleet:
    named = {{"s": S, "c": C, "x": X}[k]: w for k, w in serving.items()}
    keyed = {r: dataclasses.replace(w, revision=r) for r, w in named.items()}
    return Fleet(total=total, stable=S, canary=C, serving=keyed)


ROUTER = ReplicasRouter()


@pytest.mark.parametrize(
    ("name", "layout", "replicas", "remove", "in_effect"),
    [
        # Stepping up: the stable keeps its pods until the canary's are ready.
        (
            "first step",
            ROUTER.step(fleet(s=served(10)), 10, 0, shifted=False),
            {S: 10, C: 1},
            (),
            False,
        ),
        (
            "canary ready",
            ROUTER.step(fleet(s=served(10), c=served(1)), 10, 0, shifted=False),
            {S: 10, C: 1},
            (),
            True,
        ),
        # Up to 50% the stable keeps every pod even once the step is in effect.
        (
            "shifted, stable kept",
            ROUTER.step(fleet(s=served(10), c=served(1)), 10, 0, shifted=True),
            {S: 10, C: 1},
            (),
            True,
        ),
        (
            "next step",
            ROUTER.step(fleet(s=served(10), c=served(1)), 50, 10, shifted=False),
            {S: 10, C: 10},
            (),
            False,
        ),
        (
            "canary not ready",
            ROUTER.step(fleet(s=served(10), c=served(10, 7)), 50, 10, shifted=False),
            {S: 10, C: 10},
            (),
            False,
        ),
        (
            "half shifted, stable kept",
            ROUTER.step(fleet(s=served(10), c=served(10)), 50, 10, shifted=True),
            {S: 10, C: 10},
            (),
            True,
        ),
        # Above 50% the stable shrinks, but only once the canary runs in full.
        (
            "above half, canary not ready",
            ROUTER.step(fleet(s=served(10), c=served(10, 9)), 75, 50, shifted=False),
            {S: 10, C: 10},
            (),
            False,
        ),
        (
            "above half, canary ready",
            ROUTER.step(fleet(s=served(10), c=served(10)), 75, 50, shifted=False),
            {S: 10, C: 10},
            (),
            True,
        ),
        (
            "above half, shifted",
            ROUTER.step(fleet(s=served(10), c=served(10)), 75, 50, shifted=True),
            {S: 3, C: 10},
            (),
            True,
        ),
        (
            "last step, canary not ready",
            ROUTER.step(fleet(s=served(10), c=served(10, 9)), 100, 50, shifted=False),
            {S: 10, C: 10},
            (),
            False,
        ),
        (
            "last step",
            ROUTER.step(fleet(s=served(5), c=served(10)), 100, 50, shifted=True),
            {S: 0, C: 10},
            (),
            True,
        ),
        # A stray goes once the stable and canary serve at full size together.
        (
            "stray kept",
            ROUTER.step(fleet(s=served(10, 8), x=served(2)), 10, 0, shifted=False),
            {S: 10, C: 1},
            (),
            False,
        ),
        (
            "stray removed",
            ROUTER.step(fleet(s=served(10), c=served(1), x=served(2)), 10, 0, shifted=False),
            {S: 10, C: 1},
            (X,),
            True,
        ),
        # Promotion: the stable keeps its pods until the canary serves at full size,
        # then goes in one scale; nothing restarts.
        (
            "promote start",
            ROUTER.promote(fleet(s=served(10), c=served(3))),
            {C: 10, S: 10},
            (),
            False,
        ),
        (
            "promote, canary partly ready",
            ROUTER.promote(fleet(s=served(10), c=served(10, 7))),
            {C: 10, S: 10},
            (),
            False,
        ),
        (
            "promote, canary full",
            ROUTER.promote(fleet(s=served(10), c=served(10))),
            {C: 10, S: 0},
            (),
            False,
        ),
        (
            "promote after a step above half",
            ROUTER.promote(fleet(s=served(3), c=served(10, 9))),
            {C: 10, S: 3},
            (),
            False,
        ),
        ("promoted", ROUTER.promote(fleet(s=served(0), c=served(10))), {C: 10, S: 0}, (), True),
        # All on stable: an evicted canary leaves at once; other pods stay until the
        # stable serves at full size, then go together.
        (
            "rollback",
            ROUTER.stable_only(fleet(s=served(5), c=served(5)), evict=frozenset({C})),
            {S: 10, C: 0},
            (),
            False,
        ),
        # Rolling back from a 100% step: the canary serves until a stable pod is ready.
        (
            "rollback, no stable pod",
            ROUTER.stable_only(fleet(s=served(0), c=served(10)), evict=frozenset({C})),
            {S: 10, C: 10},
            (),
            False,
        ),
        (
            "rollback, stable pods starting",
            ROUTER.stable_only(fleet(s=served(10, 0), c=served(10)), evict=frozenset({C})),
            {S: 10, C: 10},
            (),
            False,
        ),
        (
            "rollback, a stable pod ready",
            ROUTER.stable_only(fleet(s=served(10, 1), c=served(10)), evict=frozenset({C})),
            {S: 10, C: 0},
            (),
            False,
        ),
        (
            "rolled back",
            ROUTER.stable_only(fleet(s=served(10), c=served(0)), evict=frozenset({C})),
            {S: 10},
            (C,),
            True,
        ),
        (
            "verified pods kept until the stable is full",
            ROUTER.stable_only(fleet(s=served(10, 9), c=served(5))),
            {S: 10, C: 5},
            (),
            False,
        ),
        (
            "stable full, verified pods go together",
            ROUTER.stable_only(fleet(s=served(10), c=served(5))),
            {S: 10},
            (C,),
            True,
        ),
        ("adopting", ROUTER.stable_only(fleet()), {S: 10}, (), False),
        ("nothing to run", ROUTER.stable_only(fleet(total=0)), {S: 0}, (), True),
    ],
)
def test_replicas_router_layouts(
    name: str, layout: Layout, replicas: dict[str, int], remove: tuple[str, ...], in_effect: bool
) -> None:
    assert dict(layout.replicas) == replicas, name
    assert layout.remove == remove, name
    assert layout.in_effect is in_effect, name


def test_step_summary_counts_the_split_asked_for() -> None:
    layout = ROUTER.step(fleet(s=served(10)), 10, 0, shifted=False)
    assert layout.summary == "1 of 11 pods"


def test_router_named_by_the_spec() -> None:
    assert isinstance(router_for(gate_spec()), ReplicasRouter)
    gateway = gate_spec(traffic={"router": "gatewayAPI", "httpRoute": "chat"})
    assert isinstance(router_for(gateway), GatewayRouter)
