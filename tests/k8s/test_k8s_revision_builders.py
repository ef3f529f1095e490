"""Revision identity and the objects the gate builds: pure, no cluster."""

from __future__ import annotations

import copy
import re
from typing import Any

from deploymentgate.k8s.builders import (
    GATE_LABEL,
    MAX_DEPLOYMENT_NAME,
    REVISION_LABEL,
    ROLE_LABEL,
    SERVING_LABEL,
    OwnerRef,
    build_serving,
    build_verification,
    controller_uid,
    gate_label_value,
    serving_name,
    serving_selector,
    verify_name,
)
from deploymentgate.k8s.revision import template_revision

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def gate(name: str = "chat", uid: str = "uid-1") -> OwnerRef:
    return OwnerRef("shop", name, uid)


def template(image: str = "chat:v1", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "chat", **labels}},
        "spec": {"containers": [{"name": "chat", "image": image}]},
    }


def test_revision_is_64_bits_of_hex_and_changes_with_the_image() -> None:
    one, two = template_revision(template("chat:v1")), template_revision(template("chat:v2"))
    assert re.fullmatch(r"[0-9a-f]{16}", one) and one != two


def test_a_forged_revision_label_does_not_freeze_the_identity() -> None:
    """A template copied from a serving Deployment carries our labels; a new
    image under them is still a new revision."""
    v1 = template("chat:v1")
    copied = template("chat:v2", **{REVISION_LABEL: template_revision(v1)})
    assert template_revision(copied) == template_revision(template("chat:v2"))
    assert template_revision(copied) != template_revision(v1)


def test_only_the_operators_own_prefix_is_ignored() -> None:
    base = template_revision(template())
    assert template_revision(template(**{"deploymentgate.dev/anything": "x"})) == base
    assert template_revision(template(team="a")) != base
    annotated = template()
    annotated["metadata"]["annotations"] = {"example.com/deploymentgate.dev": "x"}
    assert template_revision(annotated) != base


def test_serving_deployment_runs_the_team_template_under_the_gates_labels() -> None:
    tpl = template()
    rev = template_revision(tpl)
    body = build_serving(gate(), "chat", tpl, rev, 3)
    meta, spec = body["metadata"], body["spec"]
    assert meta["name"] == f"chat-{rev}" == serving_name("chat", rev)
    assert meta["namespace"] == "shop"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "rollout.deploymentgate.dev/v1alpha1",
            "kind": "DeploymentGate",
            "name": "chat",
            "uid": "uid-1",
            "controller": True,
        }
    ]
    assert controller_uid(meta) == "uid-1"
    assert spec["replicas"] == 3
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"] == {
        GATE_LABEL: "chat",
        ROLE_LABEL: "serving",
        REVISION_LABEL: rev,
    }
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert labels["app"] == "chat" and labels[SERVING_LABEL] == "chat"
    assert serving_selector("chat") == (SERVING_LABEL, "chat")
    # Its identity is the team's revision: computed, not labelled.
    assert template_revision(spec["template"]) == rev
    assert tpl == template(), "the builder changed the team's template"


def test_verification_pods_keep_the_teams_labels_but_never_the_serving_key() -> None:
    # Even a team template that carries the serving key (copied from a serving
    # Deployment) loses it: the gated Service must never select a pod under test.
    tpl = template("chat:v2", **{SERVING_LABEL: "chat"})
    rev = template_revision(tpl)
    body = build_verification(gate(), "chat", tpl, rev)
    labels = body["spec"]["template"]["metadata"]["labels"]
    assert body["metadata"]["name"] == "chat-verify" == verify_name("chat")
    assert SERVING_LABEL not in labels
    assert labels["app"] == "chat" and labels[ROLE_LABEL] == "verify"
    assert labels[REVISION_LABEL] == rev
    assert body["spec"]["selector"]["matchLabels"] == {GATE_LABEL: "chat", ROLE_LABEL: "verify"}
    assert body["spec"]["strategy"] == {"type": "Recreate"}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert template_revision(body["spec"]["template"]) == rev


def test_a_copied_serving_key_is_stripped_from_serving_templates_too() -> None:
    tpl = template(**{SERVING_LABEL: "other-gate", REVISION_LABEL: "0" * 16})
    rev = template_revision(tpl)
    labels = build_serving(gate(), "chat", tpl, rev, 1)["spec"]["template"]["metadata"]["labels"]
    assert labels[SERVING_LABEL] == "chat" and labels[REVISION_LABEL] == rev


def test_long_gate_names_get_bounded_distinct_label_values() -> None:
    a, b = "g" * 100 + "-a", "g" * 100 + "-b"
    va, vb = gate_label_value(a), gate_label_value(b)
    assert va != vb
    for value in (va, vb):
        assert len(value) <= 63 and LABEL_VALUE.match(value), value
    assert gate_label_value("chat") == "chat"
    body = build_serving(gate(a), "chat", template(), "0123456789abcdef", 1)
    for labels in (
        body["metadata"]["labels"],
        body["spec"]["selector"]["matchLabels"],
        body["spec"]["template"]["metadata"]["labels"],
    ):
        assert all(len(v) <= 63 and LABEL_VALUE.match(v) for v in labels.values()), labels


def test_long_target_names_give_bounded_valid_distinct_names() -> None:
    long_a = ("a" * 60 + ".") * 3 + "x" * 60
    long_b = long_a[:-1] + "y"
    names = {
        serving_name(long_a, "0123456789abcdef"),
        serving_name(long_b, "0123456789abcdef"),
        verify_name(long_a),
        verify_name(long_b),
    }
    assert len(names) == 4
    for name in names:
        assert len(name) <= MAX_DEPLOYMENT_NAME and DNS_SUBDOMAIN.match(name), name
    assert serving_name(long_a, "0123456789abcdef").endswith("-0123456789abcdef")


def test_controller_uid_reads_only_a_gates_controller_reference() -> None:
    ref = {
        "apiVersion": "rollout.deploymentgate.dev/v1alpha1",
        "kind": "DeploymentGate",
        "name": "chat",
        "uid": "u",
        "controller": True,
    }
    assert controller_uid({"ownerReferences": [ref]}) == "u"
    assert controller_uid({"ownerReferences": [{**ref, "controller": False}]}) is None
    other = copy.deepcopy(ref) | {"apiVersion": "example.com/v1"}
    assert controller_uid({"ownerReferences": [other]}) is None
    assert controller_uid({}) is None
