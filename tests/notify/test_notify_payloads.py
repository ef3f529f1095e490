"""The transitions a notification is sent for, read off the statuses the real
decision core writes (tests/core/gatesim.py plays the cluster), and the
operator-wide webhook configuration."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from gatesim import T0, Sim, adopted, gate_spec, minutes, obs_for, passing, seconds
from operating_helpers import entered, progressing

from deploymentgate.models import GateStatus, Phase, WebhookType
from deploymentgate.notify import (
    Transition,
    WebhookConfigError,
    changes,
    json_payload,
    notifications,
    operator_webhooks,
    slack_payload,
)
from deploymentgate.notify.payloads import headline
from deploymentgate.observations import ProbeKind

GATED = (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)


def promote(sim: Sim, image: str, t: datetime) -> datetime:
    new = sim.deploy(image)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    for _ in range(60):
        if sim.status.phase is Phase.PROMOTED:
            return t
        t += seconds(30)
        sim.tick(t, passing(t, new, GATED))
    raise AssertionError(f"not promoted: {sim.status.phase} {sim.status.message}")


def roll_back(sim: Sim, image: str, t: datetime) -> datetime:
    new = sim.deploy(image)
    sim.tick(t)
    sim.tick(t, passing(t, new))
    for _ in range(40):
        if sim.status.phase is Phase.ROLLED_BACK:
            return t
        t += seconds(30)
        sim.tick(t, [obs_for(ProbeKind.HEALTH, False, t, revision=new, message="503")])
    raise AssertionError(f"not rolled back: {sim.status.phase} {sim.status.message}")


def test_a_promotion_then_a_rollback_notify_exactly_those_two_transitions() -> None:
    sim = adopted()
    t = promote(sim, "chat:2", T0 + minutes(1))
    roll_back(sim, "chat:3", t + minutes(1))

    before = [GateStatus(), *sim.statuses]
    sent: list[Transition] = []
    seen: list[Phase] = []
    for old, new in zip(before, sim.statuses, strict=False):
        sent += notifications("team-a", "chat", old, new)
        seen += [c.phase for c in changes("team-a", "chat", old, new) if isinstance(c, Transition)]

    assert [n.phase for n in sent] == [Phase.PROMOTED, Phase.ROLLED_BACK]
    promoted, rolled_back = sent
    assert promoted.previous_phase is Phase.PROMOTING and promoted.canary_weight == 100
    assert rolled_back.previous_phase is not None
    assert rolled_back.rollback_reason and "health" in rolled_back.rollback_reason
    assert rolled_back.revision == sim.status.revision != sim.status.stable_revision
    assert rolled_back.probes["health"].ok is False
    # every phase change between stored statuses is seen once, in order (a pass
    # may make two transitions, e.g. Promoting -> Promoted: both are seen)
    phases = [s.phase for s in sim.statuses]
    distinct = [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]
    assert all(a != b for a, b in itertools.pairwise(seen))
    rest = iter(seen)
    assert all(any(p == q for q in rest) for p in distinct), (seen, distinct)


def test_a_revert_after_promotion_says_so_in_every_wire_form() -> None:
    sim = adopted(spec=gate_spec(rollback={"watchAfterPromotion": "10m"}))
    t = promote(sim, "chat:2", T0 + minutes(1))
    new = sim.status.revision
    for _ in range(12):  # health failing for 5m, checked every 30s
        t += seconds(30)
        sim.tick(t, [obs_for(ProbeKind.HEALTH, False, t, revision=new, message="503")])

    before = [GateStatus(), *sim.statuses]
    sent = [n for old, now in zip(before, sim.statuses, strict=False)
            for n in notifications("team-a", "chat", old, now)]  # fmt: skip

    assert [n.phase for n in sent] == [Phase.PROMOTED, Phase.ROLLED_BACK]
    reverted = sent[-1]
    assert reverted.previous_phase is Phase.PROMOTED
    assert reverted.reason == "RevertedAfterPromotion"
    assert headline(reverted).startswith(
        f"DeploymentGate team-a/chat: RolledBack (reverted after promotion) revision {new}: "
    )
    assert json_payload(reverted)["reason"] == "RevertedAfterPromotion"
    assert "RolledBack (reverted after promotion)" in slack_payload(reverted)["text"]


def test_a_pass_that_changes_nothing_yields_nothing() -> None:
    sim = adopted()
    t = promote(sim, "chat:2", T0 + minutes(1))
    settled = sim.status
    sim.tick(t + minutes(5))
    assert changes("team-a", "chat", settled, sim.status) == []


# ------------------------------------------------------- operator-wide config


def test_operator_webhooks_come_from_flags_and_from_the_environment() -> None:
    hooks = operator_webhooks(
        ["slack=https://hooks.example/T1/B2/x", "JSON = http://127.0.0.1:9000/gate "],
        ["json=OPS_HOOK"],
        {"OPS_HOOK": "https://ops.example/hook\n"},
    )
    assert [(h.type, h.url) for h in hooks] == [
        (WebhookType.SLACK, "https://hooks.example/T1/B2/x"),
        (WebhookType.JSON, "http://127.0.0.1:9000/gate"),
        (WebhookType.JSON, "https://ops.example/hook"),
    ]
    assert [h.label for h in hooks] == [
        "slack webhook #1",
        "json webhook #2",
        "json webhook from $OPS_HOOK",
    ]


@pytest.mark.parametrize(
    ("urls", "from_env", "complaint"),
    [
        (
            ["teams=https://x.example/h"],
            [],
            "--webhook: unknown webhook type 'teams' (slack or json)",
        ),
        (["https://x.example/h"], [], "--webhook wants TYPE=..., TYPE one of slack, json"),
        (["json=ftp://x.example/secret-token"], [], "--webhook #1: not an http(s) URL"),
        (
            [],
            ["slack=MISSING_HOOK"],
            "--webhook-from-env: environment variable MISSING_HOOK is not set",
        ),
        ([], ["json=BAD_HOOK"], "--webhook-from-env BAD_HOOK: not an http(s) URL"),
    ],
)
def test_unusable_webhook_settings_are_refused_without_echoing_the_url(
    urls: list[str], from_env: list[str], complaint: str
) -> None:
    with pytest.raises(WebhookConfigError) as refused:
        operator_webhooks(urls, from_env, {"BAD_HOOK": "hooks.example/secret-token"})
    assert str(refused.value) == complaint
    assert "secret-token" not in str(refused.value)


def test_slack_messages_stay_within_slacks_block_limits() -> None:
    before = progressing()
    after = entered(
        before,
        Phase.BLOCKED,
        "Blocked",
        "x" * 5000,
        rollback_reason="y" * 5000,
        images=[f"registry.example/team/image-{n}:v1" for n in range(200)],
    )
    (transition,) = notifications("team-a", "chat", before, after)
    blocks = slack_payload(transition)["blocks"]
    assert len(blocks[0]["text"]["text"]) <= 3000
    assert blocks[1]["fields"], blocks  # the cut fields are there to measure
    assert all(len(f["text"]) <= 2000 for f in blocks[1]["fields"])
    assert len(blocks[1]["fields"]) <= 10
    assert blocks[0]["text"]["text"].endswith("…")
