"""A real Prometheus scraping the sandbox's pods, as a cluster's kubernetes-pods job does.

The sandbox has no Prometheus service discovery: its pods are local processes,
each on a loopback address of its own (its pod IP). `PodScrape` keeps a
file_sd target file at the pods of the tests' namespaces, rewritten as pods
come and go, each target labelled with its `namespace` and `pod` as the usual
kubernetes-pods relabelling labels them; Prometheus picks up every rewrite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from rollout_helpers import GateWorld, wait_until
from traffic_helpers import _Sampler

from deploymentgate_devkit.testing.prometheus import Prometheus

JOB = "kubernetes-pods"
SCRAPE_INTERVAL = "1s"


def pod_targets(worlds: Sequence[GateWorld]) -> list[dict[str, Any]]:
    """One file_sd target group per live pod with an IP: its first container port."""
    groups = []
    for world in worlds:
        for pod in world.pods():
            ip = (pod.get("status") or {}).get("podIP")
            ports = [
                p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or []
            ]
            if ip and ports:
                labels = {"namespace": world.namespace, "pod": pod["metadata"]["name"]}
                groups.append({"targets": [f"{ip}:{ports[0]}"], "labels": labels})
    return sorted(groups, key=lambda g: g["targets"][0])


class PodScrape(_Sampler):
    """Prometheus scraping every pod of `worlds` each second; the targets
    rewritten every `interval` s when the pods changed."""

    def __init__(
        self, prometheus: Prometheus, worlds: Sequence[GateWorld], interval: float = 0.5
    ) -> None:
        super().__init__(interval)
        self.prometheus = prometheus
        self.worlds = tuple(worlds)
        self.file = prometheus.directory / "pods.json"
        self._written: list[dict[str, Any]] | None = None

    def start(self) -> PodScrape:
        self._sample()
        self.prometheus.start(
            {
                "global": {
                    "scrape_interval": SCRAPE_INTERVAL,
                    "evaluation_interval": SCRAPE_INTERVAL,
                },
                "scrape_configs": [
                    {
                        "job_name": JOB,
                        "scrape_timeout": SCRAPE_INTERVAL,
                        "file_sd_configs": [{"files": [str(self.file)], "refresh_interval": "1s"}],
                    }
                ],
            }
        )
        super().start()
        return self

    def _sample(self) -> None:
        groups = pod_targets(self.worlds)
        if groups != self._written:
            # Written whole, then renamed over: Prometheus never reads half a file.
            partial = self.file.with_suffix(".tmp")
            partial.write_text(json.dumps(groups))
            partial.replace(self.file)
            self._written = groups

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector `promql` returns now."""
        result: list[dict[str, Any]] = self.prometheus.api("query", query=promql)["result"]
        return result

    def wait_scraped(self, world: GateWorld, timeout: float = 30.0) -> list[str]:
        """Until Prometheus has scraped every live pod of `world`; their names."""

        def scraped() -> list[str] | None:
            pods = {p["metadata"]["name"] for p in world.pods()}
            up = {
                r["metric"]["pod"]
                for r in self.query(f'up{{job="{JOB}",namespace="{world.namespace}"}} == 1')
            }
            return sorted(pods) if pods and pods <= up else None

        began = time.monotonic()
        return wait_until(
            scraped,
            timeout,
            describe=lambda: (
                f"targets {self._written}, errors {self.errors[-3:]},"
                f" {time.monotonic() - began:.0f}s"
            ),
            what=f"every pod of {world.namespace} scraped",
        )
