"""The recipe for a new router kind, proven end to end: everything a router is, in
one module, registered, and driven by a real operator from adoption to promotion
and through the hand-back, on the local cluster.

The router here (`annotatedWeight`) splits traffic by pods, as `replicas` does,
and tells an (imaginary) data plane the canary's weight through an annotation
on the team's Service: a cluster object of its own that it reads back on every
pass, writes by its own action and gives back at deletion. It needs no RBAC
beyond the chart's (the Service is listed, watched and patched anyway).

What it took, and nothing else: a `TrafficRouter` (pure), a `RouterAdapter`
(cluster reads and writes), one `register` call on each registry, and a CRD
generated with the kind registered (the CRD's enum comes from the registry).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rollout_helpers import (
    GATED_SELECTOR,
    TEAM_SELECTOR,
    ChartRbac,
    GateWorld,
    assert_clean_log,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    history_reasons,
    wait_until,
)

from deploymentgate.controller import routers as adapters
from deploymentgate.core import routers as core_routers
from deploymentgate.core.actions import Action, RouterAction
from deploymentgate.core.inputs import Conflict
from deploymentgate.core.routers.base import Fleet, HandBack, Layout, PodRouter
from deploymentgate.manifests import crdgen
from deploymentgate_devkit.testing import OperatorProcess

if TYPE_CHECKING:
    from deploymentgate.controller.identity import GateIdentity
    from deploymentgate.controller.world import World
    from deploymentgate.k8s.api import KubeApi
    from deploymentgate_devkit.sandbox import Sandbox

KIND = "annotatedWeight"
ANNOTATION = "recipe.deploymentgate.dev/canary-weight"
REPLICAS = 2
STEPS = [50, 100]
CRD = Path(__file__).resolve().parents[2] / "deploy" / "crds" / f"{crdgen.CRD_NAME}.yaml"

# ------------------------------------------------------------- the pure router


@dataclass(frozen=True)
class WeightRead:
    """The router's state: the annotation as read back (None: absent)."""

    weight: int | None


@dataclass(frozen=True)
class AnnotateWeight(RouterAction):
    weight: int


@dataclass(frozen=True)
class RemoveWeight(RouterAction):
    pass


@dataclass(frozen=True)
class WeightLayout(Layout):
    weight: int | None = None  # the annotation it needs now (None: leave it)


def _read(fleet: Fleet | object) -> int | None:
    state = fleet.router_state if isinstance(fleet, Fleet) else fleet
    return state.weight if isinstance(state, WeightRead) else None


class AnnotatedWeightRouter(PodRouter):
    """Stable and canary at full size during the steps; the weight in the annotation."""

    kind = KIND

    def step(self, fleet: Fleet, weight: int, previous: int, *, shifted: bool) -> Layout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        replicas = {r: n for r in (stable, canary) if r is not None}
        ready = canary is not None and fleet.rolled_out(canary, n)
        return WeightLayout(
            replicas=replicas,
            remove=fleet.strays() if fleet.ready(stable) >= n else (),
            in_effect=ready and _read(fleet) == weight,
            summary=f"weight {weight} annotated (reads {_read(fleet)})",
            weight=weight if ready else None,
        )

    def promote(self, fleet: Fleet) -> Layout:
        n, stable, canary = fleet.total, fleet.stable, fleet.canary
        replicas = {canary: n} if canary is not None else {}
        moved = canary is not None and fleet.rolled_out(canary, n) and _read(fleet) == 100
        if stable is not None and stable != canary and fleet.of(stable).exists:
            replicas[stable] = 0 if moved else fleet.of(stable).replicas
        return WeightLayout(
            replicas=replicas,
            remove=fleet.strays(),
            in_effect=moved and fleet.rolled_out(stable, 0),
            summary=f"weight 100 annotated (reads {_read(fleet)})",
            weight=100 if canary is not None and fleet.rolled_out(canary, n) else None,
        )

    def stable_only(self, fleet: Fleet, *, evict: frozenset[str] = frozenset()) -> Layout:
        n, stable = fleet.total, fleet.stable
        settled = fleet.rolled_out(stable, n) and _read(fleet) == 0
        replicas = {stable: n} if stable is not None else {}
        others, remove = fleet.drain_others(
            evict, evict_now=fleet.ready(stable) > 0, settled=settled
        )
        replicas.update(others)
        return WeightLayout(
            replicas=replicas,
            remove=tuple(remove),
            in_effect=settled and all(fleet.of(r).replicas == 0 for r in evict if r != stable),
            summary=f"{fleet.ready(stable)}/{n} ready on stable",
            weight=0,
        )

    def actions(self, fleet: Fleet, layout: Layout) -> list[Action]:
        if isinstance(layout, WeightLayout) and layout.weight not in (None, _read(fleet)):
            return [AnnotateWeight(layout.weight)]
        return []

    def hand_back(self, state: object) -> HandBack | None:
        if _read(state) is None:
            return None
        return HandBack((RemoveWeight(),), "gate deleted: removing the weight annotation")

    def status_lines(self, status: Mapping[str, Any]) -> list[str]:
        return [f"Annotated weight: {status.get('canaryWeight', 0)}"]


# ---------------------------------------------------------- its cluster adapter


class AnnotatedWeightAdapter:
    kind = KIND
    actions: tuple[type[RouterAction], ...] = (AnnotateWeight, RemoveWeight)

    def identity(
        self, traffic: Mapping[str, Any], *, namespace: str, service: str | None
    ) -> object:
        return service

    async def read(self, api: KubeApi, me: GateIdentity) -> object:
        if not isinstance(me.traffic, str):
            return None
        service = await api.read_service(me.namespace, me.traffic)
        return ((service.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION, "")

    def observe(self, me: GateIdentity, world: World, reads: object) -> object:
        return WeightRead(int(reads) if isinstance(reads, str) and reads else None)

    def conflicts(self, me: GateIdentity, world: World) -> list[Conflict]:
        return []

    def interest(self, me: GateIdentity) -> set[tuple[str, str, str]]:
        return set()

    async def apply(
        self,
        api: KubeApi,
        action: RouterAction,
        *,
        me: GateIdentity,
        world: World,
    ) -> None:
        value = str(action.weight) if isinstance(action, AnnotateWeight) else None
        patch = {"metadata": {"annotations": {ANNOTATION: value}}}
        await api.core.patch_namespaced_service(
            str(me.traffic), me.namespace, patch, _content_type="application/merge-patch+json"
        )


def register_recipe() -> None:
    """The two registry lines (the operator process runs this before `run`)."""
    core_routers.register(AnnotatedWeightRouter())
    adapters.register(AnnotatedWeightAdapter())


def unregister_recipe() -> None:
    core_routers.unregister(KIND)
    adapters.unregister(KIND)


# ------------------------------------------------------------------ the test


class RecipeOperator(OperatorProcess):
    """`deploymentgate run` with the recipe's router registered first."""

    def argv(self) -> list[str]:
        launch = (
            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
            " import test_router_recipe as recipe; recipe.register_recipe();"
            " from deploymentgate.cli import main; raise SystemExit(main())"
        )
        argv = super().argv()
        assert argv[1:3] == ["-m", "deploymentgate"], argv
        return [sys.executable, "-c", launch, *argv[3:]]


@pytest.fixture
def recipe_crd(cluster: Sandbox, gate_crd: str) -> Iterator[str]:
    """The router registered here, and the CRD generated with it on the cluster;
    afterwards the shipped CRD (which the generator, without it, reproduces)."""
    register_recipe()
    try:
        _apply_crd(cluster, crdgen.render())
        yield KIND
    finally:
        unregister_recipe()
        assert crdgen.render() == CRD.read_text()
        _apply_crd(cluster, CRD.read_text())


def _apply_crd(cluster: Sandbox, text: str) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=operator-tests",
        "-f", "-", input=text,
    )  # fmt: skip


def test_a_registered_router_kind_is_adopted_stepped_promoted_and_handed_back(
    recipe_crd: str,
    world: GateWorld,
    chart_rbac: ChartRbac,
    tmp_path: Path,
) -> None:
    assert (
        KIND
        in crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
            "spec"
        ]["properties"]["traffic"]["properties"]["router"]["enum"]
    )
    operator = RecipeOperator(
        chart_rbac.grant(world.namespace), tmp_path / "operator.log", namespaces=[world.namespace]
    )
    try:
        world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
        operator.start()
        traffic = {"router": KIND, "steps": STEPS, "stepDuration": "4s", "progressDeadline": "90s"}
        world.apply(gate(gate_spec(traffic=traffic)))

        world.wait_phase("Idle", 90)
        assert world.service_selector() == GATED_SELECTOR
        assert _annotation(world) == "0"  # written by the router's own action, read back

        world.set_version("v2")
        seen: set[str | None] = set()

        def promoted() -> bool:
            seen.add(_annotation(world))
            return world.status().get("phase") == "Promoted"

        wait_until(promoted, 150, describe=world.diagnostics, what="phase Promoted", interval=0.2)
        status = world.status()
        assert "50" in seen, seen  # the first step's weight was in the annotation
        shifted = [h["message"] for h in status["history"] if h["reason"] == "TrafficShifted"]
        assert [m.split("%")[0] for m in shifted] == [str(w) for w in STEPS], shifted
        assert history_reasons(status)[-1] == "Promoted"
        assert status["stableRevision"] == status["revision"]
        wait_until(
            lambda: world.serving_versions() == {"v2": REPLICAS} and _annotation(world) == "0",
            60,
            describe=world.diagnostics,
            what="v2 alone at full size, weight 0 (nothing under test)",
        )

        # Hand-back: the router's annotation goes first, then the Service and
        # the Deployment are given back as always.
        world.kubectl("delete", "deploymentgate/chat", "--wait=false")
        wait_until(
            lambda: world.kubectl("get", "deploymentgate/chat", check=False).returncode != 0,
            90,
            describe=world.diagnostics,
            what="the gate gone",
        )
        assert _annotation(world) is None
        assert world.service_selector() == TEAM_SELECTOR
    except BaseException:
        print(f"\n===== operator log =====\n{operator.log()[-20000:]}")
        raise
    finally:
        operator.stop()
    assert_clean_log(operator)


def _annotation(world: GateWorld) -> str | None:
    service = world.get(f"/api/v1/namespaces/{world.namespace}/services/chat")
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ANNOTATION)
    return None if value is None else str(value)
