"""Background observers for the traffic and trust acceptance tests.

`UserTraffic` sends user requests through the Service without pause and keeps
every answer; `EndpointSampler` reads the Service's ready endpoints every
100 ms; `ReplicaSampler` reads a Deployment's ready replicas. Each keeps its
samples with the wall-clock time, so a test can ask what users could meet
before or after a moment the gate's status names (`phaseSince`).

Labels are the design's (docs: Traffic and trust), written out here on
purpose: the tests check the object shape users and GitOps tools see.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx
from rollout_helpers import APP, GateWorld, chat_deployment, pod_version

GATE_LABEL = "deploymentgate.dev/gate"
ROLE_LABEL = "deploymentgate.dev/role"
REVISION_LABEL = "deploymentgate.dev/revision"
SERVING_LABEL = "deploymentgate.dev/serving"
BAD_MODE = "ws-missing-event"  # verification can never pass: tool_completed never comes


def bad_deployment(version: str, *, replicas: int, mode: str = BAD_MODE) -> dict[str, Any]:
    """The team's manifest shipping a broken image, as a GitOps tool would apply it."""
    return chat_deployment(version=version, replicas=replicas, mode=mode)


def with_template_labels(manifest: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(dict(manifest))
    metadata = out["spec"]["template"]["metadata"]
    # A new dict: the builder shares one labels dict with the (immutable) selector.
    metadata["labels"] = {**metadata["labels"], **labels}
    return out


def parse_time(text: str) -> float:
    """RFC 3339 from the API (status.phaseSince) -> time.time() scale."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def serving_deployments(world: GateWorld) -> list[dict[str, Any]]:
    """Deployments in the namespace owned by the world's gate and labelled as serving."""
    items = world.get(f"/apis/apps/v1/namespaces/{world.namespace}/deployments")["items"]
    return [
        d
        for d in items
        if (d["spec"]["template"]["metadata"].get("labels") or {}).get(ROLE_LABEL) == "serving"
        and any(
            o.get("controller") and o.get("kind") == "DeploymentGate"
            for o in d["metadata"].get("ownerReferences") or ()
        )
    ]


def ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def team_pods(world: GateWorld, version: str) -> list[dict[str, Any]]:
    """Pods of the team's own Deployment running `version` (no operator role label)."""
    return [
        p
        for p in world.pods()
        if pod_version(p) == version and ROLE_LABEL not in (p["metadata"].get("labels") or {})
    ]


class _Sampler:
    """A daemon thread calling `_sample` every `interval` s until stopped."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Any:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception as exc:  # keep sampling; the test reads the errors
                self.errors.append(repr(exc))
            self._stop.wait(self.interval)

    def _sample(self) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Answer:
    at: float
    version: str  # "v1", "v1:503", "error:ConnectError", ...


class UserTraffic(_Sampler):
    """Users of the Service, one request after another, each on a new connection
    (the proxy picks an endpoint per connection)."""

    def __init__(self, world: GateWorld, service: str = APP, interval: float = 0.02) -> None:
        super().__init__(interval)
        host, port = world.cluster.service_address(world.namespace, service)
        self.url = f"http://{host}:{port}/api/chat"
        self.answers: list[Answer] = []
        self._http = httpx.Client(trust_env=False, timeout=3.0)

    def stop(self) -> None:
        super().stop()
        self._http.close()

    def _sample(self) -> None:
        try:
            response = self._http.get(self.url, headers={"Connection": "close"})
        except httpx.HTTPError as exc:
            self.answers.append(Answer(time.time(), f"error:{type(exc).__name__}"))
            return
        try:
            version = str(response.json().get("version"))
        except ValueError:
            version = "unparsable"
        ok = response.status_code == 200
        self.answers.append(
            Answer(time.time(), version if ok else f"{version}:{response.status_code}")
        )

    def served(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter(a.version for a in list(self.answers) if since <= a.at <= until)

    def reached(self, version: str) -> int:
        """Requests answered by `version`, whatever the status code."""
        return sum(n for v, n in self.served().items() if v.split(":", 1)[0] == version)


@dataclass(frozen=True)
class EndpointSample:
    at: float  # when the EndpointSlices were read (after the answer came)
    ready: Counter[str]  # APP_VERSION of each ready endpoint's pod
    revisions: Counter[str]  # revision label of each ready endpoint's pod ("-" if none)

    @property
    def total(self) -> int:
        return sum(self.ready.values())


class EndpointSampler(_Sampler):
    """The Service's ready endpoints, as its EndpointSlices say, every `interval` s."""

    def __init__(self, world: GateWorld, service: str = APP, interval: float = 0.1) -> None:
        super().__init__(interval)
        self.world = world
        self.service = service
        self.samples: list[EndpointSample] = []
        self._pods: dict[str, tuple[str, str]] = {}  # name -> (version, revision label)

    def _sample(self) -> None:
        ns = self.world.namespace
        slices = self.world.get(
            f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name={self.service}"
        )["items"]
        at = time.time()
        names = [
            (e.get("targetRef") or {}).get("name", "")
            for item in slices
            for e in item.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        ]
        if any(n not in self._pods for n in names):
            # A pod's template never changes: read the pods only for new names.
            for pod in self.world.get(f"/api/v1/namespaces/{ns}/pods")["items"]:
                labels = pod["metadata"].get("labels") or {}
                self._pods[pod["metadata"]["name"]] = (
                    pod_version(pod),
                    labels.get(REVISION_LABEL, "-"),
                )
        versions: Counter[str] = Counter()
        revisions: Counter[str] = Counter()
        for name in names:
            version, revision = self._pods.get(name, ("unknown-pod", "-"))
            versions[version] += 1
            revisions[revision] += 1
        self.samples.append(EndpointSample(at, versions, revisions))

    def between(self, since: float = 0.0, until: float = float("inf")) -> list[EndpointSample]:
        return [s for s in list(self.samples) if since <= s.at <= until]

    def max_gap(self) -> float:
        """The longest time between two samples (a sampler that stalls proves nothing)."""
        times = [s.at for s in self.samples]
        return max((b - a for a, b in pairwise(times)), default=float("inf"))


class ReplicaSampler(_Sampler):
    """`readyReplicas` of a Deployment (by name, or the first found by `find`)."""

    def __init__(
        self,
        world: GateWorld,
        find: Callable[[], dict[str, Any] | None],
        interval: float = 0.2,
    ) -> None:
        super().__init__(interval)
        self.world = world
        self.find = find
        self.samples: list[tuple[float, int | None]] = []

    def _sample(self) -> None:
        body = self.find()
        ready_replicas = (
            None if body is None else int((body.get("status") or {}).get("readyReplicas") or 0)
        )
        self.samples.append((time.time(), ready_replicas))

    def minimum(self) -> int | None:
        values = [v for _, v in self.samples]
        if not values:
            return None
        return min(-1 if v is None else v for v in values)


def assert_never_served(traffic: UserTraffic, endpoints: EndpointSampler, version: str) -> None:
    """No request answered by `version`, no ready endpoint of it; and both recorders
    really recorded (a recorder that saw nothing proves nothing)."""
    served = traffic.served()
    assert sum(served.values()) >= 100, f"too little user traffic recorded: {served}"
    assert traffic.reached(version) == 0, f"users reached {version}: {served}"
    samples = endpoints.samples
    assert len(samples) >= 20, f"too few endpoint samples: {len(samples)} {endpoints.errors[-3:]}"
    with_bad = [s for s in samples if s.ready[version]]
    assert not with_bad, f"{version} was a ready endpoint of the Service: {with_bad[:3]}"
    assert min(s.total for s in samples) > 0, "the Service had no ready endpoint at some point"
