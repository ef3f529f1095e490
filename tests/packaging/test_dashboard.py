"""The Grafana dashboard: valid JSON whose queries read metrics the operator
really exposes, with a panel for each thing an on-call person looks at."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from packaging_tools import DASHBOARD
from promql_refs import check_selector, exposed_series, selectors


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> Iterator[tuple[str, str]]:
    for panel in panels():
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for annotation in dashboard()["annotations"]["list"]:
        yield annotation["name"], annotation["expr"]


def test_queries_read_only_metrics_labels_and_phases_the_operator_exposes() -> None:
    exposed = exposed_series()
    problems = [
        f"{title}: {problem}"
        for title, expr in queries()
        for selector in selectors(expr)
        for problem in check_selector(selector, exposed)
    ]
    assert not problems


def test_dashboard_shows_phase_weight_probes_rollbacks_and_error_rate() -> None:
    read = {s.metric for _, expr in queries() for s in selectors(expr)}
    assert {
        "deploymentgate_gate_phase",
        "deploymentgate_canary_weight_percent",
        "deploymentgate_probe_success",
        "deploymentgate_rollbacks_total",
        "deploymentgate_canary_error_rate_ratio",
        "deploymentgate_last_reconcile_timestamp_seconds",
    } <= read


def test_panels_have_unique_ids_fit_the_grid_and_use_the_datasource_variable() -> None:
    board = dashboard()
    ids = [p["id"] for p in panels()]
    assert ids and len(ids) == len(set(ids))
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["description"], panel["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert {"namespace", "gate"} <= set(variables)
    assert board["uid"] == "deploymentgate"
