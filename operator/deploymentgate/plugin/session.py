"""A connection to the API server as the person running the plugin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException


class PluginError(Exception):
    """Something the user must read: printed as `error: ...`, exit status 1."""


@dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...]


@dataclass
class Session:
    api: client.ApiClient
    namespace: str

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
        try:
            configuration = client.Configuration()
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
            if namespace is None:
                _, current = config.list_kube_config_contexts(config_file=kubeconfig)
                chosen = current
                if context:
                    contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
                    chosen = next((c for c in contexts if c.get("name") == context), current)
                namespace = (chosen.get("context") or {}).get("namespace") or "default"
        except (ConfigException, OSError) as exc:
            raise PluginError(f"cannot load the kubeconfig: {exc}") from exc
        return cls(client.ApiClient(configuration), namespace)

    @property
    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def whoami(self) -> Identity:
        """Who the API server says we are (SelfSubjectReview; any authenticated user may ask)."""
        body = client.V1SelfSubjectReview(
            api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"
        )
        try:
            review = client.AuthenticationV1Api(self.api).create_self_subject_review(body)
        except ApiException as exc:
            raise PluginError(f"cannot tell who you are: {refusal(exc)}") from exc
        info = review.status.user_info if review.status else None
        if info is None or not info.username:
            raise PluginError("the API server did not say who you are (SelfSubjectReview)")
        return Identity(info.username, tuple(info.groups or ()))


def as_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PluginError(f"unexpected answer from the API server: {type(value).__name__}")
    return value


def refusal(exc: ApiException) -> str:
    """The API server's own message (admission and RBAC say who and why)."""
    try:
        body: Any = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return f"{exc.status} {exc.reason}"
