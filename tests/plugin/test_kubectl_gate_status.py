"""`kubectl gate status` without a cluster: the tree it draws from the objects
the API server returns. The same command on a live rollout is in
tests/e2e/test_plugin_views_live.py."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploymentgate.plugin.cli import build_parser
from deploymentgate.plugin.status import CLEAR, Snapshot, age, frames, render, show

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
UID = "gate-uid-1"
STABLE, NEW = "6b7c8d9e0f", "5a4b3c2d1e"


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner(uid: str = UID) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "rollout.deploymentgate.dev/v1alpha1",
            "kind": "DeploymentGate",
            "name": "chat",
            "uid": uid,
            "controller": True,
        }
    ]


def deployment(
    name: str, role: str, revision: str, replicas: int, ready: int, uid: str = UID
) -> dict[str, Any]:
    selector = {"deploymentgate.dev/gate": "chat", "deploymentgate.dev/role": role}
    if role == "serving":
        selector["deploymentgate.dev/revision"] = revision
    return {
        "metadata": {
            "name": name,
            "uid": f"d-{name}",
            "resourceVersion": "1",
            "labels": {**selector, "deploymentgate.dev/revision": revision},
            "ownerReferences": owner(uid),
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}},
        "status": {"readyReplicas": ready},
    }


def pod(
    name: str,
    role: str,
    revision: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    age_s: int = 30,
    waiting: str | None = None,
    parked: bool = False,
) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    serving = {"deploymentgate.dev/serving": "chat"} if role == "serving" and not parked else {}
    return {
        "metadata": {
            "name": name,
            "uid": f"p-{name}",
            "resourceVersion": "1",
            "creationTimestamp": ago(age_s),
            "labels": {
                "deploymentgate.dev/gate": "chat",
                "deploymentgate.dev/role": role,
                "deploymentgate.dev/revision": revision,
                **serving,
            },
        },
        "spec": {"containers": [{"name": "chat"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "chat", "ready": ready, "restartCount": restarts, "state": state}
            ],
        },
    }


def event(reason: str, message: str, seconds_ago: int, kind: str = "Normal") -> dict[str, Any]:
    return {
        "metadata": {"name": f"chat.{reason}", "uid": f"e-{reason}", "resourceVersion": "1"},
        "involvedObject": {"kind": "DeploymentGate", "name": "chat", "uid": UID},
        "type": kind,
        "reason": reason,
        "message": message,
        "lastTimestamp": ago(seconds_ago),
    }


def the_gate(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "chat", "namespace": "team", "uid": UID, "resourceVersion": "7"},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": "chat"},
            "traffic": {"steps": [25, 50, 100]},
            "approvals": {"required": ["qa", "engineering-lead"]},
        },
        "status": {
            "stableRevision": STABLE,
            "stableImages": ["chat-backend:v1"],
            "revision": NEW,
            "images": ["chat-backend:v2"],
            **status,
        },
    }


PROBES = {
    "startup": {
        "ok": True,
        "message": "5 phases in order in 2.1s",
        "lastRun": ago(40),
        "lastSuccess": ago(40),
        "values": {"total_seconds": 2.1, "phases_observed": 5.0, "phases_declared": 5.0},
    },
    "health": {
        "ok": False,
        "message": "503 from /health",
        "lastRun": ago(1),
        "lastSuccess": ago(9),
        "failingSince": ago(8),
        "consecutiveFailures": 4,
        "values": {"latency_ms": 3.25, "status_code": 503.0},
    },
}


def test_verifying_shows_the_stable_pods_and_the_verification_pod_at_zero_percent() -> None:
    snapshot = Snapshot(
        the_gate(
            phase="Verifying",
            phaseSince=ago(12),
            message="verifying revision 5a4b3c2d1e at 0% of traffic",
            canaryWeight=0,
            probes=PROBES,
            signOffs=[
                {"role": "qa", "approver": "alice", "time": ago(5), "name": "chat-qa-1a2b"},
            ],
        ),
        deployments=[
            deployment(f"chat-{STABLE}", "serving", STABLE, 2, 2),
            deployment("chat-verify", "verify", NEW, 1, 0),
        ],
        pods=[
            pod(f"chat-{STABLE}-aaa-1", "serving", STABLE, age_s=3600),
            pod(f"chat-{STABLE}-aaa-2", "serving", STABLE, restarts=2, age_s=3600),
            pod("chat-verify-bbb-1", "verify", NEW, ready=False, age_s=14),
        ],
        events=[
            event("ProbePassed", "startup probe passed for revision 5a4b3c2d1e", 40),
            event("ProbeFailed", "health probe failed: 503", 8, "Warning"),
            event("Verifying", "verifying revision 5a4b3c2d1e", 12),
        ],
    )

    lines = render(snapshot, NOW)

    assert lines[:7] == [
        "Name:      chat",
        "Namespace: team",
        "Target:    deployment/chat",
        "Phase:     Verifying (for 12s)",
        "Message:   verifying revision 5a4b3c2d1e at 0% of traffic",
        "Router:    replicas",
        "Weights:   stable 100%, revision under test 0%  (steps 25, 50, 100%)",
    ]
    text = "\n".join(lines)
    assert (
        "Revisions:\n"
        f"├── stable revision {STABLE}  chat-backend:v1\n"
        f"│   └── Deployment chat-{STABLE}  (serving)  ready 2/2\n"
        f"│       ├── ✔ Pod chat-{STABLE}-aaa-1  Running  ready 1/1  restarts 0  age 60m\n"
        f"│       └── ✔ Pod chat-{STABLE}-aaa-2  Running  ready 1/1  restarts 2  age 60m\n"
        f"└── revision under test {NEW}  chat-backend:v2\n"
        "    └── Deployment chat-verify  (verification, 0% of traffic)  ready 0/1\n"
        "        └── ◌ Pod chat-verify-bbb-1  Running  ready 0/1  restarts 0  age 14s\n"
    ) in text
    assert (
        f"Probes (revision {NEW}):\n"
        "  startup    ✅  5 phases in order in 2.1s\n"
        "                phases observed 5/5, last run 40s ago, last success 40s ago\n"
        "                total_seconds 2.1, phases_observed 5, phases_declared 5\n"
        "  health     ❌  503 from /health\n"
        "                last run 1s ago, last success 9s ago, failing for 8s,"
        " 4 failures in a row\n"
        "                latency_ms 3.25, status_code 503\n"
    ) in text
    assert (
        "Sign-offs:\n"
        "  qa                 ✅ alice, 5s ago (gateapproval/chat-qa-1a2b)\n"
        "  engineering-lead   ⏳ waiting\n"
    ) in text
    # Events oldest first, as kubectl describe lists them.
    assert text.endswith(
        "Events (last 3):\n"
        "  40s  Normal   ProbePassed  startup probe passed for revision 5a4b3c2d1e\n"
        "  12s  Normal   Verifying    verifying revision 5a4b3c2d1e\n"
        "  8s   Warning  ProbeFailed  health probe failed: 503"
    )


def test_progressing_shows_both_serving_deployments_and_the_current_step() -> None:
    snapshot = Snapshot(
        the_gate(
            phase="Progressing",
            phaseSince=ago(200),
            canaryWeight=50,
            step=1,
            stepSince=ago(40),
            stepReadySince=ago(25),
        ),
        deployments=[
            deployment(f"chat-{STABLE}", "serving", STABLE, 1, 1),
            deployment(f"chat-{NEW}", "serving", NEW, 1, 1),
        ],
        pods=[
            pod(f"chat-{STABLE}-aaa-1", "serving", STABLE),
            pod(f"chat-{NEW}-ccc-1", "serving", NEW, waiting="CrashLoopBackOff", restarts=3),
        ],
    )

    text = "\n".join(render(snapshot, NOW))

    assert "Phase:     Progressing (for 3m20s)" in text
    assert "Weights:   stable 50%, revision under test 50%  (steps 25, 50, 100%)" in text
    assert "Step:      2 of 3: 25, [50], 100%, for 40s, pods ready for 25s" in text
    assert (
        f"└── revision under test {NEW}  chat-backend:v2\n"
        f"    └── Deployment chat-{NEW}  (serving)  ready 1/1\n"
        f"        └── ◌ Pod chat-{NEW}-ccc-1  CrashLoopBackOff  ready 1/1  restarts 3  age 30s"
    ) in text
    assert "chat-verify" not in text
    assert text.endswith("Events: none")


def test_only_deployments_this_gate_controls_are_drawn() -> None:
    """A Deployment that copies the gate's labels, or one a previous gate of the
    same name owned, is not this gate's."""
    snapshot = Snapshot(
        the_gate(phase="Idle", revision=STABLE),
        deployments=[
            deployment(f"chat-{STABLE}", "serving", STABLE, 2, 2),
            deployment("impostor", "serving", STABLE, 5, 5, uid="someone-else"),
        ],
        pods=[pod(f"chat-{STABLE}-aaa-1", "serving", STABLE)],
        events=[
            {
                **event("Old", "from a deleted gate", 5),
                "involvedObject": {"kind": "DeploymentGate", "name": "chat", "uid": "old-uid"},
            }
        ],
    )

    text = "\n".join(render(snapshot, NOW))

    assert "impostor" not in text
    assert f"Deployment chat-{STABLE}  (serving)  ready 2/2" in text
    assert "Weights:   stable 100%  (steps 25, 50, 100%)" in text
    assert "── revision under test" not in text  # the stable one is not under test
    assert "from a deleted gate" not in text


def test_a_rolled_back_gate_says_which_trigger_and_why() -> None:
    snapshot = Snapshot(
        the_gate(
            phase="RolledBack",
            rollbackTrigger="healthFailing",
            rollbackReason="health failing for 5s (503 from /health)",
            routes=[
                {"name": "chat", "stableWeight": 100, "canaryWeight": 0},
                {"name": "chat-admin", "message": "no rule points at Service chat"},
            ],
        ),
        deployments=[deployment(f"chat-{STABLE}", "serving", STABLE, 2, 2)],
    )

    text = "\n".join(render(snapshot, NOW))

    assert "Rejected:  healthFailing: health failing for 5s (503 from /health)" in text
    assert f"└── revision under test {NEW}  chat-backend:v2\n    └── no Deployment (yet)" in text
    assert (
        "Routes (gatewayAPI):\n"
        "  httproute/chat  stable 100%, canary 0%\n"
        "  httproute/chat-admin  not managed  no rule points at Service chat"
    ) in text


def test_a_watched_promotion_shows_the_time_left_and_the_previous_pods_out_of_traffic() -> None:
    until = (NOW + timedelta(seconds=272)).strftime("%Y-%m-%dT%H:%M:%SZ")
    gate = the_gate(
        phase="Promoted",
        stableRevision=NEW,
        stableImages=["chat-backend:v2"],
        previousRevision=STABLE,
        watchUntil=until,
    )
    snapshot = Snapshot(
        gate,
        deployments=[
            deployment(f"chat-{NEW}", "serving", NEW, 1, 1),
            deployment(f"chat-{STABLE}", "serving", STABLE, 1, 1),
        ],
        pods=[
            pod(f"chat-{NEW}-ccc-1", "serving", NEW, age_s=400),
            pod(f"chat-{STABLE}-aaa-1", "serving", STABLE, age_s=3600, parked=True),
        ],
    )

    text = "\n".join(render(snapshot, NOW))

    assert (
        f"Watch:     after promotion, until {until} (4m32s left): revision {STABLE} runs on"
        " out of traffic and a trigger reverts to it at once (kubectl gate promote ends the"
        " watch, abort reverts now)"
    ) in text
    assert (
        f"└── previous revision {STABLE}  kept out of traffic for a revert\n"
        f"    └── Deployment chat-{STABLE}  (serving)  ready 1/1\n"
        f"        └── ✔ Pod chat-{STABLE}-aaa-1  Running  ready 1/1  restarts 0  age 60m"
        "  out of traffic\n"
    ) in text
    assert f"✔ Pod chat-{NEW}-ccc-1  Running  ready 1/1  restarts 0  age 6m40s\n" in text


def test_many_probe_numbers_wrap_at_a_hundred_columns() -> None:
    values = {f"latency_ms_event_{i}": 1.5 for i in range(12)}
    probes = {"websocket": {"ok": True, "message": "5/5 events", "values": values}}
    lines = render(Snapshot(the_gate(phase="Verifying", probes=probes)), NOW)
    numbers = [line for line in lines if "latency_ms_event_" in line]
    assert len(numbers) > 1 and all(len(line) <= 100 for line in numbers)
    assert ", ".join(line.strip().rstrip(",") for line in numbers) == ", ".join(
        f"{k} 1.5" for k in values
    )


def test_only_the_last_five_events_are_shown() -> None:
    events = [event(f"Reason{i}", f"message {i}", 100 - i) for i in range(8)]
    text = "\n".join(render(Snapshot(the_gate(phase="Idle"), events=events), NOW))
    shown = text.split("Events (last 5):\n")[1].splitlines()
    assert [line.split()[2] for line in shown] == [f"Reason{i}" for i in range(3, 8)]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (119, "119s"), (200, "3m20s"), (900, "15m"), (4 * 3600, "4h"), (3 * 86400, "3d")],
)
def test_ages_read_as_kubectl_prints_them(seconds: int, shown: str) -> None:
    assert age(ago(seconds), NOW) == shown


def test_watch_redraws_only_when_something_read_changed() -> None:
    idle = Snapshot(the_gate(phase="Idle"))
    verifying = Snapshot(
        {
            **the_gate(phase="Verifying"),
            "metadata": {**idle.gate["metadata"], "resourceVersion": "8"},
        }
    )
    reads = iter([idle, idle, verifying, verifying])
    slept: list[float] = []

    drawn = list(
        frames(lambda: next(reads), clock=lambda: NOW, interval=1.0, sleep=slept.append, rounds=4)
    )

    assert [f[3] for f in drawn] == ["Phase:     Idle", "Phase:     Verifying"]
    assert slept == [1.0, 1.0, 1.0]


def test_frames_replace_each_other_on_a_terminal_and_follow_each_other_in_a_pipe() -> None:
    drawn = [["Phase: Idle", "x"], ["Phase: Verifying", "y"]]
    terminal, pipe = io.StringIO(), io.StringIO()
    show(iter(drawn), terminal, terminal=True)
    show(iter(drawn), pipe, terminal=False)
    assert terminal.getvalue() == f"{CLEAR}Phase: Idle\nx\n{CLEAR}Phase: Verifying\ny\n"
    assert pipe.getvalue() == "Phase: Idle\nx\n\nPhase: Verifying\ny\n"


def test_status_needs_a_gate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["status"])
    assert exit_info.value.code == 2
    assert "gate" in capsys.readouterr().err
    args = build_parser().parse_args(["status", "chat", "-w", "-n", "team"])
    assert (args.gate, args.watch, args.namespace) == ("chat", True, "team")


def test_metric_checks_show_a_line_each_and_say_which_only_dry_run() -> None:
    metrics = {
        "ok": True,
        "message": "1/1 checks passed",
        "values": {"p95": 0.2, "shadow": 0.9},
        "checks": [
            {"name": "p95", "ok": True, "message": "0.2, at most 0.25"},
            {
                "name": "shadow",
                "ok": False,
                "message": "0.9, not at most 0.5",
                "dryRun": True,
                "consecutiveFailures": 4,
            },
        ],
    }
    lines = render(Snapshot(the_gate(phase="Progressing", probes={"metrics": metrics})), NOW)
    text = "\n".join(lines)
    assert "  metrics    ✅  1/1 checks passed" in text
    assert "                p95 ✅  0.2, at most 0.25\n" in text
    assert "                shadow ❌  0.9, not at most 0.5 (dry run, 4 failures in a row)" in text
    assert "p95 0.2" not in text  # the values are in the checks' lines
