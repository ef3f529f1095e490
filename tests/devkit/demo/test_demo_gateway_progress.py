"""Progress lines of `deploymentgate demo --router gatewayAPI`: the route's weights too."""

from __future__ import annotations

from test_demo_progress import PROGRESSING, gate, traffic_with

from deploymentgate_devkit.demo.progress import GateView, format_line


def test_a_gateway_line_shows_the_weight_asked_for_and_the_weights_read_back() -> None:
    status = {
        **PROGRESSING,
        "canaryWeight": 1,
        "routes": [{"name": "chat", "stableWeight": 99, "canaryWeight": 1}],
    }
    view = GateView.from_gate(gate(status))
    stats = traffic_with(*[("v1", 200)] * 99, ("v2", 200))

    line = format_line(12.0, view, stats.snapshot(100.0), names={"ab32271986": "v2"})

    assert "  1% to v2      route 99/1" in line
    assert "v1  99% (0.0% errors), v2   1% (0.0% errors)" in line


def test_a_route_not_managed_yet_shows_no_weights_and_replicas_gates_show_none() -> None:
    unmanaged = {**PROGRESSING, "routes": [{"name": "chat", "message": "not found"}]}
    assert GateView.from_gate(gate(unmanaged)).routes == ""
    assert GateView.from_gate(gate(PROGRESSING)).routes == ""
    line = format_line(1.0, GateView.from_gate(gate(PROGRESSING)), traffic_with().snapshot(1.0))
    assert "route" not in line
