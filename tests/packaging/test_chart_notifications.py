"""The chart's notification and log settings: webhook URLs reach the operator
from Secrets without ever being in its arguments, Secret access exists only
for the Secrets named, and the operator accepts what the chart passes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chart_render import HelmError, Rendered, RenderFn

from deploymentgate import cli
from deploymentgate.models import WebhookType
from deploymentgate.notify import operator_webhooks

HOOKS: dict[str, Any] = {
    "webhooks": [
        {"type": "slack", "urlFrom": {"secretKeyRef": {"name": "hooks", "key": "slack"}}},
        {"type": "json", "urlFrom": {"secretKeyRef": {"name": "ops-hooks", "key": "url"}}},
    ],
    "secretNames": ["team-hooks", "ops-hooks"],
}


def secret_rules(rendered: Rendered) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, namespace, rule) of every rule that mentions Secrets."""
    out = []
    for role in rendered.of_kind("ClusterRole") + rendered.of_kind("Role"):
        for rule in role["rules"]:
            if "secrets" in rule["resources"]:
                out.append((role["kind"], role["metadata"].get("namespace", "*"), rule))
    return out


def webhook_env(rendered: Rendered) -> dict[str, Any]:
    env = rendered.operator_container.get("env", [])
    return {e["name"]: e for e in env if e["name"].startswith("DEPLOYMENTGATE_WEBHOOK")}


def test_by_default_no_webhook_no_secret_access_and_text_logs(render: RenderFn) -> None:
    rendered = render({})
    args = rendered.operator_container["args"]
    assert "--log-format=text" in args
    assert not [a for a in args if a.startswith("--webhook")]
    assert webhook_env(rendered) == {}
    assert secret_rules(rendered) == []


@pytest.mark.parametrize("namespaces", [[], ["team-a", "team-b"]], ids=["cluster", "listed"])
def test_webhooks_come_from_secrets_and_only_the_named_secrets_are_readable(
    render: RenderFn, namespaces: list[str]
) -> None:
    rendered = render({"notifications": HOOKS, "watchNamespaces": namespaces, "logFormat": "json"})
    args = rendered.operator_container["args"]
    env = webhook_env(rendered)

    flags = [a.split("=", 1)[1] for a in args if a.startswith("--webhook")]
    assert flags == ["slack=DEPLOYMENTGATE_WEBHOOK_0", "json=DEPLOYMENTGATE_WEBHOOK_1"]
    assert env == {
        "DEPLOYMENTGATE_WEBHOOK_0": {
            "name": "DEPLOYMENTGATE_WEBHOOK_0",
            "valueFrom": {"secretKeyRef": {"name": "hooks", "key": "slack"}},
        },
        "DEPLOYMENTGATE_WEBHOOK_1": {
            "name": "DEPLOYMENTGATE_WEBHOOK_1",
            "valueFrom": {"secretKeyRef": {"name": "ops-hooks", "key": "url"}},
        },
    }
    # no webhook URL in the pod's arguments: the only URL there is the liveness endpoint's
    assert [a for a in args if "://" in a and not a.startswith("--liveness=")] == []
    assert "--log-format=json" in args

    # the operator takes these arguments, and finds the URLs where the kubelet puts them
    parsed = cli.build_parser().parse_args(args)
    hooks = operator_webhooks(
        parsed.webhook,
        parsed.webhook_from_env,
        {
            "DEPLOYMENTGATE_WEBHOOK_0": "https://hooks.example/T/B/x",
            "DEPLOYMENTGATE_WEBHOOK_1": "http://ops.example/h",
        },
    )
    assert [h.type for h in hooks] == [WebhookType.SLACK, WebhookType.JSON]
    assert parsed.log_format == "json"

    rules = secret_rules(rendered)
    expected_scopes = namespaces or ["*"]
    assert sorted(scope for _, scope, _ in rules) == sorted(expected_scopes)
    for kind, _, rule in rules:
        assert kind == ("Role" if namespaces else "ClusterRole")
        assert rule == {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["team-hooks", "ops-hooks"],
            "verbs": ["get"],
        }


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"logFormat": "xml"}, "logFormat"),
        (
            {
                "notifications": {
                    "webhooks": [{"type": "teams", "urlFrom": HOOKS["webhooks"][0]["urlFrom"]}]
                }
            },
            "/notifications/webhooks/0/type",
        ),
        (
            {"notifications": {"webhooks": [{"type": "json", "url": "https://x.example/h"}]}},
            "/notifications/webhooks/0",
        ),
        ({"notifications": {"secretNames": ["Team_Hooks"]}}, "/notifications/secretNames/0"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else "",
)
def test_schema_refuses_unusable_notification_settings(
    render: RenderFn, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(HelmError, match=r"schema|values don't meet") as refused:
        render(values)
    assert complaint in str(refused.value)
