"""Smoke-test Jobs on the adapter's side: what the index keeps of a Job, which Jobs
are the gate's, the executor's create/delete calls, and what a finished Job's
pod says (its exit code and log tail). The API is a recorder or a stub; the
real calls run on the cluster in tests/e2e/test_operator_smoke_job.py."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from deploymentgate.controller.executor import Executor
from deploymentgate.controller.gate import identity
from deploymentgate.controller.jobs import JobInfo, pod_outcome, summarize_job
from deploymentgate.controller.observe import smoke_jobs
from deploymentgate.controller.world import World
from deploymentgate.core import EnsureSmokeJob, RemoveSmokeJob
from deploymentgate.k8s.api import Conflict, KubeApi, NotFound, NotOwned
from deploymentgate.k8s.builders import build_smoke_job

NS = "shop"
GATE = {
    "metadata": {"name": "chat", "namespace": NS, "uid": "uid-gate"},
    "spec": {"targetRef": {"kind": "Deployment", "name": "chat"}, "service": "chat"},
}
ME = identity(GATE)
TEMPLATE = {"spec": {"containers": [{"name": "smoke", "image": "curl"}]}}
REV = "86651c9f58d3e1a2"


def job(revision: str = REV, *, uid: str = "uid-job", **status: Any) -> dict[str, Any]:
    body = build_smoke_job(
        ME.owner, "chat", revision, url="http://10.0.0.9:8000", template=TEMPLATE,
        timeout_seconds=60, url_env="SMOKE_URL",
    )  # fmt: skip
    body["metadata"]["uid"] = uid
    body["status"] = status
    return body


def condition(kind: str, reason: str = "") -> dict[str, Any]:
    return {"conditions": [{"type": kind, "status": "True", "reason": reason}]}


def world(*bodies: dict[str, Any]) -> World:
    return World(jobs={(NS, "chat"): [summarize_job(b) for b in bodies]})


class RecordingApi:
    def __init__(
        self,
        pods: list[dict[str, Any]] | None = None,
        log: str = "",
        taken_by: dict[str, Any] | None = None,
    ) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.pods = pods or []
        self.log = log
        self.taken_by = taken_by  # the Job already at the name a create asks for

    async def create_job(self, body: dict[str, Any]) -> None:
        self.calls.append(("create_job", (body,), {}))
        if self.taken_by is not None:
            raise Conflict(409, "jobs.batch already exists")

    async def read_job(self, namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("read_job", (namespace, name), {}))
        assert self.taken_by is not None
        return self.taken_by

    async def delete_owned_job(self, namespace: str, name: str, *, uid: str) -> None:
        self.calls.append(("delete_owned_job", (namespace, name), {"uid": uid}))

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.calls.append(("list_pods", (namespace, label_selector), {}))
        return self.pods

    async def read_pod_log(self, namespace: str, pod: str, container: str, **kw: Any) -> str:
        self.calls.append(("read_pod_log", (namespace, pod, container), kw))
        if not self.log:
            raise NotFound(404, "no log")
        return self.log


def test_the_index_summary_says_finished_succeeded_and_why_it_failed() -> None:
    running = summarize_job(job(active=1)).state
    assert not running.finished and running.name == f"chat-smoke-{REV}"
    done = summarize_job(job(**condition("Complete"))).state
    assert done.finished and done.succeeded
    failed = summarize_job(job(**condition("Failed", "DeadlineExceeded"))).state
    assert failed.finished and not failed.succeeded and failed.reason == "DeadlineExceeded"
    # Kubernetes 1.31+ says FailureTarget first, while the pod is still there to read.
    early = summarize_job(job(**condition("FailureTarget", "BackoffLimitExceeded"))).state
    assert early.finished and not early.succeeded


def test_only_jobs_the_gate_controls_and_named_for_their_revision_are_its_own() -> None:
    theirs = job("aaaa", uid="uid-x")
    theirs["metadata"]["ownerReferences"][0]["uid"] = "another-gate"
    renamed = job("bbbb", uid="uid-y")
    renamed["metadata"]["labels"]["deploymentgate.dev/revision"] = "cccc"  # label edited
    found = smoke_jobs(ME, world(job(), theirs, renamed))
    assert list(found) == [REV]


async def test_the_executor_creates_the_job_and_deletes_only_its_own_by_uid() -> None:
    api = RecordingApi()
    executor = Executor(cast(KubeApi, api))
    action = EnsureSmokeJob(REV, "http://10.0.0.9:8000", TEMPLATE, 60, "SMOKE_URL")
    await executor.apply(action, gate=ME, world=world())
    expected = job()
    del expected["metadata"]["uid"], expected["status"]
    assert api.calls == [("create_job", (expected,), {})]

    api.calls.clear()
    await executor.apply(RemoveSmokeJob(REV), gate=ME, world=world(job()))
    assert api.calls == [("delete_owned_job", (NS, f"chat-smoke-{REV}"), {"uid": "uid-job"})]

    api.calls.clear()
    foreign = copy.deepcopy(job())
    foreign["metadata"]["ownerReferences"][0]["uid"] = "another-gate"
    await executor.apply(RemoveSmokeJob(REV), gate=ME, world=world(foreign))
    await executor.apply(RemoveSmokeJob(REV), gate=ME, world=world())
    assert api.calls == []  # not ours, or gone already: nothing is deleted


async def test_a_taken_job_name_is_fine_only_when_the_job_there_is_the_gates_own() -> None:
    action = EnsureSmokeJob(REV, "http://10.0.0.9:8000", TEMPLATE, 60, "SMOKE_URL")
    ours = RecordingApi(taken_by=job())  # created a moment ago; the index lags
    await Executor(cast(KubeApi, ours)).apply(action, gate=ME, world=world())
    assert [c[0] for c in ours.calls] == ["create_job", "read_job"]

    foreign = job()
    del foreign["metadata"]["ownerReferences"]
    theirs = RecordingApi(taken_by=foreign)
    with pytest.raises(NotOwned, match=f"Job chat-smoke-{REV} exists and is not owned by gate"):
        await Executor(cast(KubeApi, theirs)).apply(action, gate=ME, world=world())


def pod(name: str, created: str, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"containers": [{"name": "setup"}, {"name": "smoke"}]},
        "status": {"containerStatuses": statuses},
    }


def info() -> JobInfo:
    return summarize_job(job(**condition("Failed", "BackoffLimitExceeded")))


async def test_a_failed_pod_gives_its_exit_code_and_the_tail_of_the_failing_container() -> None:
    statuses = [
        {"name": "setup", "state": {"terminated": {"exitCode": 0}}},
        {"name": "smoke", "state": {"terminated": {"exitCode": 3}}},
    ]
    api = RecordingApi(
        pods=[pod("old", "2026-01-01T00:00:00Z", []), pod("p", "2026-01-01T00:01:00Z", statuses)],
        log="GET /health -> 500\nFAILED",
    )
    detail, log = await pod_outcome(cast(KubeApi, api), info())
    assert (detail, log) == ("exit code 3", "GET /health -> 500\nFAILED")
    assert api.calls[0] == ("list_pods", (NS, "batch.kubernetes.io/controller-uid=uid-job"), {})
    assert api.calls[1] == (
        "read_pod_log", (NS, "p", "smoke"), {"tail_lines": 20, "limit_bytes": 2048}
    )  # fmt: skip


async def test_a_pod_that_never_started_says_why_and_a_gone_pod_says_nothing() -> None:
    waiting = [
        {"name": "smoke", "state": {"waiting": {"reason": "ErrImagePull", "message": "nope"}}}
    ]
    api = RecordingApi(pods=[pod("p", "2026-01-01T00:00:00Z", waiting)])
    detail, log = await pod_outcome(cast(KubeApi, api), info())
    assert detail == "container smoke waiting: ErrImagePull: nope" and log == ""
    assert await pod_outcome(cast(KubeApi, RecordingApi()), info()) == ("", "")
