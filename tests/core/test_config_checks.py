"""Seed §7: required variables, credentials from Secrets, forbidden values."""

from __future__ import annotations

from typing import Any

from deploymentgate.core.config_checks import config_problems
from deploymentgate.models import ConfigChecks


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
