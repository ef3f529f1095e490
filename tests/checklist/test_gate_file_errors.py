"""A malformed gate file gets a message naming the field path and the line,
and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploymentgate.checklist.gate_file import GateFileError, parse_gate_text
from deploymentgate.cli import main

GOOD = """\
apiVersion: rollout.deploymentgate.dev/v1alpha1
kind: DeploymentGate
metadata:
  name: chat
  namespace: prod
spec:
  targetRef: {kind: Deployment, name: chat}
  service: chat
  probes:
    health:
      path: /health
      maxLatency: 50ms
"""


def check_file(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    gate = tmp_path / "gate.yaml"
    gate.write_text(text)
    code = main(["check", "-f", str(gate), "--url", "http://127.0.0.1:9"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err.replace(str(gate), "gate.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("maxLatency: 50ms", "maxLatency: fast"),
            "gate.yaml:12: spec.probes.health.maxLatency: not a duration: 'fast'",
        ),
        (
            GOOD.replace("      path: /health\n", "      path: /health\n      expectCode: 200\n"),
            "gate.yaml:12: spec.probes.health.expectCode: unknown field",
        ),
        (
            GOOD.replace("maxLatency: 50ms", "maxLatency: 50ms\n      expectStatus: ok"),
            "gate.yaml:13: spec.probes.health.expectStatus: Input should be a valid integer",
        ),
        (
            GOOD.replace("  service: chat\n", ""),
            "gate.yaml:6: spec.service: required field missing",
        ),
        (
            GOOD + "  traffic:\n    steps: [10, 50, 500]\n",
            "gate.yaml:14: spec.traffic.steps: each step is a percentage from 1 to 100, got 500",
        ),
        (
            GOOD.replace("name: chat}", "name: chat"),
            "gate.yaml:8: invalid YAML: expected ',' or '}', but got ':'",
        ),
        (
            GOOD + "  service: other\n",
            "gate.yaml:13: duplicate key 'service'",
        ),
        (
            GOOD.replace("kind: DeploymentGate", "kind: Deployment"),
            "gate.yaml:2: expected exactly one DeploymentGate in the file, found kind 'Deployment'",
        ),
        ("", "gate.yaml: the file holds no YAML document"),
    ],
    ids=[
        "bad-duration",
        "unknown-field",
        "wrong-type",
        "missing-field",
        "invalid-value",
        "bad-yaml",
        "duplicate-key",
        "wrong-kind",
        "empty",
    ],
)
def test_malformed_gate_file_names_field_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, err = check_file(tmp_path, text, capsys)
    assert code == 2
    assert message in err


def test_every_problem_in_a_file_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace("maxLatency: 50ms", "maxLatency: fast\n      bogus: 1").replace(
        "  service: chat\n", "  service: ''\n"
    )
    code, err = check_file(tmp_path, text, capsys)
    assert code == 2
    assert "gate.yaml:8: spec.service: String should have at least 1 character" in err
    assert "gate.yaml:12: spec.probes.health.maxLatency" in err
    assert "gate.yaml:13: spec.probes.health.bogus: unknown field" in err


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "-f", str(tmp_path / "nope.yaml"), "--url", "http://127.0.0.1:9"])
    assert code == 2
    assert "cannot read gate file" in capsys.readouterr().err


def test_a_bare_spec_is_accepted_and_errors_have_no_spec_prefix() -> None:
    gate = parse_gate_text("targetRef: {name: chat}\nservice: chat\n")
    assert gate.name is None and gate.spec.service == "chat"
    with pytest.raises(Exception, match=r"<gate>:2: probes.startup.phaseTimeout: not a duration"):
        parse_gate_text(
            "targetRef: {name: chat}\nprobes: {startup: {phaseTimeout: soon}}\nservice: x\n"
        )


def test_full_resource_keeps_its_name() -> None:
    assert parse_gate_text(GOOD).name == "chat"


def test_a_template_beside_the_gate_is_validated_with_its_line() -> None:
    text = GOOD + (
        "---\n"
        "apiVersion: rollout.deploymentgate.dev/v1alpha1\n"
        "kind: MetricCheckTemplate\n"
        "metadata: {name: p95}\n"
        "spec:\n"
        "  relativeTo: stable\n"
    )
    with pytest.raises(GateFileError) as caught:
        parse_gate_text(text, "gate.yaml")
    line = GOOD.count("\n") + 5  # the `spec:` line of the template
    assert str(caught.value) == f"gate.yaml:{line}: spec.query: required field missing"
