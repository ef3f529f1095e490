"""A good rollout moves each WebSocket session at most once, and promotion none (issue 10).

20 chat users hold a WebSocket session each through the Service while v2 is
verified, stepped 25 -> 50 -> 100 and promoted. A session is moved when the
server ends it (its pod is going away) and the user reconnects. Promotion
restarts no serving pod, so nothing ends at or after `Promoting`; the stable
revision's pods are removed one by one as canary pods get ready, each ending
its sessions with a close frame (1001) within its grace period.
"""

from __future__ import annotations

from collections import Counter

import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_rested,
    wait_until,
)
from traffic_helpers import EndpointSampler

from deploymentgate_devkit.testing.sessions import PhaseWatcher, SessionPool, format_report

REPLICAS = 4
SESSIONS = 20
STEPS = [25, 50, 100]
SPEC = gate_spec(traffic={"steps": STEPS, "stepDuration": "5s", "progressDeadline": "90s"})


@pytest.mark.timeout(240)
def test_sessions_move_at_most_once_and_never_at_promotion(
    world: GateWorld, start_operator: StartOperator
) -> None:
    world.apply(chat_deployment(version="v1", replicas=REPLICAS), chat_service())
    operator = start_operator(world.namespace)
    world.apply(gate(SPEC))
    world.wait_phase("Idle", 60)
    world.wait_endpoints(v1=REPLICAS)

    host, port = world.cluster.service_address(world.namespace, "chat")
    pool = SessionPool(f"ws://{host}:{port}/ws", SESSIONS).start(30)
    watcher = PhaseWatcher(lambda: world.status().get("phase"), interval=0.1).start()
    endpoints = EndpointSampler(world, interval=0.2).start()
    try:
        assert pool.current_versions() == Counter(v1=SESSIONS), pool.current_versions()
        world.set_version("v2")
        world.wait_phase("Promoted", 150, allowed={"Idle", "Verifying", "Progressing", "Promoting"})
        # Whatever promotion still does (removing the old stable) is done once the
        # operator rests; the sessions on its pods then end and come back on v2.
        wait_rested(operator)
        wait_until(
            lambda: pool.current_versions() == Counter(v2=SESSIONS),
            15,
            describe=lambda: f"sessions: {pool.current_versions()}",
            what="every session back on v2",
        )
        on_v2 = pool.current_versions()
    finally:
        pool.stop()
        watcher.stop()
        endpoints.stop()
    report = format_report(pool, watcher)
    print(report)
    start = watcher.changes[0][0]
    for end in pool.ends(by_server=False):
        print(
            f"  {end.at - start:6.2f}s session {end.session:2d} on {end.version} ended: {end.how}"
        )
    print("  phases:", [(round(t - start, 2), p) for t, p in watcher.changes])
    shapes: list[tuple[float, dict[str, int]]] = []
    for sample in endpoints.samples:
        if not shapes or shapes[-1][1] != dict(sample.ready):
            shapes.append((round(sample.at - start, 2), dict(sample.ready)))
    print("  ready endpoints:", shapes)

    assert watcher.polls >= 50, f"the phase was polled {watcher.polls} times {watcher.errors[-3:]}"
    assert "Progressing" in watcher.phases(), watcher.phases()
    promoting = watcher.began("Promoting") or watcher.began("Promoted")
    assert promoting is not None, watcher.phases()

    ends = pool.ends()
    # v1 served every session at first and runs nowhere at the end: each session
    # on a removed pod was ended by the server, so a recorder that saw no end is broken.
    assert ends, f"no session ever ended: nothing was measured\n{report}"
    assert on_v2 == Counter(v2=SESSIONS), f"sessions not all on v2 at the end: {on_v2}\n{report}"
    late = [e for e in ends if e.at >= promoting]
    assert not late, f"sessions ended at or after Promoting: {late}\n{report}"
    broken = [e for e in ends if e.code is None]
    assert not broken, f"sessions broken without a close frame: {broken}\n{report}"
    assert {e.code for e in ends} == {1001}, f"close codes: {Counter(e.how for e in ends)}"
    moves = pool.moves()
    assert max(moves.values()) <= 1, f"a session moved more than once: {moves}\n{report}"
    client_ends = pool.ends(by_server=False)
    assert len([e for e in client_ends if e.by_client]) == SESSIONS, "not every session was held"
