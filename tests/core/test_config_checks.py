"""Seed §7: required variables, credentials from Secrets, forbidden values."""

from __future__ import annotations

from typing import Any

from gatesim import T0, adopted, gate_spec, minutes
from gatesim import template as chat_template

from deploymentgate import models
from deploymentgate.core import EnsureVerification
from deploymentgate.core.config_checks import SERVING_LABEL, config_problems
from deploymentgate.k8s import builders
from deploymentgate.manifests import serving_policy
from deploymentgate.models import ConfigChecks, Phase, Trigger


def template(*env: dict[str, Any], env_from: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "chat", "image": "chat:2", "env": list(env)}
    if env_from:
        container["envFrom"] = [{"configMapRef": {"name": "chat-config"}}]
    return {"metadata": {"labels": {"app": "chat"}}, "spec": {"containers": [container]}}


def secret(name: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "chat", "key": name.lower()}}}


def checks(**raw: Any) -> ConfigChecks:
    return ConfigChecks.model_validate(raw)


def test_a_template_with_every_required_variable_and_secrets_from_secrets_passes() -> None:
    tpl = template({"name": "DATABASE_URL", "value": "postgres://db"}, secret("JWT_SECRET_KEY"))
    assert config_problems(checks(requiredEnv=["DATABASE_URL", "JWT_SECRET_KEY"]), tpl) == []


def test_a_missing_required_variable_is_named_with_its_container() -> None:
    problems = config_problems(checks(requiredEnv=["REDIS_URL"]), template())
    assert problems == ["container chat: required variable REDIS_URL is not set"]


def test_a_variable_that_could_come_from_env_from_is_not_counted_as_set() -> None:
    problems = config_problems(checks(requiredEnv=["REDIS_URL"]), template(env_from=True))
    assert len(problems) == 1 and "REDIS_URL" in problems[0] and "envFrom" in problems[0]


def test_a_literal_jwt_secret_is_refused_by_the_default_patterns() -> None:
    tpl = template({"name": "JWT_SECRET_KEY", "value": "hunter2"})
    problems = config_problems(checks(), tpl)
    assert len(problems) == 1
    assert "JWT_SECRET_KEY" in problems[0] and "literal value" in problems[0]
    assert "hunter2" not in problems[0]  # a credential never reaches an Event


def test_a_credential_from_a_config_map_is_refused_too() -> None:
    entry = {"name": "DB_PASSWORD", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
    problems = config_problems(checks(), template(entry))
    assert problems and "DB_PASSWORD" in problems[0] and "not a Secret" in problems[0]


def test_patterns_are_case_insensitive_and_replaceable() -> None:
    tpl = template({"name": "stripe_api_key", "value": "sk"}, {"name": "SESSION", "value": "x"})
    assert len(config_problems(checks(), tpl)) == 1
    assert config_problems(checks(secretEnv=["SESSION"]), tpl) == [
        "container chat: SESSION looks like a credential and is a literal value;"
        " take it from a Secret (valueFrom.secretKeyRef)"
    ]


def test_a_forbidden_value_is_named() -> None:
    cfg = checks(forbiddenEnv=[{"name": "DEBUG", "value": "true"}])
    assert config_problems(cfg, template({"name": "DEBUG", "value": "True"})) == [
        "container chat: DEBUG=True is forbidden"
    ]
    assert config_problems(cfg, template({"name": "DEBUG", "value": "false"})) == []


def test_every_container_is_checked() -> None:
    tpl = template()
    tpl["spec"]["containers"].append({"name": "sidecar", "env": [secret("JWT_SECRET_KEY")]})
    problems = config_problems(checks(requiredEnv=["JWT_SECRET_KEY"]), tpl)
    assert problems == ["container chat: required variable JWT_SECRET_KEY is not set"]


# ------------------------------------------------- in the rollout (pure core)


def with_env(*env: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    tpl = chat_template("chat:2", extra_labels=labels)
    tpl["spec"]["containers"][0]["env"] = list(env)
    return tpl


def test_a_literal_secret_blocks_the_revision_before_any_pod_of_it_starts() -> None:
    sim = adopted(spec=gate_spec(config={"requiredEnv": ["DATABASE_URL"]}))
    bad = sim.deploy("chat:2", tpl=with_env({"name": "JWT_SECRET_KEY", "value": "hunter2"}))

    decision = sim.tick(T0 + minutes(1))

    status = decision.status
    assert status.phase is Phase.BLOCKED and status.revision == bad
    assert status.rollback_trigger is Trigger.CONFIG_INVALID
    reason = status.rollback_reason or ""
    assert "JWT_SECRET_KEY" in reason and "DATABASE_URL" in reason and "hunter2" not in reason
    assert not any(isinstance(a, EnsureVerification) for a in decision.operations)
    assert not sim.verification.exists and sim.probing is None
    sim.settle(T0 + minutes(2))
    assert sim.status.phase is Phase.BLOCKED  # not retried until the Deployment changes

    fixed = sim.deploy(
        "chat:3",
        tpl=with_env(
            {"name": "DATABASE_URL", "value": "postgres://db"},
            {"name": "JWT_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ),
    )
    assert sim.tick(T0 + minutes(3)).status.phase is Phase.VERIFYING
    assert sim.verification.exists and sim.verification.revision == fixed


def test_a_template_carrying_the_serving_label_is_never_verified_whatever_the_spec() -> None:
    sim = adopted()
    sim.deploy("chat:2", tpl=with_env(labels={SERVING_LABEL: "chat"}))

    decision = sim.tick(T0 + minutes(1))

    assert decision.status.phase is Phase.BLOCKED
    assert SERVING_LABEL in (decision.status.rollback_reason or "")
    assert not sim.verification.exists
    assert sim.target.replicas == 0  # still held at 0: its pods would match the Service


def test_the_core_the_builders_and_the_admission_policy_name_one_serving_label() -> None:
    """One definition; its value is in every gated Service's selector, so it stays."""
    assert models.SERVING_LABEL == "deploymentgate.dev/serving"
    assert SERVING_LABEL is builders.SERVING_LABEL is models.SERVING_LABEL
    assert serving_policy.SERVING_LABEL is models.SERVING_LABEL
