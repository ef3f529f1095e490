"""The alert rules: valid for promtool, unit-tested alert by alert, about
metrics the operator really exposes, and embedded unchanged by the chart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from chart_render import RenderFn
from packaging_tools import ALERTS, CHART, run_tool
from promql_refs import check_selector, exposed_series, selectors

UNIT_TESTS = Path(__file__).parent / "alerts" / "alerts_test.yaml"
ALERT_NAMES = {
    "DeploymentGateRolloutBlocked",
    "DeploymentGateRolledBack",
    "DeploymentGateRevertedAfterPromotion",
    "DeploymentGateCanaryProbesFailing",
    "DeploymentGateStableFailingChecklist",
    "DeploymentGateOperatorDown",
    "DeploymentGateNotReconciling",
}
# Alerts about one gate must say which; operator-wide ones have no gate.
PER_GATE = {
    "DeploymentGateStableFailingChecklist",
    "DeploymentGateRolloutBlocked",
    "DeploymentGateRolledBack",
    "DeploymentGateRevertedAfterPromotion",
    "DeploymentGateCanaryProbesFailing",
}
MARKER = re.compile(r"([0-9]+(?:\.[0-9]+)?(?:ms|[smhdwy])?)[^0-9\n]*# threshold: (\w+)$", re.M)


def rules_of(groups: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups["groups"] for r in g["rules"] if "alert" in r}


def source_rules() -> dict[str, dict[str, Any]]:
    return rules_of(yaml.safe_load(ALERTS.read_text()))


def test_promtool_accepts_the_rule_file(promtool: Path) -> None:
    result = run_tool(promtool, "check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_alerts_fire_and_stay_quiet_as_the_unit_tests_expect(promtool: Path) -> None:
    result = run_tool(promtool, "test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == ALERT_NAMES
    assert quiet == ALERT_NAMES


def test_every_alert_has_a_severity_and_says_what_and_where() -> None:
    rules = source_rules()
    assert set(rules) == ALERT_NAMES
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        if name in PER_GATE:
            for text in (annotations["summary"], annotations["description"]):
                assert "$labels.namespace" in text and "$labels.gate" in text, (name, text)


def test_alerts_ask_only_for_metrics_labels_and_phases_the_operator_exposes() -> None:
    exposed = exposed_series()
    problems = []
    for name, rule in source_rules().items():
        refs = selectors(rule["expr"])
        assert refs or "up{" in rule["expr"], f"{name} reads no operator metric"
        problems += [f"{name}: {p}" for s in refs for p in check_selector(s, exposed)]
    assert not problems


def test_threshold_defaults_in_values_match_the_rule_file() -> None:
    marked: dict[str, set[str]] = {}
    for literal, key in MARKER.findall(ALERTS.read_text()):
        marked.setdefault(key, set()).add(literal)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]["thresholds"]
    assert marked and set(defaults) == set(marked)
    for key, literals in marked.items():
        assert literals == {str(defaults[key])}, (
            f"{key}: file says {literals}, values {defaults[key]}"
        )


def prometheus_rule(render: RenderFn, thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"prometheusRule": {"enabled": True}}
    if thresholds:
        values["prometheusRule"]["thresholds"] = thresholds
    spec: dict[str, Any] = render(values).one("PrometheusRule")["spec"]
    return spec


def test_prometheusrule_embeds_the_rule_file_unchanged_by_default(render: RenderFn) -> None:
    assert prometheus_rule(render) == yaml.safe_load(ALERTS.read_text())


def test_threshold_values_reach_the_rendered_rules(
    render: RenderFn, promtool: Path, tmp_path: Path
) -> None:
    overrides = {
        "blockedFor": "3m",
        "stuckSeconds": 2700,
        "awaitingApprovalSeconds": 7200,
        "rolledBackWindow": "30m",
        "probesFailingFor": "2m",
        "operatorDownFor": "10m",
        "notReconcilingSeconds": 900,
        "reconcileErrorRatio": 0.25,
        "notReconcilingFor": "15m",
    }
    spec = prometheus_rule(render, overrides)
    rules = rules_of(spec)
    assert rules["DeploymentGateRolloutBlocked"]["for"] == "3m"
    assert "> 2700 # threshold: stuckSeconds" in rules["DeploymentGateRolloutBlocked"]["expr"]
    assert (
        "> 7200 # threshold: awaitingApprovalSeconds"
        in rules["DeploymentGateRolloutBlocked"]["expr"]
    )
    for name in ("DeploymentGateRolledBack", "DeploymentGateRevertedAfterPromotion"):
        rolled_back = rules[name]["expr"]
        assert "[30m]" in rolled_back and "offset 30m" in rolled_back and "15m" not in rolled_back
    assert rules["DeploymentGateCanaryProbesFailing"]["for"] == "2m"
    assert rules["DeploymentGateOperatorDown"]["for"] == "10m"
    not_reconciling = rules["DeploymentGateNotReconciling"]
    assert "> 900 # threshold" in not_reconciling["expr"]
    assert "> 0.25 # threshold" in not_reconciling["expr"]
    assert not_reconciling["for"] == "15m"
    # Still a valid rule file after substitution.
    rendered = tmp_path / "rendered-rules.yaml"
    rendered.write_text(yaml.safe_dump(spec))
    result = run_tool(promtool, "check", "rules", rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_labels_are_added_without_overriding_severity(render: RenderFn) -> None:
    values = {
        "prometheusRule": {"enabled": True, "ruleLabels": {"team": "platform", "severity": "x"}}
    }
    spec = render(values).one("PrometheusRule")["spec"]
    assert set(rules_of(spec)) == set(source_rules())
    for name, rule in rules_of(spec).items():
        assert rule["labels"]["team"] == "platform", name
        assert rule["labels"]["severity"] == source_rules()[name]["labels"]["severity"]


def test_every_alert_is_documented_in_the_chart_readme() -> None:
    readme = (CHART / "README.md").read_text()
    assert not [alert for alert in sorted(ALERT_NAMES) if alert not in readme]
