"""A real Gateway API implementation (Traefik) in the sandbox: HTTPRoute weights split traffic.

Two Services over two sets of chat-backend pods (APP_VERSION v1 and v2) are the
two backendRefs of one HTTPRoute rule; requests go through the gateway on
loopback, and the version each response names is counted.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_helpers import apply, chat_deployment, service, wait_ready_pods

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.sandbox import gateway as gw
from deploymentgate_devkit.sandbox.ports import port_is_free
from deploymentgate_devkit.sandbox.processes import pid_alive

pytestmark = pytest.mark.timeout(240)

ROUTES = f"/apis/{gw.GATEWAY_GROUP}/v1/namespaces/{{ns}}/httproutes"
GATEWAYS = f"/apis/{gw.GATEWAY_GROUP}/v1/namespaces/{{ns}}/gateways"


def test_traefik_gets_a_clean_environment_and_a_loopback_entrypoint() -> None:
    base = {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "HTTP_PROXY": "http://proxy.invalid:3128",
        "https_proxy": "http://proxy.invalid:3128",
        "KUBECONFIG": "/somewhere/else",
        "HOME": "/home/x",
        "DEPLOYMENTGATE_TEST_SESSION": "abc",
    }
    env = gw.traefik_env(Path("/w/gw.kubeconfig"), "sandbox-1", base)
    assert not any(k.startswith("KUBERNETES_") or "proxy" in k.lower() for k in env)
    assert env["KUBECONFIG"] == "/w/gw.kubeconfig"
    assert env[gw.MARKER_ENV] == "sandbox-1" and env["DEPLOYMENTGATE_TEST_SESSION"] == "abc"
    config = gw.traefik_config(41234)
    assert config["entryPoints"] == {
        "web": {"address": "127.0.0.1:41234", "transport": {"lifeCycle": {"graceTimeOut": "1s"}}}
    }
    assert set(config["providers"]) == {"providersThrottleDuration", "kubernetesGateway"}
    assert "nativeLBByDefault" not in config["providers"]["kubernetesGateway"]
    assert "api" not in config  # no dashboard


def _route(gateway: str, weights: tuple[int, int]) -> dict[str, Any]:
    return {
        "apiVersion": f"{gw.GATEWAY_GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "chat"},
        "spec": {
            "parentRefs": [{"name": gateway}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": "chat-stable", "port": 80, "weight": weights[0]},
                        {"name": "chat-canary", "port": 80, "weight": weights[1]},
                    ],
                }
            ],
        },
    }


def _condition(conditions: list[dict[str, Any]], kind: str, generation: int) -> bool:
    return any(
        c["type"] == kind and c["status"] == "True" and c.get("observedGeneration") == generation
        for c in conditions
    )


def _route_accepted(cluster: Sandbox, namespace: str) -> dict[str, Any] | None:
    route = cluster.request("GET", ROUTES.format(ns=namespace) + "/chat")
    generation = route["metadata"]["generation"]
    for parent in (route.get("status") or {}).get("parents") or ():
        conditions = parent.get("conditions") or []
        if parent.get("controllerName") == gw.CONTROLLER_NAME and all(
            _condition(conditions, kind, generation) for kind in ("Accepted", "ResolvedRefs")
        ):
            return route
    return None


def _versions(http: httpx.Client, url: str, count: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        response = http.get(url)
        assert response.status_code == 200, response.text
        seen[response.json()["version"]] += 1
    return seen


def _set_weights(cluster: Sandbox, namespace: str, weights: tuple[int, int]) -> float:
    patch = [
        {"op": "replace", "path": f"/spec/rules/0/backendRefs/{i}/weight", "value": w}
        for i, w in enumerate(weights)
    ]
    cluster.request(
        "PATCH",
        ROUTES.format(ns=namespace) + "/chat",
        json=patch,
        content_type="application/json-patch+json",
    )
    return time.monotonic()


def _seconds_until_canary_share(
    http: httpx.Client, url: str, since: float, at_most: int, at_least: int = 0
) -> float:
    """Until a window of 100 requests has at_least..at_most canary responses; bounded to 20s."""
    while time.monotonic() - since < 20:
        if at_least <= _versions(http, url, 100)["v2"] <= at_most:
            return time.monotonic() - since
    raise AssertionError("the weight change did not take effect within 20s")


def test_httproute_weights_split_requests_through_the_gateway(
    cluster: Sandbox, namespace: str
) -> None:
    info = cluster.start_gateway()
    assert cluster.start_gateway() == info  # idempotent while it runs
    apply(
        cluster,
        namespace,
        chat_deployment("chat-v1", version="v1", labels={"app": "chat", "track": "stable"}),
        chat_deployment("chat-v2", version="v2", labels={"app": "chat", "track": "canary"}),
        service("chat-stable", {"app": "chat", "track": "stable"}),
        service("chat-canary", {"app": "chat", "track": "canary"}),
        {
            "apiVersion": f"{gw.GATEWAY_GROUP}/v1",
            "kind": "Gateway",
            "metadata": {"name": "edge"},
            "spec": {
                "gatewayClassName": info.gateway_class,
                "listeners": [{"name": "http", "protocol": "HTTP", "port": info.port}],
            },
        },
        _route("edge", (90, 10)),
    )
    wait_ready_pods(cluster, namespace, "app=chat", 4)

    def programmed() -> bool:
        gateway = cluster.request("GET", GATEWAYS.format(ns=namespace) + "/edge")
        conditions = (gateway.get("status") or {}).get("conditions") or []
        return _condition(conditions, "Programmed", gateway["metadata"]["generation"])

    cluster.wait_for(programmed, timeout=30)
    cluster.wait_for(lambda: _route_accepted(cluster, namespace), timeout=30)

    url = f"{info.url}/version"
    with httpx.Client(trust_env=False, timeout=5.0) as http:
        # Traefik applies the route a moment after it writes the status, and may
        # load a backend's endpoints a moment after the route: measure once a
        # batch reaches both versions with no error.
        def both_answer() -> bool:
            answers = [http.get(url) for _ in range(40)]
            ok = all(a.status_code == 200 for a in answers)
            return ok and {a.json()["version"] for a in answers} == {"v1", "v2"}

        cluster.wait_for(both_answer, timeout=30, interval=0.1)
        split = _versions(http, url, 1000)
        assert set(split) == {"v1", "v2"}
        assert abs(split["v2"] / 10 - 10) <= 3, split
        shares = [split["v2"]]

        changed = _set_weights(cluster, namespace, (99, 1))
        took = _seconds_until_canary_share(http, url, changed, at_most=3)
        assert took < 5, f"99/1 took {took:.1f}s to apply"
        split = _versions(http, url, 1000)
        assert abs(split["v2"] / 10 - 1) <= 1, split
        shares.append(split["v2"])

        # A rollback from 50/50: weight 0 sends nothing more to the canary once applied.
        changed = _set_weights(cluster, namespace, (50, 50))
        to_half = _seconds_until_canary_share(http, url, changed, at_most=100, at_least=40)
        changed = _set_weights(cluster, namespace, (100, 0))
        last_canary = 0.0
        while time.monotonic() - changed < 3:
            response = http.get(url)
            assert response.status_code == 200, response.text
            if response.json()["version"] == "v2":
                last_canary = time.monotonic() - changed
        assert last_canary < 2, f"the canary still got a request {last_canary:.2f}s after 100/0"
        assert _versions(http, url, 300) == Counter({"v1": 300})
    print(
        f"v2 served {shares[0]}/1000 at 90/10, {shares[1]}/1000 at 99/1; "
        f"99/1 applied in {took:.2f}s, 50/50 in {to_half:.2f}s; after 100/0 the last "
        f"canary response came {last_canary:.2f}s after the patch"
    )


def test_gateway_stops_with_its_port_and_process(cluster: Sandbox) -> None:
    info = cluster.start_gateway()
    assert pid_alive(info.pid) and not port_is_free(info.host, info.port)
    assert any(p.pid == info.pid for p in cluster.processes())  # the leak check sees it
    assert cluster.stop_gateway() == [(info.host, info.port)]
    assert cluster.gateway is None
    assert not pid_alive(info.pid) and port_is_free(info.host, info.port)
    assert os.path.exists(info.log)
