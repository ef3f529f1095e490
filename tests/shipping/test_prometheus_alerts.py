"""The chart's alert rules, loaded by a real Prometheus that scrapes a real
operator: a blocked rollout and a rollback page as docs/operations.md promises.

The rules file is the chart's own PrometheusRule, rendered by `helm template`
with `prometheusRule.thresholds.blockedFor=2s` (the chart's knob for tests and
impatient teams), so the `for:` wait takes seconds instead of a minute.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from chart_install import InstallFn, helm_template
from chat_app import apply, chat_objects, gate_object, set_image, wait_phase
from operator_group import Operators

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.testing.prometheus import Prometheus

ALERT_TIMEOUT = 30.0

# What the chart's ServiceMonitor produces (serviceMonitor.jobName) and the
# README tells plain-Prometheus users to use: the alert rules select
# job=~".*deploymentgate.*", and honor_labels keeps the gate's `namespace`.
JOB = "deploymentgate"


def scrape_config(targets: list[str], rule_file: Path, interval: str = "1s") -> dict[str, Any]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rule_file)],
        "scrape_configs": [
            {
                "job_name": JOB,
                "honor_labels": True,
                "scrape_timeout": interval,
                "static_configs": [{"targets": targets}],
            }
        ],
    }


def chart_rules(cluster: Sandbox, tmp_path: Path) -> Path:
    """The PrometheusRule's spec as a plain rule file."""
    values = {"prometheusRule": {"enabled": True, "thresholds": {"blockedFor": "2s"}}}
    objects = helm_template(cluster, "alerts", "monitoring", values, tmp_path)
    (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    path = tmp_path / "deploymentgate-rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def wait_firing(prometheus: Prometheus, alertname: str, **labels: str) -> dict[str, Any]:
    deadline = time.monotonic() + ALERT_TIMEOUT
    alerts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        alerts = prometheus.alerts()
        for alert in alerts:
            have = alert["labels"]
            wanted = have.get("alertname") == alertname and labels.items() <= have.items()
            if wanted and alert["state"] == "firing":
                return alert
        time.sleep(0.5)
    raise AssertionError(f"{alertname} {labels} not firing within {ALERT_TIMEOUT}s; {alerts}")


def test_prometheus_fires_the_charts_alerts_for_a_blocked_and_a_rolled_back_gate(
    cluster: Sandbox,
    namespace: str,
    chart_identity: InstallFn,
    operators: Operators,
    prometheus: Prometheus,
    tmp_path: Path,
) -> None:
    install = chart_identity({"watchNamespaces": [namespace]})
    kubeconfig = cluster.kubeconfig_for_service_account(install.namespace, install.service_account)
    # `lost` guards a Deployment that does not exist: Blocked at once.
    apply(cluster, namespace, [*chat_objects(), gate_object("lost", target="gone")])
    operator = operators.start("main", kubeconfig, install.operator_args, serves=[namespace])
    prometheus.start(
        scrape_config([f"127.0.0.1:{operator.metrics_port}"], chart_rules(cluster, tmp_path))
    )

    wait_phase(cluster, namespace, "lost", "Blocked", timeout=30)
    blocked = wait_firing(
        prometheus, "DeploymentGateRolloutBlocked", namespace=namespace, gate="lost"
    )
    assert blocked["labels"]["phase"] == "Blocked"
    assert blocked["labels"]["severity"] == "critical"
    assert f"{namespace}/lost" in blocked["annotations"]["summary"]

    idle = wait_phase(cluster, namespace, "chat", "Idle", timeout=60)
    set_image(cluster, namespace, "chat", "chat-backend:startup-fails")
    wait_phase(
        cluster, namespace, "chat", "RolledBack", timeout=60, revision_not=idle["stableRevision"]
    )
    rolled_back = wait_firing(
        prometheus, "DeploymentGateRolledBack", namespace=namespace, gate="chat"
    )
    assert rolled_back["labels"]["reason"] == "startupFailed"

    # The rules evaluate cleanly against real series, and nothing else pages.
    health = {r["name"]: r["health"] for g in prometheus.rule_groups() for r in g["rules"]}
    assert set(health) == {
        "DeploymentGateRolloutBlocked",
        "DeploymentGateRolledBack",
        "DeploymentGateRevertedAfterPromotion",
        "DeploymentGateCanaryProbesFailing",
        "DeploymentGateStableFailingChecklist",
        "DeploymentGateOperatorDown",
        "DeploymentGateNotReconciling",
    }
    assert set(health.values()) == {"ok"}, health
    paged = {
        (a["labels"]["alertname"], a["labels"].get("gate"))
        for a in prometheus.alerts()
        if a["state"] == "firing"
    }
    assert paged == {
        ("DeploymentGateRolloutBlocked", "lost"),
        ("DeploymentGateRolledBack", "chat"),
    }
