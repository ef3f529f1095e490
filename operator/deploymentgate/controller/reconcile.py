"""One reconcile pass of one gate: observe, decide, write status, act, tell.

Order matters and follows Argo Rollouts: the status is written once, with a
conflict check; only after it lands are workloads changed and Events
recorded, so a lost race (409) repeats nothing and emits nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from pydantic import ValidationError

from deploymentgate.controller.executor import Executor
from deploymentgate.controller.pods import PodInfo, canary_pods, verification_pods
from deploymentgate.controller.probing import GateProber
from deploymentgate.controller.signoffs import PolicyReader
from deploymentgate.controller.triggers import trigger_label
from deploymentgate.controller.workloads import DeploymentInfo, summarize_deployment
from deploymentgate.core import (
    Decision,
    Observations,
    ObservedSignOff,
    PolicyState,
    ProbeWorkload,
    Reason,
    RecordEvent,
    StartProbes,
    StopProbes,
    decide,
    read_spec,
    status_patch,
)
from deploymentgate.core.requires import required_gates
from deploymentgate.k8s.api import Conflict, KubeApi, NotFound
from deploymentgate.k8s.builders import primary_name, verify_name
from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateSpec, GateStatus, Phase, dump, parse_status
from deploymentgate.observations import WorkloadState

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
ABSENT = WorkloadState(exists=False)


def spec_error(raw: Any) -> tuple[GateSpec | None, str | None]:
    """Validate the spec; on failure, a message naming the first bad field."""
    if not isinstance(raw, dict):
        return None, "spec: missing"
    return read_spec(raw)


class GateReconciler:
    """Everything one gate needs between passes: its prober and nothing else."""

    def __init__(
        self,
        namespace: str,
        name: str,
        api: KubeApi,
        metrics: GateMetrics,
        clock: Clock = lambda: datetime.now(UTC),
        policy: PolicyReader | None = None,
    ) -> None:
        self.namespace, self.name = namespace, name
        self.policy = policy  # None: no sign-off counts
        self.api = api
        self.metrics = metrics
        self.clock = clock
        self.prober = GateProber(namespace, name, metrics)
        self.executor = Executor(api)

    async def reconcile(
        self,
        body: Mapping[str, Any],
        deployments: Mapping[tuple[str, str], DeploymentInfo],
        pods: list[PodInfo],
        gates: Mapping[tuple[str, str], dict[str, Any]],
        *,
        deleting: bool = False,
        sign_offs: Sequence[ObservedSignOff] = (),
    ) -> Decision:
        gate = _plain(body)
        deployments = await self._confirm_target(gate, deployments)
        signed = (tuple(sign_offs), await self._policy_state())
        for attempt in range(3):
            decision, probes = self._decide(gate, deployments, gates, deleting, signed)
            stored = gate.get("status") or {}
            patch = _with_unstored(
                status_patch(parse_status_safe(stored), decision.status), stored, decision
            )
            if patch is None:
                break
            try:
                await self.api.patch_gate_status(
                    self.namespace, self.name, gate["metadata"]["resourceVersion"], patch
                )
                break
            except Conflict:
                # Someone wrote the gate since we read it: read again, decide again,
                # and keep the probe results for that second decision.
                self.prober.requeue(probes)
                if attempt == 2:
                    raise
                gate = await self.api.get_gate(self.namespace, self.name)
            except NotFound:
                return decision
        await self._act(gate, decision, deployments, pods)
        return decision

    async def _confirm_target(
        self, gate: dict[str, Any], deployments: Mapping[tuple[str, str], DeploymentInfo]
    ) -> Mapping[tuple[str, str], DeploymentInfo]:
        """Never call a Deployment missing on the index's word alone.

        kopf's indexes can lag (a standby that just took over, a slow list), and
        "target missing" blocks the rollout; one live read settles it.
        """
        target = _target_name(gate)
        key = (self.namespace, target or "")
        if target is None or key in deployments:
            return deployments
        live = await self.api.find_deployment(self.namespace, target)
        if live is None:
            return deployments
        return {**deployments, key: summarize_deployment(live)}

    async def _policy_state(self) -> PolicyState:
        if self.policy is None:
            return PolicyState(False, "this operator does not read the admission policy")
        return await self.policy.state()

    def _decide(
        self,
        gate: dict[str, Any],
        deployments: Mapping[tuple[str, str], DeploymentInfo],
        gates: Mapping[tuple[str, str], dict[str, Any]],
        deleting: bool,
        signed: tuple[tuple[ObservedSignOff, ...], PolicyState],
    ) -> tuple[Decision, tuple[Any, ...]]:
        spec, error = spec_error(gate.get("spec"))
        status = parse_status_safe(gate.get("status"))
        meta = gate["metadata"]
        target = _target_name(gate)
        probes = tuple(self.prober.drain())
        obs = Observations(
            target=_state(deployments, self.namespace, target),
            primary=_state(deployments, self.namespace, primary_name(target)) if target else ABSENT,
            verification=(
                _state(deployments, self.namespace, verify_name(target)) if target else ABSENT
            ),
            probes=probes,
            probing=self.prober.plan,
            generation=meta.get("generation"),
            deleting=deleting,
            spec_error=error,
            sign_offs=signed[0],
            sign_off_policy=signed[1],
            created=_created(meta),
            required_gates=required_gates(spec, self.namespace, self.name, gates),
        )
        return decide(spec, status, obs, self.clock()), probes

    async def _act(
        self,
        gate: dict[str, Any],
        decision: Decision,
        deployments: Mapping[tuple[str, str], DeploymentInfo],
        pods: list[PodInfo],
    ) -> None:
        spec, _ = spec_error(gate.get("spec"))
        target_name = _target_name(gate)
        target = deployments.get((self.namespace, target_name or ""))
        for action in decision.operations:
            if isinstance(action, StartProbes):
                if spec is not None:
                    self.prober.start(spec, action.run)
            elif isinstance(action, StopProbes):
                self.prober.stop()
            else:
                await self.executor.apply(action, gate=gate, target=target.body if target else None)
        self._point_prober(target_name or "", pods)
        before = parse_status_safe(gate.get("status"))
        self._observe(before, decision)
        for event in decision.events:
            _post_event(gate, event)

    def _point_prober(self, target: str, pods: list[PodInfo]) -> None:
        plan = self.prober.plan
        if plan is None:
            return
        if plan.workload is ProbeWorkload.VERIFICATION:
            chosen = verification_pods(pods, self.name, plan.revision)
        else:
            chosen = canary_pods(pods, target)
        self.prober.sync_targets(lambda: chosen)

    def _observe(self, before: GateStatus, decision: Decision) -> None:
        after = decision.status
        self.metrics.observe_status(self.namespace, self.name, after)
        if after.phase is not None and after.phase != before.phase:
            self.metrics.transition(self.namespace, self.name, after.phase)
        if any(e.reason is Reason.ROLLED_BACK for e in decision.events):
            self.metrics.rollback(self.namespace, self.name, trigger_label(after.rollback_reason))

    async def aclose(self) -> None:
        await self.prober.aclose()


def parse_status_safe(raw: Any) -> GateStatus:
    """A status we cannot read is treated as empty rather than crashing the loop."""
    try:
        return parse_status(raw if isinstance(raw, dict) else None)
    except ValidationError as exc:
        log.warning("ignoring unreadable status: %s", exc.errors()[:1])
        return GateStatus()


def _with_unstored(
    patch: dict[str, Any] | None, stored: Mapping[str, Any], decision: Decision
) -> dict[str, Any] | None:
    """`status_patch` compares parsed statuses, where a field never written reads as
    its default and so is never written (`canaryWeight: 0` would stay absent and
    the WEIGHT column blank). Write such fields once, as they are."""
    missing = {k: v for k, v in dump(decision.status).items() if k not in stored}
    if not missing:
        return patch
    return {**missing, **(patch or {})}


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": dict(body.get("metadata") or {}),
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }


def _created(meta: Mapping[str, Any]) -> datetime | None:
    raw = meta.get("creationTimestamp")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        return None


def _target_name(gate: Mapping[str, Any]) -> str | None:
    spec = gate.get("spec") or {}
    ref = spec.get("targetRef") if isinstance(spec, dict) else None
    name = ref.get("name") if isinstance(ref, dict) else None
    return name if isinstance(name, str) and name else None


def _state(
    deployments: Mapping[tuple[str, str], DeploymentInfo], namespace: str, name: str | None
) -> WorkloadState:
    info = deployments.get((namespace, name or ""))
    return info.state if info else ABSENT


def _post_event(gate: dict[str, Any], event: RecordEvent) -> None:
    body = kopf.Body(cast(kopf.RawBody, gate))
    kopf.event(body, type=event.type.value, reason=event.reason.value, message=event.message)


__all__ = ["GateReconciler", "Phase", "spec_error"]
