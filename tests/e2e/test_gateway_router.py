"""router: gatewayAPI on the local cluster, through a real gateway (Traefik).

Users reach the app through an HTTPRoute the team wrote: one rule for the app
(the team's Service `chat`) beside a rule of their own (`/admin`, with a
filter, to another Service). The gate puts its stable and canary Services in
the app rule with weights; requests through the gateway are counted by the
version that answers them.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from rollout_helpers import (
    GateWorld,
    StartOperator,
    chat_deployment,
    chat_service,
    gate,
    gate_spec,
    wait_until,
)

from deploymentgate_devkit.sandbox import Sandbox, SandboxApiError
from deploymentgate_devkit.sandbox.gateway import GatewayInfo

pytestmark = pytest.mark.timeout(420)

GROUP = "gateway.networking.k8s.io"
REPLICAS = 2
REQUESTS = 1000


@pytest.fixture
def gateway(cluster: Sandbox) -> GatewayInfo:
    if not (cluster.bin_dir / "traefik").is_file():
        pytest.skip(
            f"no traefik binary in {cluster.bin_dir}: cluster/build.sh builds it (Go toolchain)"
        )
    return cluster.start_gateway()


def team_route() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "labels": {"team": "chat"}, "annotations": {"owner": "chat"}},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"add": [{"name": "x-team", "value": "chat"}]},
                        }
                    ],
                    "backendRefs": [{"name": "admin", "port": 80}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "chat", "port": 80}],
                },
            ],
        },
    }


def edge(info: GatewayInfo) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {
            "gatewayClassName": info.gateway_class,
            "listeners": [{"name": "http", "protocol": "HTTP", "port": info.port}],
        },
    }


def admin_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "admin"},
        "spec": {"selector": {"app": "admin"}, "ports": [{"name": "web", "port": 80}]},
    }


def route(world: GateWorld) -> dict[str, Any]:
    return dict(world.get(f"/apis/{GROUP}/v1/namespaces/{world.namespace}/httproutes/web"))


def unmanaged(body: dict[str, Any]) -> str:
    """The route as the team wrote it, minus the managed rule's backendRefs, as bytes."""
    spec = copy.deepcopy(body["spec"])
    del spec["rules"][1]["backendRefs"]
    meta = body["metadata"]
    return json.dumps([spec, meta.get("labels"), meta.get("annotations", {}).get("owner")])


def routed(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(r["name"], r.get("weight", 1)) for r in body["spec"]["rules"][1]["backendRefs"]]


def versions(http: httpx.Client, url: str, count: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        try:
            response = http.get(url)
        except httpx.HTTPError as exc:
            seen[f"error:{type(exc).__name__}"] += 1
            continue
        ok = response.status_code == 200
        seen[response.json()["version"] if ok else f"http:{response.status_code}"] += 1
    return seen


def set_up(world: GateWorld, info: GatewayInfo, start_operator: StartOperator, spec: Any) -> str:
    """The app, its route and the gate, adopted (Idle); the route as stored before the gate."""
    world.apply(
        chat_deployment(version="v1", replicas=REPLICAS),
        chat_service(),
        admin_service(),
        edge(info),
        team_route(),
    )
    url = f"{info.url}/version"
    with httpx.Client(trust_env=False, timeout=5.0) as http:
        wait_until(
            lambda: versions(http, url, 5) == Counter(v1=5), 60, what="v1 through the gateway"
        )
    written = route(world)
    start_operator(world.namespace, gateway_api=True)
    world.apply(gate(spec))
    world.wait_phase("Idle", 90)
    return json.dumps(written)


def gateway_spec(steps: list[int], step_duration: str) -> dict[str, Any]:
    return gate_spec(
        traffic={
            "router": "gatewayAPI",
            "httpRoutes": [{"name": "web"}],
            "steps": steps,
            "stepDuration": step_duration,
            "progressDeadline": "90s",
        }
    )


def status_weights(world: GateWorld) -> list[tuple[str, int | None, int | None]]:
    return [
        (r["name"], r.get("stableWeight"), r.get("canaryWeight"))
        for r in world.status().get("routes") or []
    ]


def gate_gone(world: GateWorld) -> bool:
    try:
        world.gate()
    except SandboxApiError as exc:
        return exc.status == 404
    return False


def hand_back_exactly(world: GateWorld, written: str) -> None:
    world.kubectl("delete", "deploymentgate", "chat", "--wait=false")
    wait_until(lambda: gate_gone(world), 90, describe=world.diagnostics, what="gate deleted")
    before, after = json.loads(written), route(world)
    assert json.dumps(after["spec"]) == json.dumps(before["spec"])
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert after["metadata"].get("labels") == before["metadata"].get("labels")
    for name in ("chat-stable", "chat-canary"):

        def gone(n: str = name) -> bool:
            services = world.get(f"/api/v1/namespaces/{world.namespace}/services")["items"]
            return not any(s["metadata"]["name"] == n for s in services)

        wait_until(
            gone,
            30,
            what=f"Service {name} gone",
        )


def test_good_revision_steps_1_10_50_percent_by_weight_then_is_promoted(
    world: GateWorld, gateway: GatewayInfo, start_operator: StartOperator
) -> None:
    written = set_up(world, gateway, start_operator, gateway_spec([1, 10, 50, 100], "45s"))
    adopted = route(world)
    assert unmanaged(adopted) == unmanaged(json.loads(written))
    assert routed(adopted) == [("chat-stable", 100), ("chat-canary", 0)]
    assert status_weights(world) == [("web", 100, 0)]
    assert "Routes" in world.describe() and "Stable Weight" in world.describe()

    url = f"{gateway.url}/version"
    world.set_version("v2")
    shares: dict[int, float] = {}
    with httpx.Client(trust_env=False, timeout=5.0) as http:
        for step, weight in enumerate((1, 10, 50)):

            def in_effect(s: int = step) -> bool:
                st = world.status()
                return bool(
                    st.get("step") == s
                    and st.get("stepReadySince")
                    and status_weights(world)
                    == [("web", 100 - st["canaryWeight"], st["canaryWeight"])]
                )

            wait_until(
                in_effect,
                120,
                describe=world.diagnostics,
                what=f"step {step + 1} ({weight}%) in effect",
            )
            # Both revisions at full size: the weight alone splits the traffic.
            assert sorted(world.serving_versions().values()) == [REPLICAS, REPLICAS]
            seen = versions(http, url, REQUESTS)
            assert world.status().get("step") == step, "the step ended while counting"
            shares[weight] = 100 * seen["v2"] / REQUESTS
            tolerance = 1 if weight == 1 else 3
            assert abs(shares[weight] - weight) <= tolerance, (weight, seen)
            assert set(seen) <= {"v1", "v2"}, seen

        world.wait_phase("Promoted", 180)
        # Then the stable Service is pointed at v2 (at weight 0) and gets the weight back.
        wait_until(
            lambda: routed(route(world)) == [("chat-stable", 100), ("chat-canary", 0)],
            30,
            describe=world.diagnostics,
            what="weight back on the stable Service, now v2",
        )
        promoted = route(world)
        assert unmanaged(promoted) == unmanaged(json.loads(written))
        assert versions(http, url, 100) == Counter(v2=100)
        # The old serving Deployment goes once its pods have drained.
        wait_until(
            lambda: world.serving_versions() == {"v2": REPLICAS},
            30,
            describe=world.diagnostics,
            what="only v2 serving",
        )
    print(f"v2 share through the gateway per step: {shares}")
    hand_back_exactly(world, written)


class Traffic:
    """Requests through the gateway in a loop: (sent at, version) of each answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(trust_env=False, timeout=3.0) as http:
            while not self._stop.is_set():
                sent = time.time()
                try:
                    response = http.get(self.url)
                    ok = response.status_code == 200
                    answer = response.json()["version"] if ok else f"http:{response.status_code}"
                except (httpx.HTTPError, ValueError) as exc:
                    answer = f"error:{type(exc).__name__}"
                self.answers.append((sent, answer))


@pytest.fixture
def bad_version_patch() -> Iterator[dict[str, Any]]:
    """v-bad: /health fails 7 s after start. The pods stay ready (their readiness
    probe only checks the port), so the canary keeps answering through the
    gateway until its weight goes to 0: only the gate's own probe sees it."""
    yield {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "chat",
                            "image": "chat-backend:health-fails-after-start",
                            "env": [
                                {"name": "APP_VERSION", "value": "v-bad"},
                                {"name": "CHAT_HEALTHY_SECONDS", "value": "7"},
                            ],
                            "readinessProbe": {"httpGet": None, "tcpSocket": {"port": 8000}},
                        }
                    ]
                }
            }
        }
    }


def test_rollback_sets_the_canary_weight_to_0_and_no_new_request_reaches_it_after_1s(
    world: GateWorld,
    gateway: GatewayInfo,
    start_operator: StartOperator,
    bad_version_patch: dict[str, Any],
) -> None:
    written = set_up(world, gateway, start_operator, gateway_spec([50, 100], "60s"))
    with Traffic(f"{gateway.url}/version") as traffic:
        world.kubectl("patch", "deployment/chat", "-p", json.dumps(bad_version_patch))
        status = world.wait_phase("RolledBack", 150, allowed=["Idle", "Verifying", "Progressing"])
        entry = next(h for h in reversed(status["history"]) if h["phase"] == "RolledBack")
        decided = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
        # Requests go on until one sent 2 s past the second the weight may take is answered.
        wait_until(
            lambda: any(t >= decided + 3.0 for t, _ in list(traffic.answers)),
            30,
            what="requests sent 3 s after the rollback answered",
        )
    before = Counter(a for t, a in traffic.answers if t < decided)
    after = [(round(t - decided, 2), a) for t, a in traffic.answers if t >= decided + 1.0]
    assert before["v-bad"] > 20, f"the canary never took traffic: {before}"
    assert after, "no request sent after the rollback"
    late = [(t, a) for t, a in after if a == "v-bad"]
    assert not late, f"canary answers after 1 s: {late[:20]}"
    last_canary = max((t - decided for t, a in traffic.answers if a == "v-bad"), default=0.0)

    rolled_back = route(world)
    assert routed(rolled_back) == [("chat-stable", 100), ("chat-canary", 0)]
    assert unmanaged(rolled_back) == unmanaged(json.loads(written))
    assert status_weights(world) == [("web", 100, 0)]
    print(f"last canary answer {last_canary:.2f}s after the rollback decision")
    hand_back_exactly(world, written)
