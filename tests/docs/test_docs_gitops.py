"""The README's GitOps snippets are the shipped ones (issue 19).

The `argocd-cm` block is `deploy/argocd/argocd-cm.yaml` as generated from the
Lua files (so the scripts the e2e test runs in gopher-lua are the ones shown);
the Flux Kustomization health-checks the gate by its real group, version and
kind. The scripts' behaviour is tested on the local cluster in
tests/e2e/test_gitops_health.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from docs_markdown import blocks

from deploymentgate.manifests import argocd
from deploymentgate.models import API_GROUP, API_VERSION, KIND

ROOT = Path(__file__).resolve().parents[2]


def readme_documents() -> list[dict[str, Any]]:
    found = []
    for block in blocks(ROOT / "README.md"):
        if block.info in {"yaml", "yml"}:
            found += [d for d in yaml.safe_load_all("\n".join(block.body)) if isinstance(d, dict)]
    return found


def test_the_readmes_argocd_cm_snippet_is_the_shipped_file() -> None:
    text = (ROOT / argocd.CONFIG_MAP_FILE).read_text()
    body = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
    shown = [
        "\n".join(b.body) + "\n"
        for b in blocks(ROOT / "README.md")
        if argocd.HEALTH_KEY in "\n".join(b.body)
    ]
    assert shown == [body], "README's argocd-cm block differs from deploy/argocd/argocd-cm.yaml"
    shipped = yaml.safe_load(text)
    texts = {s: (ROOT / argocd.CUSTOMIZATION / s).read_text() for s in argocd.scripts()}
    assert shipped["data"] == argocd.config_map_data(texts)
    actions = yaml.safe_load(shipped["data"][argocd.ACTIONS_KEY])
    assert [d["name"] for d in actions["definitions"]] == [
        "abort",
        "retry",
        "promote",
        "promote-full",
    ]


def test_the_readmes_flux_kustomization_health_checks_the_gate() -> None:
    kustomizations = [d for d in readme_documents() if d.get("kind") == "Kustomization"]
    assert len(kustomizations) == 1, kustomizations
    spec = kustomizations[0]["spec"]
    assert kustomizations[0]["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    checks = spec["healthChecks"]
    assert {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND} == {
        k: checks[0][k] for k in ("apiVersion", "kind")
    }
    assert checks[0]["name"] and checks[0]["namespace"]
    rule = spec["driftIgnoreRules"][0]
    assert rule == {
        "paths": ["/spec/replicas"],
        "target": {"group": "apps", "kind": "Deployment", "name": "chat"},
    }
