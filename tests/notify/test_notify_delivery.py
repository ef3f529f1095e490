"""Notifications reach a webhook on 127.0.0.1 with the expected JSON, and a
webhook that hangs or fails delays nobody: the sender times out, retries with
backoff a bounded number of times, then gives up with a log line and a metric."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from operating_helpers import IMAGES, NEW, STABLE, entered, progressing, receiver

from deploymentgate.metrics import GateMetrics
from deploymentgate.models import GateSpec, GateStatus, Phase, WebhookType
from deploymentgate.notify import (
    Notifier,
    RetryPolicy,
    SecretRef,
    WebhookSender,
    WebhookTarget,
)

pytestmark = pytest.mark.timeout(30)

NS, GATE = "team-a", "chat"
PROBES_JSON = {
    "startup": {"ok": True, "message": "7 phases in order", "values": {"startup_ms": 1840.0}},
    "health": {
        "ok": True,
        "message": "200 healthy",
        "values": {"latency_ms": 3.2, "checks": 12.0},
    },
    "errorRate": {
        "ok": False,
        "message": "8.1% of 210 requests failed",
        "values": {"error_rate_percent": 8.1, "requests": 210.0},
    },
}
WAITING = "revision 84c6d7f9b verified; waiting for approval by release-manager"
PROMOTED = "revision 84c6d7f9b verified and promoted: serving 100% (4 replicas)"
ROLLED_BACK = (
    "revision 84c6d7f9b rolled back: error rate 8.1% over 5%;"
    " all traffic back on stable revision 6f8b9c7d5"
)
BLOCKED = (
    "blocked: no progress within 10m (step 2 pods not ready);"
    " traffic back on stable revision 6f8b9c7d5"
)


def verifying() -> GateStatus:
    return progressing().model_copy(
        update={"phase": Phase.VERIFYING, "canary_weight": 0, "step": None, "history": []}
    )


def promoting() -> GateStatus:
    return progressing().model_copy(update={"phase": Phase.PROMOTING, "canary_weight": 100})


CASES: dict[str, tuple[GateStatus, GateStatus, dict[str, Any]]] = {
    "AwaitingApproval": (
        verifying(),
        entered(verifying(), Phase.AWAITING_APPROVAL, "Verified", WAITING),
        {
            "previousPhase": "Verifying",
            "reason": "Verified",
            "message": WAITING,
            "rollbackReason": None,
            "canaryWeight": 0,
        },
    ),
    "Promoted": (
        promoting(),
        entered(promoting(), Phase.PROMOTED, "Promoted", PROMOTED, step=None),
        {
            "previousPhase": "Promoting",
            "reason": "Promoted",
            "message": PROMOTED,
            "rollbackReason": None,
            "canaryWeight": 100,
        },
    ),
    "RolledBack": (
        progressing(),
        entered(
            progressing(),
            Phase.ROLLED_BACK,
            "RolledBack",
            ROLLED_BACK,
            rollback_reason="error rate 8.1% over 5%",
            canary_weight=0,
            step=None,
        ),
        {
            "previousPhase": "Progressing",
            "reason": "RolledBack",
            "message": ROLLED_BACK,
            "rollbackReason": "error rate 8.1% over 5%",
            "canaryWeight": 0,
        },
    ),
    "Blocked": (
        progressing(),
        entered(
            progressing(),
            Phase.BLOCKED,
            "Blocked",
            BLOCKED,
            rollback_reason="no progress within 10m (step 2 pods not ready)",
            canary_weight=0,
        ),
        {
            "previousPhase": "Progressing",
            "reason": "Blocked",
            "message": BLOCKED,
            "rollbackReason": "no progress within 10m (step 2 pods not ready)",
            "canaryWeight": 0,
        },
    ),
}


def expected_json(phase: str, varying: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "DeploymentGateTransition",
        "gate": GATE,
        "namespace": NS,
        "phase": phase,
        "revision": NEW,
        "stableRevision": STABLE,
        "images": IMAGES,
        "time": "2026-03-01T12:00:00Z",
        "probes": PROBES_JSON,
        **varying,
    }


@pytest.mark.parametrize("phase", list(CASES))
async def test_each_transition_kind_posts_the_expected_json_and_slack_message(phase: str) -> None:
    before, after, varying = CASES[phase]
    async with receiver() as hook:
        metrics = GateMetrics()
        sender = WebhookSender(RetryPolicy(attempts=1, timeout=5), on_result=metrics.notification)
        targets = [
            WebhookTarget(WebhookType.JSON, url=hook.url, label="json"),
            WebhookTarget(WebhookType.SLACK, url=hook.url, label="slack"),
        ]
        notifier = Notifier(sender, targets)
        assert notifier.gate_changed(NS, GATE, None, before, after) == 2
        await asyncio.wait_for(sender.join(), 10)
        await sender.aclose()

    generic = [b for b in hook.bodies if "kind" in b]
    slack = [b for b in hook.bodies if "kind" not in b]
    assert generic == [expected_json(phase, varying)]
    (message,) = slack
    why = varying["rollbackReason"] or varying["message"]
    assert message["text"] == f"DeploymentGate {NS}/{GATE}: {phase} revision {NEW}: {why}"
    section, facts, context = message["blocks"]
    assert section["text"]["text"].endswith(f"*{NS}/{GATE}: {phase}*\n{varying['message']}")
    texts = [f["text"] for f in facts["fields"]]
    assert f"*Phase*\n{varying['previousPhase']} → {phase}" in texts
    assert f"*Images*\n{IMAGES[0]}" in texts
    assert f"*Traffic on it*\n{varying['canaryWeight']}%" in texts
    probe_lines = context["elements"][0]["text"].splitlines()
    assert "errorRate: failed (error_rate_percent 8.1, requests 210)" in probe_lines
    assert metrics.notifications.labels("json", "sent")._value.get() == 1
    assert metrics.notifications.labels("slack", "sent")._value.get() == 1


async def test_phases_nobody_needs_to_hear_about_and_quiet_passes_send_nothing() -> None:
    async with receiver() as hook:
        sender = WebhookSender(RetryPolicy(attempts=1, timeout=5))
        notifier = Notifier(sender, [WebhookTarget(WebhookType.JSON, url=hook.url, label="j")])
        before = progressing()
        step = entered(before, Phase.PROGRESSING, "TrafficShifted", "step 3/3: 100%")
        verifying_again = entered(before, Phase.VERIFYING, "RevisionDetected", "new revision")
        assert notifier.gate_changed(NS, GATE, None, before, before) == 0
        assert notifier.gate_changed(NS, GATE, None, before, step) == 0
        assert notifier.gate_changed(NS, GATE, None, before, verifying_again) == 0
        await sender.join()
        await sender.aclose()
    assert hook.bodies == []


async def test_a_gates_own_webhook_reads_its_url_from_the_secret_when_sending() -> None:
    spec = GateSpec.model_validate(
        {
            "targetRef": {"name": "chat"},
            "service": "chat",
            "notifications": {
                "webhooks": [
                    {"type": "json", "urlFrom": {"secretKeyRef": {"name": "hooks", "key": "ops"}}}
                ]
            },
        }
    )
    before, after, _ = CASES["RolledBack"]
    async with receiver() as hook:
        asked: list[SecretRef] = []

        async def lookup(ref: SecretRef) -> str:
            asked.append(ref)
            return hook.url + "\n"  # as `kubectl create secret --from-file` often stores it

        sender = WebhookSender(RetryPolicy(attempts=1, timeout=5), lookup=lookup)
        assert Notifier(sender).gate_changed(NS, GATE, spec, before, after) == 1
        await asyncio.wait_for(sender.join(), 10)
        await sender.aclose()
    assert asked == [SecretRef(NS, "hooks", "ops")]
    assert [b["phase"] for b in hook.bodies] == ["RolledBack"]


async def test_a_forbidden_secret_is_given_up_at_once_with_a_line_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Forbidden(Exception):
        permanent = True

    async def lookup(ref: SecretRef) -> str:
        raise Forbidden("forbidden")

    metrics = GateMetrics()
    target = WebhookTarget(
        WebhookType.SLACK, secret=SecretRef(NS, "hooks", "slack"), label="slack (hooks)"
    )
    sender = WebhookSender(
        RetryPolicy(attempts=3, timeout=1, backoff=5), lookup=lookup, on_result=metrics.notification
    )
    before, after, _ = CASES["Blocked"]
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="deploymentgate.notify"):
        Notifier(sender, [target]).gate_changed(NS, GATE, None, before, after)
        await asyncio.wait_for(sender.join(), 10)
    await sender.aclose()
    assert time.monotonic() - began < 2  # no backoff waited: another try would not help
    assert "Secret team-a/hooks key slack: forbidden (not retried)" in caplog.text
    assert metrics.notifications.labels("slack", "failed")._value.get() == 1


# ----------------------------------------------------------- failing webhooks


async def test_a_hanging_webhook_delays_no_caller_and_is_retried_with_backoff_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = RetryPolicy(attempts=3, timeout=0.4, backoff=0.3)
    before, after, _ = CASES["RolledBack"]
    metrics = GateMetrics()
    async with receiver("hang") as hook:
        sender = WebhookSender(policy, on_result=metrics.notification)
        notifier = Notifier(
            sender, [WebhookTarget(WebhookType.JSON, url=hook.url, label="ops hook")]
        )
        with caplog.at_level(logging.WARNING, logger="deploymentgate.notify"):
            began = time.perf_counter()
            for _ in range(8):  # eight reconcile passes with a transition each
                notifier.gate_changed(NS, GATE, None, before, after)
            caller_took = time.perf_counter() - began
            # the event loop the reconciles share stays responsive while the posts hang
            late = []
            for _ in range(10):
                tick = time.monotonic()
                await asyncio.sleep(0.05)
                late.append(time.monotonic() - tick - 0.05)
            assert hook.got.is_set()
            await asyncio.wait_for(sender.join(), 30)
            took = time.monotonic() - began
        await sender.aclose()

    assert caller_took < 0.05, caller_took
    # A post that blocked the loop would hold it for its whole 0.4 s timeout; a
    # shared 2-core machine alone stalls it up to ~0.1 s now and then.
    assert max(late) < 0.2, late
    # 8 messages, 4 workers, 3 tries each; each try ended by the 0.4s timeout
    assert len(hook.times) == 8 * 3
    assert took < 2 * policy.worst_case() + 1  # 8/4 = 2 rounds of one message per worker
    assert "given up after 3 tries: no answer within 0.4s" in caplog.text
    assert metrics.notifications.labels("json", "failed")._value.get() == 8
    assert hook.url not in caplog.text and "T0KEN" not in caplog.text  # the URL is a credential


async def test_a_single_hanging_message_waits_timeout_plus_backoff_between_tries() -> None:
    policy = RetryPolicy(attempts=3, timeout=0.4, backoff=0.3)
    before, after, _ = CASES["RolledBack"]
    async with receiver("hang") as hook:
        sender = WebhookSender(policy)
        Notifier(sender, [WebhookTarget(WebhookType.JSON, url=hook.url, label="j")]).gate_changed(
            NS, GATE, None, before, after
        )
        began = time.monotonic()
        await asyncio.wait_for(sender.join(), 10)
        took = time.monotonic() - began
        await sender.aclose()
    gaps = [b - a for a, b in zip(hook.times, hook.times[1:], strict=False)]
    assert len(hook.times) == 3
    # try 1 times out (0.4s), wait 0.3s; try 2 times out, wait 0.6s; try 3 times out
    # (each gap within a machine stall of it, and the backoff doubled in between)
    assert gaps[0] == pytest.approx(0.4 + 0.3, abs=0.3)
    assert gaps[1] == pytest.approx(0.4 + 0.6, abs=0.3)
    assert gaps[1] - gaps[0] == pytest.approx(0.3, abs=0.25)
    assert took == pytest.approx(policy.worst_case(), abs=0.3)


async def test_a_webhook_answering_500_is_retried_then_given_up_with_a_log_line_and_a_metric(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = RetryPolicy(attempts=4, timeout=2, backoff=0.1, max_backoff=0.3)
    before, after, _ = CASES["Promoted"]
    metrics = GateMetrics()
    async with receiver("500") as hook:
        sender = WebhookSender(policy, on_result=metrics.notification)
        with caplog.at_level(logging.WARNING, logger="deploymentgate.notify"):
            Notifier(
                sender, [WebhookTarget(WebhookType.SLACK, url=hook.url, label="team slack")]
            ).gate_changed(NS, GATE, None, before, after)
            await asyncio.wait_for(sender.join(), 10)
        await sender.aclose()

    assert len(hook.times) == 4
    gaps = [b - a for a, b in zip(hook.times, hook.times[1:], strict=False)]
    # backoff 0.1s, doubled each time, capped at 0.3s
    for gap, wait in zip(gaps, (0.1, 0.2, 0.3), strict=True):
        assert wait - 0.02 <= gap <= wait + 0.2, gaps
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "notification of team-a/chat Promoted to team slack given up after 4 tries: HTTP 500"
    ]
    assert metrics.notifications.labels("slack", "failed")._value.get() == 1
    assert metrics.notifications.labels("slack", "sent")._value.get() == 0


async def test_a_webhook_that_does_not_exist_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before, after, _ = CASES["RolledBack"]
    async with receiver("404") as hook:
        sender = WebhookSender(RetryPolicy(attempts=4, timeout=2, backoff=1))
        with caplog.at_level(logging.WARNING, logger="deploymentgate.notify"):
            Notifier(
                sender, [WebhookTarget(WebhookType.JSON, url=hook.url, label="j")]
            ).gate_changed(NS, GATE, None, before, after)
            await asyncio.wait_for(sender.join(), 5)
        await sender.aclose()
    assert len(hook.times) == 1
    assert "given up: HTTP 404 (not retried)" in caplog.text


async def test_a_full_queue_drops_the_newest_message_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before, after, _ = CASES["RolledBack"]
    metrics = GateMetrics()
    async with receiver("hang") as hook:
        sender = WebhookSender(
            RetryPolicy(attempts=1, timeout=0.5),
            queue_size=2,
            workers=1,
            on_result=metrics.notification,
        )
        notifier = Notifier(sender, [WebhookTarget(WebhookType.JSON, url=hook.url, label="j")])
        with caplog.at_level(logging.WARNING, logger="deploymentgate.notify"):
            queued = [notifier.gate_changed(NS, GATE, None, before, after) for _ in range(5)]
            await asyncio.wait_for(sender.join(), 10)
        await sender.aclose()
    # the worker had not started yet: two fit in the queue, three are dropped
    assert queued == [1, 1, 0, 0, 0]
    assert metrics.notifications.labels("json", "dropped")._value.get() == 3
    assert caplog.text.count("dropped: 2 messages already waiting") == 3
    assert len(hook.times) == 2


def test_retry_policy_waits_double_and_are_capped() -> None:
    policy = RetryPolicy(attempts=5, timeout=2, backoff=1, max_backoff=3)
    assert [policy.wait(n) for n in range(1, 5)] == [1, 2, 3, 3]
    assert policy.wait(1, retry_after=60) == 3  # a Retry-After never holds a worker longer
    assert policy.worst_case() == 5 * 2 + 1 + 2 + 3 + 3
