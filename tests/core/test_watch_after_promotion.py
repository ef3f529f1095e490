"""The watch after promotion (rollback.watchAfterPromotion, issue 20 item 1).

A promoted revision stays under the rollout's triggers for the window; the
previous revision's pods run on out of the Service (parked: the serving key
off, no restart), and a trigger puts them back at once, the same pods.
"""

from __future__ import annotations

from datetime import datetime

from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, rev, seconds

from deploymentgate.core import (
    EnsureServing,
    GateService,
    ParkServing,
    ProbeRun,
    ProbeWorkload,
    RemoveServing,
    ScaleServing,
)
from deploymentgate.core.commands import Verb
from deploymentgate.models import GateSpec, Phase, Trigger
from deploymentgate.observations import ProbeKind, ProbeObservation

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
STABLE = rev("chat:1")
WATCHED = gate_spec(traffic={"steps": [50, 100]}, rollback={"watchAfterPromotion": "10m"})


def promoted(spec: GateSpec = WATCHED) -> tuple[Sim, str, datetime]:
    """chat:2 verified, stepped 50 -> 100 and promoted with the watch on."""
    sim = adopted(spec=spec)
    sim.calls.clear()  # only the rollout's
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    for _ in range(20):
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
        if sim.status.phase is Phase.PROMOTED:
            return sim, new, t
    raise AssertionError(f"not promoted: {sim.status.phase} {sim.status.message}")


def health(ok: bool, at: datetime, revision: str) -> list[ProbeObservation]:
    return [obs_for(ProbeKind.HEALTH, ok, at, revision=revision, message="503")]


def test_a_promoted_revision_is_watched_with_the_previous_pods_running_out_of_traffic() -> None:
    sim, new, t = promoted()

    st = sim.status
    assert st.stable_revision == new and st.previous_revision == STABLE
    assert st.watch_until == t + minutes(10)
    assert "watched until" in st.message and STABLE in st.message
    # The previous revision runs on at full size, its pods out of the Service.
    assert sim.replicas_of(STABLE) == 10 and STABLE in sim.parked
    assert sim.samples[-1].serving == {new: 10}
    # Capacity behind the Service never dipped, and no pod of it was recreated.
    assert min(s.total for s in sim.samples) >= 10
    assert not any(
        isinstance(a, EnsureServing) and a.revision == STABLE
        for call in sim.calls
        for a in call.decision.operations
    )
    # The promoted revision stays under its probes.
    kinds = frozenset(
        {ProbeKind.STARTUP, ProbeKind.HEALTH, ProbeKind.WEBSOCKET, ProbeKind.ERROR_RATE}
    )
    assert sim.probing == ProbeRun(revision=new, workload=ProbeWorkload.CANARY, kinds=kinds)


def test_a_trigger_in_the_watch_reverts_at_once_to_the_same_pods() -> None:
    sim, new, t = promoted()
    fail = t + minutes(1)
    sim.tick(fail, health(False, fail, new))
    assert sim.status.phase is Phase.PROMOTED

    fired = fail + minutes(5)
    decision = sim.tick(fired, health(False, fired, new))

    st = decision.status
    assert st.phase is Phase.ROLLED_BACK
    assert st.stable_revision == STABLE and st.revision == new
    assert st.rollback_trigger is Trigger.HEALTH_FAILING
    assert st.previous_revision is None and st.watch_until is None
    assert st.stable_images == ["chat:1"]
    assert "reverted after promotion" in st.message
    assert sim.reasons()[-1] == "RevertedAfterPromotion"
    assert st.history[-1].reason == "RevertedAfterPromotion"
    # The parked pods rejoin first; the promoted revision leaves once they serve.
    ops = decision.operations
    assert ops.index(ParkServing(STABLE, False)) < len(ops)
    assert not any(isinstance(a, ScaleServing) and a.revision == new for a in ops)
    sim.settle(fired)
    assert sim.replicas_of(STABLE) == 10 and STABLE not in sim.parked
    assert new not in sim.serving
    assert sim.samples[-1].serving == {STABLE: 10}
    # Behind the Service, never fewer than 10 ready pods, and the stable's never recreated.
    assert min(s.total for s in sim.samples) >= 10
    assert not any(
        isinstance(a, EnsureServing) and a.revision == STABLE
        for call in sim.calls
        for a in call.decision.operations
    )


def test_the_watch_ends_without_a_trigger_and_the_previous_pods_go_without_serving() -> None:
    sim, new, t = promoted()
    almost = t + minutes(10) - seconds(1)
    sim.tick(almost, passing(almost, new, GATED))
    assert sim.status.previous_revision == STABLE

    end = t + minutes(10)
    sim.settle(end)

    st = sim.status
    assert st.phase is Phase.PROMOTED and st.previous_revision is None and st.watch_until is None
    assert "WatchEnded" in sim.reasons()
    assert STABLE not in sim.serving and sim.probing is None
    # Parked pods never rejoined the Service on their way out.
    assert ParkServing(STABLE, False) not in sim.park_writes
    assert all(STABLE not in s.serving for s in sim.samples[-3:])


def test_promote_ends_the_watch_and_abort_reverts_now() -> None:
    sim, new, t = promoted()
    sim.commands[Verb.PROMOTE.annotation] = f"{new}/t1"
    sim.settle(t + seconds(5))
    assert sim.status.phase is Phase.PROMOTED and sim.status.previous_revision is None
    assert STABLE not in sim.serving

    sim, new, t = promoted()
    sim.commands[Verb.ABORT.annotation] = f"{new}/t1"
    sim.settle(t + seconds(5))
    st = sim.status
    assert st.phase is Phase.ROLLED_BACK and st.stable_revision == STABLE
    assert st.rollback_trigger is Trigger.ABORTED
    assert sim.samples[-1].serving == {STABLE: 10}


def test_a_new_revision_during_the_watch_supersedes_it() -> None:
    sim, new, t = promoted()
    newer = sim.deploy("chat:3")
    sim.settle(t + seconds(5))

    st = sim.status
    assert st.phase is Phase.VERIFYING and st.revision == newer
    assert st.stable_revision == new and st.previous_revision is None
    assert "WatchEnded" in sim.reasons()
    assert STABLE not in sim.serving
    assert ParkServing(STABLE, False) not in sim.park_writes


def test_zero_turns_the_watch_off_and_the_previous_revision_goes_at_promotion() -> None:
    spec = gate_spec(traffic={"steps": [50, 100]}, rollback={"watchAfterPromotion": "0s"})
    sim, _, _ = promoted(spec)

    assert sim.status.previous_revision is None and sim.status.watch_until is None
    assert STABLE not in sim.serving and not sim.park_writes
    assert sim.probing is None


def test_a_revert_writes_the_previous_template_back_with_revert_target() -> None:
    spec = gate_spec(
        traffic={"steps": [50, 100]},
        rollback={"watchAfterPromotion": "10m", "revertTarget": True},
    )
    sim, new, t = promoted(spec)
    sim.commands[Verb.ABORT.annotation] = f"{new}/t1"
    sim.settle(t + seconds(5))

    assert sim.target.revision == STABLE and sim.target.template is not None
    assert sim.status.phase is Phase.ROLLED_BACK


def test_removed_serving_deployment_of_the_promoted_revision_is_not_recreated_on_revert() -> None:
    sim, new, t = promoted()
    sim.commands[Verb.ABORT.annotation] = f"{new}/t1"
    sim.settle(t + seconds(5))

    writes = [a for call in sim.calls for a in call.decision.operations]
    assert RemoveServing(new) in writes
    assert ParkServing(STABLE, True) in writes and ParkServing(STABLE, False) in writes


def test_deleting_the_gate_during_the_watch_removes_the_kept_revision_first() -> None:
    sim, new, t = promoted()
    sim.deleting = True

    first = sim.tick(t + seconds(5))

    # Its pods take no traffic; once the Service has its own selector back they
    # would match it, so they go before the hand-back starts.
    assert RemoveServing(STABLE) in first.operations
    assert GateService(False) not in first.operations
    assert STABLE not in sim.serving and ParkServing(STABLE, False) not in sim.park_writes
    for _ in range(10):
        t += seconds(5)
        if sim.tick(t).deletion_complete:
            break
    assert sim.target.revision == new and not sim.serving


def test_frozen_in_the_watch_then_a_new_revision_ends_it() -> None:
    spec = gate_spec(
        traffic={"steps": [50, 100]},
        rollback={"watchAfterPromotion": "10m", "action": "freeze"},
    )
    sim, new, t = promoted(spec)
    fail = t + minutes(1)
    sim.tick(fail, health(False, fail, new))
    sim.tick(fail + minutes(5), health(False, fail + minutes(5), new))
    assert sim.status.phase is Phase.BLOCKED and sim.status.frozen
    assert STABLE in sim.parked  # held as the trigger found it: v1 still kept

    newer = sim.deploy("chat:3")
    sim.settle(fail + minutes(6))

    st = sim.status
    assert st.phase is Phase.VERIFYING and st.revision == newer
    assert st.previous_revision is None and st.watch_until is None
    assert "WatchEnded" in sim.reasons()
    assert STABLE not in sim.serving
