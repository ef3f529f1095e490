"""Every whole DeploymentGate shown in README.md and docs/ is one the operator accepts.

The YAML blocks that are complete objects (`kind: DeploymentGate`) are read by
the same models the operator and the CRD come from; fragments (a `spec:` excerpt,
chart values, another tool's settings) are not objects and are left to the
pages around them.
"""

from __future__ import annotations

from typing import Any

import yaml
from docs_markdown import Block, blocks, doc_files

from deploymentgate.models import (
    API_GROUP,
    API_VERSION,
    CLUSTER_TEMPLATE_KIND,
    KIND,
    TEMPLATE_KIND,
    MetricCheckTemplateSpec,
    parse_spec,
)


def gates_shown(kinds: tuple[str, ...] = (KIND,)) -> list[tuple[Block, dict[str, Any]]]:
    found: list[tuple[Block, dict[str, Any]]] = []
    for page in doc_files():
        for block in blocks(page):
            if block.info not in {"yaml", "yml"}:
                continue
            for document in yaml.safe_load_all("\n".join(block.body)):
                if isinstance(document, dict) and document.get("kind") in kinds:
                    found.append((block, document))
    return found


def test_every_whole_gate_in_the_docs_parses_with_the_operators_models() -> None:
    gates = gates_shown()
    assert gates, "no whole DeploymentGate found in the docs: the reader is broken"
    for block, gate in gates:
        assert gate["apiVersion"] == f"{API_GROUP}/{API_VERSION}", block.id
        parse_spec(gate["spec"])  # raises, naming the field, if the example is wrong


def test_every_whole_metric_check_template_in_the_docs_parses() -> None:
    templates = gates_shown((TEMPLATE_KIND, CLUSTER_TEMPLATE_KIND))
    assert {t["kind"] for _, t in templates} == {TEMPLATE_KIND, CLUSTER_TEMPLATE_KIND}
    for block, template in templates:
        assert template["apiVersion"] == f"{API_GROUP}/{API_VERSION}", block.id
        MetricCheckTemplateSpec.model_validate(template["spec"])
