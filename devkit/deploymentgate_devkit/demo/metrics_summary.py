"""The operator's key metrics for one gate, as the Prometheus series a team would alert on."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

# Sample names in the order they are shown (see deploymentgate/metrics.py).
KEY_SAMPLES = (
    "deploymentgate_gate_phase",
    "deploymentgate_canary_weight_percent",
    "deploymentgate_canary_error_rate_ratio",
    "deploymentgate_probe_runs_total",
    "deploymentgate_phase_transitions_total",
    "deploymentgate_rollbacks_total",
)
GATE_LABELS = ("namespace", "gate")


def key_samples(text: str, namespace: str, gate: str) -> list[str]:
    """Exposition-format lines of the key series of one gate.

    The gate's own labels are left out (the caller names the gate once), and
    of the one-per-phase gauge only the current phase is kept.
    """
    found: dict[str, list[tuple[str, float]]] = {name: [] for name in KEY_SAMPLES}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in found:
                continue
            labels = sample.labels
            if (labels.get("namespace"), labels.get("gate")) != (namespace, gate):
                continue
            if sample.name == "deploymentgate_gate_phase" and sample.value != 1:
                continue
            rest = {k: v for k, v in labels.items() if k not in GATE_LABELS}
            shown = ",".join(f'{k}="{v}"' for k, v in sorted(rest.items()))
            found[sample.name].append((f"{{{shown}}}" if shown else "", sample.value))
    lines = []
    for name in KEY_SAMPLES:
        for shown_labels, value in sorted(found[name]):
            lines.append(f"{name}{shown_labels} {_number(value)}")
    return lines


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.4g}"
