"""Seed §4 smoke test: one Job per revision at 0% traffic, its exit status a probe verdict.

Pure rules: when the Job starts (only once the app serves), how its verdict
folds (pass lets verification finish, failure rolls back with the log tail),
that no Job is left behind, and that a restarted operator resumes from the
status alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, seconds
from pydantic import ValidationError

from deploymentgate.core import RemoveSmokeJob
from deploymentgate.core.smoke import EVENT_TAIL_CHARS, SLACK, job_name, tail
from deploymentgate.k8s.builders import OwnerRef, build_smoke_job
from deploymentgate.models import GateStatus, Phase, SmokeTest, Trigger, dump, parse_status
from deploymentgate.observations import ProbeKind, SmokeJobState

TEMPLATE: dict[str, Any] = {
    "spec": {"containers": [{"name": "smoke", "image": "curl", "args": ["$(SMOKE_URL)/health"]}]}
}
GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)
LOG = "\n".join(f"line {i}" for i in range(1, 41)) + "\nassertion failed: /api/chat answered 500"


def smoke_sim(**smoke: Any) -> Sim:
    return adopted(gate_spec(probes={"smoke": {"template": TEMPLATE, "timeout": "1m", **smoke}}))


def started(sim: Sim) -> tuple[str, Any]:
    """Ship chat:2 and let it start: startup passes at T0+1m+10s."""
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    sim.tick(t)
    done = t + seconds(10)
    sim.tick(done, [obs_for(ProbeKind.STARTUP, True, done, revision=new)])
    return new, done


def test_no_job_before_startup_passes_then_one_job_with_the_pod_url() -> None:
    sim = smoke_sim(urlEnv="APP_URL")
    new = sim.deploy("chat:2")
    t = T0 + minutes(1)
    decision = sim.tick(t)
    assert "smoke test" in decision.status.message  # VerificationStarted lists it
    sim.tick(t + seconds(5), passing(t + seconds(5), new, GATED))  # startup still running
    assert sim.smoke_created == []
    assert "smoke test (starts once the app serves)" in sim.status.message

    done = t + seconds(10)
    sim.tick(done, [obs_for(ProbeKind.STARTUP, True, done, revision=new)])
    (job,) = sim.smoke_created
    assert (job.revision, job.url, job.url_env, job.timeout_seconds) == (
        new, "http://10.0.0.9:8000", "APP_URL", 60
    )  # fmt: skip
    assert sim.status.probes.smoke is not None and sim.status.probes.smoke.last_run == done
    # Health and WebSocket pass afterwards: verification still waits for the Job.
    later = done + seconds(5)
    sim.tick(later, passing(later, new, GATED))
    assert sim.status.phase is Phase.VERIFYING
    assert "smoke test (Job" in sim.status.message
    assert len(sim.smoke_created) == 1  # one Job per revision, however many passes


def test_a_passing_job_lets_verification_finish_and_is_deleted() -> None:
    sim = smoke_sim()
    new, done = started(sim)
    later = done + seconds(5)
    sim.tick(later, passing(later, new, GATED))
    sim.finish_smoke(new, ok=True, log="smoke: GET http://10.0.0.9:8000/health -> 200\nok")

    decision = sim.tick(later + seconds(1))
    assert decision.status.phase is Phase.PROGRESSING
    smoke = decision.status.probes.smoke
    assert smoke is not None and smoke.ok is True and smoke.message.endswith("succeeded: ok")
    assert RemoveSmokeJob(new) in decision.operations
    assert sim.smoke_jobs == {}
    assert "ProbePassed" in sim.reasons()


def test_a_failing_job_rolls_back_with_its_log_tail_and_is_deleted() -> None:
    sim = smoke_sim()
    new, done = started(sim)
    sim.finish_smoke(new, ok=False, log=LOG)

    decision = sim.tick(done + seconds(3))
    st = decision.status
    assert st.phase is Phase.ROLLED_BACK
    assert st.rollback_trigger is Trigger.SMOKE_TEST_FAILED
    assert "exit code 1" in (st.rollback_reason or "")
    assert "answered 500" in st.message and "answered 500" in (st.rollback_reason or "")
    smoke = st.probes.smoke
    assert smoke is not None and smoke.ok is False
    # The status keeps the last 20 lines, not the whole log.
    assert "line 22" in smoke.message and "line 21\n" not in smoke.message
    failed = [e for e in sim.events if e.reason.value == "ProbeFailed"]
    rolled = [e for e in sim.events if e.reason.value == "RolledBack"]
    assert failed and rolled and failed[0].type.value == rolled[0].type.value == "Warning"
    for event in (failed[0], rolled[0]):
        assert "answered 500" in event.message
        assert len(event.message) <= 1024  # kopf's cut: the tail's end survives
    assert sim.smoke_jobs == {} and sim.verification.exists is False
    assert sim.samples
    assert all(s.serving.get(new, 0) == 0 for s in sim.samples)  # never any traffic


def test_a_job_past_its_deadline_reads_as_such() -> None:
    sim = smoke_sim()
    new, done = started(sim)
    sim.finish_smoke(new, ok=False, reason="DeadlineExceeded")
    st = sim.tick(done + minutes(1)).status
    assert st.rollback_trigger is Trigger.SMOKE_TEST_FAILED
    assert "not done within 1m: DeadlineExceeded" in st.message


def test_no_verdict_within_timeout_and_slack_fails_the_revision() -> None:
    sim = smoke_sim()
    _, done = started(sim)
    decision = sim.tick(done + minutes(1))
    assert decision.status.phase is Phase.VERIFYING
    assert decision.requeue_after is not None
    assert decision.requeue_after <= SLACK  # woken when the backstop comes due
    st = sim.tick(done + minutes(1) + SLACK).status
    assert st.phase is Phase.ROLLED_BACK and st.rollback_trigger is Trigger.SMOKE_TEST_FAILED
    assert "gave no verdict within 1m" in st.message
    assert sim.smoke_jobs == {}


def test_a_restarted_operator_resumes_from_the_status_alone() -> None:
    sim = smoke_sim()
    new, done = started(sim)
    stored: GateStatus = parse_status(dump(sim.status))

    # A new operator, nothing in memory: the Job is found and its verdict taken.
    resumed = Sim(spec=sim.spec, target=sim.target, serving=dict(sim.serving),
                  verification=sim.verification, service=sim.service, status=stored,
                  smoke_jobs=dict(sim.smoke_jobs))  # fmt: skip
    resumed.finish_smoke(new, ok=False, log="boom")
    st = resumed.tick(done + seconds(20)).status
    assert st.phase is Phase.ROLLED_BACK and "boom" in st.message
    assert resumed.smoke_created == []  # no second Job

    # Another: the Job is gone (deleted by hand): it is created again.
    again = Sim(spec=sim.spec, target=sim.target, serving=dict(sim.serving),
                verification=sim.verification, service=sim.service, status=stored)  # fmt: skip
    again.pod_url = ""  # not known yet (e.g. the pod index lags)
    decision = again.tick(done + seconds(20))
    assert again.smoke_created == []
    assert f"smoke test (Job chat-smoke-{new} not created yet)" in decision.status.message
    again.pod_url = "http://10.0.0.9:8000"
    again.tick(done + seconds(21))
    assert [j.revision for j in again.smoke_created] == [new]
    assert again.status.phase is Phase.VERIFYING


def test_a_leftover_job_of_the_same_revision_is_deleted_before_a_fresh_one() -> None:
    sim = smoke_sim()
    new = sim.deploy("chat:2")
    # A passed Job of chat:2 from an earlier verification, not deleted yet.
    sim.smoke_jobs[new] = SmokeJobState(name=f"chat-smoke-{new}", finished=True, succeeded=True)
    t = T0 + minutes(1)
    decision = sim.tick(t)
    assert RemoveSmokeJob(new) in decision.operations
    done = t + seconds(10)
    sim.tick(done, [obs_for(ProbeKind.STARTUP, True, done, revision=new)])
    assert [j.revision for j in sim.smoke_created] == [new]
    later = done + seconds(5)
    sim.tick(later, passing(later, new, GATED))
    assert sim.status.phase is Phase.VERIFYING  # the old verdict was never taken
    smoke = sim.status.probes.smoke
    assert smoke is not None and smoke.ok is None


def test_a_superseded_revision_loses_its_job() -> None:
    sim = smoke_sim()
    new, done = started(sim)
    newer = sim.deploy("chat:3")
    decision = sim.tick(done + seconds(5))
    assert decision.status.revision == newer
    assert RemoveSmokeJob(new) in decision.operations and sim.smoke_jobs == {}


def test_deleting_the_gate_deletes_its_job() -> None:
    sim = smoke_sim()
    new, done = started(sim)
    sim.deleting = True
    decision = sim.tick(done + seconds(5))
    assert RemoveSmokeJob(new) in decision.operations and sim.smoke_jobs == {}


def test_job_names_fit_a_label_value_and_tails_are_bounded() -> None:
    assert job_name("chat", "86651c9f58d3e1a2") == "chat-smoke-86651c9f58d3e1a2"
    long = job_name("a" * 63, "86651c9f58d3e1a2")
    assert len(long) <= 63 and long.endswith("-smoke-86651c9f58d3e1a2")
    assert job_name("b" * 63, "86651c9f58d3e1a2") != long
    assert len(job_name("chat", "f" * 253)) <= 63
    text = tail("x" * 5000)
    assert len(text) <= 2048 and text.startswith("…")
    assert tail(LOG).count("\n") == 19
    assert EVENT_TAIL_CHARS < 1024


def test_the_job_runs_once_against_the_url_and_belongs_to_the_gate() -> None:
    gate = OwnerRef("prod", "chat", "u-1")
    template: dict[str, Any] = {
        "metadata": {"labels": {"team": "chat", "deploymentgate.dev/serving": "chat"}},
        "spec": {
            "restartPolicy": "OnFailure",
            "containers": [
                {"name": "a", "image": "curl", "env": [{"name": "SMOKE_URL", "value": "x"}]},
                {"name": "b", "image": "curl"},
            ],
        },
    }
    job = build_smoke_job(
        gate, "chat", "abc", url="http://10.0.0.9:8000", template=template,
        timeout_seconds=120, url_env="SMOKE_URL",
    )  # fmt: skip
    assert job["metadata"]["name"] == "chat-smoke-abc"
    assert job["metadata"]["ownerReferences"][0]["controller"] is True
    assert job["metadata"]["labels"]["deploymentgate.dev/role"] == "smoke"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 120
    pod = job["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["automountServiceAccountToken"] is False  # no API token to borrow
    assert "deploymentgate.dev/serving" not in pod["metadata"]["labels"]  # never served
    assert pod["metadata"]["labels"]["team"] == "chat"
    for container in pod["spec"]["containers"]:
        assert [e for e in container["env"] if e["name"] == "SMOKE_URL"] == [
            {"name": "SMOKE_URL", "value": "http://10.0.0.9:8000"}
        ]
    assert template["spec"]["restartPolicy"] == "OnFailure"  # the spec is not modified


def test_a_smoke_template_may_not_name_a_service_account() -> None:
    """Editing a gate must not lend its author another ServiceAccount's rights."""
    for key, value in (("serviceAccountName", "deployer"), ("automountServiceAccountToken", True)):
        spec = {"containers": [{"name": "t", "image": "curl"}], key: value}
        with pytest.raises(ValidationError, match=f"spec.{key} is not allowed"):
            SmokeTest.model_validate({"template": {"spec": spec}})
