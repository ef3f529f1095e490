"""What `kubectl get deploymentgates` and `kubectl describe deploymentgate` show a
team mid-rollout: phase, revision, weight, each probe's last result with its
numbers, the conditions and the Events."""

from __future__ import annotations

import re

from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    step_endpoints,
    wait_rested,
    wait_until,
)

PROBES = ("startup", "health", "websocket", "errorRate")
SPEC = gate_spec(traffic={"steps": [50, 100], "stepDuration": "10m", "progressDeadline": "90s"})


def table(text: str) -> list[dict[str, str]]:
    """Rows of kubectl's column output, cut at the header's column starts."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = [
            line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line) + 1], strict=True)
        ]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def section(text: str, title: str) -> str:
    """A top-level block of `kubectl describe` output (`Status:`, `Events:`...)."""
    match = re.search(rf"^{title}:\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
    assert match, f"no {title} section in:\n{text}"
    return match.group(1)


def test_kubectl_get_and_describe_show_phase_weight_probe_numbers_and_events(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=2), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(SPEC))
    idle = world.wait_phase("Idle", 60)
    settled = world.gate()["metadata"]["resourceVersion"]

    (row,) = table(world.kubectl("get", "deploymentgates").stdout)
    assert list(row) == ["NAME", "PHASE", "TARGET", "REVISION", "WEIGHT", "AGE"]
    assert (row["NAME"], row["PHASE"], row["TARGET"]) == ("chat", "Idle", "chat")
    assert row["WEIGHT"] == "0"
    wait_rested(operator)  # every pass that follows reaching Idle is over
    assert world.gate()["metadata"]["resourceVersion"] == settled, "an Idle gate keeps writing"

    world.set_version("v2")

    def at_first_step() -> dict[str, object] | None:
        st = world.status()
        probes = st.get("probes") or {}
        verdicts = [(probes.get(p) or {}).get("ok") for p in PROBES]
        done = st.get("phase") == "Progressing" and st.get("stepReadySince")
        return st if done and all(verdicts) else None

    status = wait_until(
        at_first_step, 60, describe=world.diagnostics, what="step 1 in effect, every probe passing"
    )
    revision = str(status["revision"])

    (row,) = table(world.kubectl("get", "deploymentgates").stdout)
    assert row == {
        "NAME": "chat",
        "PHASE": "Progressing",
        "TARGET": "chat",
        "REVISION": revision,
        "WEIGHT": "50",
        "AGE": row["AGE"],
    }
    (wide,) = table(world.kubectl("get", "deploymentgates", "-o", "wide").stdout)
    assert wide["STABLE"] == idle["stableRevision"]
    assert wide["MESSAGE"].startswith(f"step 1/2: 50% to revision {revision}"), wide

    text = world.describe()
    st = section(text, "Status")
    assert re.search(r"^\s+Phase:\s+Progressing$", st, re.M), st
    assert re.search(r"^\s+Canary Weight:\s+50$", st, re.M), st
    assert re.search(rf"^\s+Revision:\s+{revision}$", st, re.M), st
    assert re.search(rf"^\s+Stable Revision:\s+{idle['stableRevision']}$", st, re.M), st
    # Each probe's last result, with the numbers behind it.
    for probe, number in (
        ("Startup", r"total_seconds:\s+[0-9.]+"),
        ("Health", r"latency_ms:\s+[0-9.]+"),
        ("Websocket", r"events_received:\s+5"),
        ("Error Rate", r"Requests:\s+[0-9]+"),
    ):
        block = re.search(rf"^    {probe}:\n((?:^      .*\n)+)", st, re.M)
        assert block, f"no {probe} probe in:\n{st}"
        assert re.search(number, block.group(1)), block.group(1)
        assert re.search(r"Ok:\s+true", block.group(1)), block.group(1)
    by_type = {
        kind: value
        for value, kind in re.findall(r"Status:\s+(True|False|Unknown)\n\s+Type:\s+(\w+)", st)
    }
    assert by_type == {
        "Ready": "False",
        "Progressing": "True",
        "Verified": "True",
        "Degraded": "False",
        "Reconciling": "True",
        "Stalled": "False",
    }, st
    events = table(section(text, "Events"))
    reasons = [e["Reason"] for e in events if e.get("Reason") != "------"]
    for reason in (
        "Adopted",
        "RevisionDetected",
        "VerificationStarted",
        "ProbePassed",
        "TrafficShifted",
    ):
        assert reason in reasons, text
    shifted = [e["Message"] for e in events if e.get("Reason") == "TrafficShifted"]
    pods = step_endpoints(2, 50)
    total = sum(pods.values())
    assert shifted == [f"50% of traffic on revision {revision} ({pods['v2']} of {total} pods)"], (
        shifted
    )
