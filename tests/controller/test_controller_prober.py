"""The operator's prober drives every kind through its registered runner: the
per-pod startup probe on a new pod, rounds of health and WebSocket per serving
pod, and one error-rate observation per round for the whole gate."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import generate_latest

from chat_backend.testing import run_backend
from deploymentgate.controller.pods import PodInfo
from deploymentgate.controller.probing import GateProber
from deploymentgate.core import ProbeRun, ProbeWorkload
from deploymentgate.metrics import GateMetrics
from deploymentgate.observations import ProbeKind, ProbeObservation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probes"))
from backend import FAST_ENV, gate_spec

KINDS = frozenset({ProbeKind.STARTUP, ProbeKind.HEALTH, ProbeKind.WEBSOCKET, ProbeKind.ERROR_RATE})


def pod(url: str) -> PodInfo:
    parts = urlsplit(url)
    return PodInfo(
        name="chat-v2-1",
        namespace="shop",
        labels={},
        ip=parts.hostname,
        port=parts.port,
        ready=True,
        started_at=None,
        owner=None,
        deleting=False,
    )


async def test_every_kind_runs_through_its_runner_against_a_pod() -> None:
    metrics = GateMetrics()
    prober = GateProber("shop", "chat", metrics)
    seen: list[ProbeObservation] = []
    async with run_backend("healthy", env=FAST_ENV) as url:
        target = pod(url)
        prober.start(gate_spec(), ProbeRun("v2", ProbeWorkload.CANARY, KINDS))
        prober.sync_targets(lambda: [target])
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                seen += prober.drain()
                kinds = {o.kind for o in seen}
                passed = {o.kind for o in seen if o.ok is True}
                if kinds == KINDS and {ProbeKind.HEALTH, ProbeKind.WEBSOCKET} <= passed:
                    break
                await asyncio.sleep(0.1)
        finally:
            await prober.aclose()
    assert {o.kind for o in seen} == KINDS, seen
    by_kind = {o.kind: o for o in seen}
    startup = by_kind[ProbeKind.STARTUP]
    assert startup.target == "chat-v2-1" and startup.ok is True, startup
    # Health and WebSocket rounds wait for the pod's startup probe to finish.
    rounds = [o for o in seen if o.kind in (ProbeKind.HEALTH, ProbeKind.WEBSOCKET)]
    assert min(o.at for o in rounds) >= startup.at
    assert all(o.target == "chat-v2-1" for o in seen if o.kind is not ProbeKind.ERROR_RATE)
    assert all(o.revision == "v2" for o in seen)
    # The error rate is the gate's: one observation per round, named after the gate.
    assert {o.target for o in seen if o.kind is ProbeKind.ERROR_RATE} == {"chat"}
    text = generate_latest(metrics.registry).decode()
    for kind in KINDS:
        assert f'probe="{kind.value}"' in text, kind
