"""Where notifications go: operator-wide webhooks (command line, chart values)
and each gate's own (`spec.notifications`, URL in a Secret of its namespace).

A webhook URL is a credential (Slack's carries the token), so it never
appears in a log line, an error message or the gate's status: `label` names
it instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from deploymentgate.models import GateSpec, WebhookType


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str
    key: str

    def __str__(self) -> str:
        return f"Secret {self.namespace}/{self.name} key {self.key}"


@dataclass(frozen=True)
class WebhookTarget:
    """One webhook: a fixed URL (operator-wide) or one read from a Secret when sending."""

    type: WebhookType
    url: str | None = None
    secret: SecretRef | None = None
    label: str = ""  # how logs name it, never the URL itself

    def __post_init__(self) -> None:
        if (self.url is None) == (self.secret is None):
            raise ValueError("a webhook has either a URL or a Secret reference")


class WebhookConfigError(ValueError):
    """A --webhook / --webhook-from-env value the operator cannot use."""


def check_url(url: str, source: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookConfigError(f"{source}: not an http(s) URL")
    return url.strip()


def _split(value: str, flag: str) -> tuple[WebhookType, str]:
    kind, sep, rest = value.partition("=")
    if not sep or not rest:
        raise WebhookConfigError(f"{flag} wants TYPE=..., TYPE one of slack, json")
    try:
        return WebhookType(kind.strip().lower()), rest.strip()
    except ValueError:
        raise WebhookConfigError(f"{flag}: unknown webhook type {kind!r} (slack or json)") from None


def operator_webhooks(
    urls: Sequence[str] = (),
    from_env: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> list[WebhookTarget]:
    """Operator-wide webhooks from `--webhook TYPE=URL` and `--webhook-from-env TYPE=VAR`.

    The chart uses the second form, with VAR filled from a Secret by the
    kubelet, so the URL is in neither the pod's arguments nor its spec.
    """
    env = os.environ if environ is None else environ
    out: list[WebhookTarget] = []
    for n, value in enumerate(urls):
        kind, url = _split(value, "--webhook")
        url = check_url(url, f"--webhook #{n + 1}")
        out.append(WebhookTarget(kind, url=url, label=f"{kind.value} webhook #{n + 1}"))
    for value in from_env:
        kind, var = _split(value, "--webhook-from-env")
        if not env.get(var, "").strip():
            raise WebhookConfigError(f"--webhook-from-env: environment variable {var} is not set")
        url = check_url(env[var], f"--webhook-from-env {var}")
        out.append(WebhookTarget(kind, url=url, label=f"{kind.value} webhook from ${var}"))
    return out


def gate_webhooks(namespace: str, spec: GateSpec | None) -> list[WebhookTarget]:
    """A gate's own webhooks; their URLs are read when a message is sent."""
    if spec is None or spec.notifications is None:
        return []
    out = []
    for hook in spec.notifications.webhooks:
        ref = hook.url_from.secret_key_ref
        secret = SecretRef(namespace, ref.name, ref.key)
        out.append(
            WebhookTarget(hook.type, secret=secret, label=f"{hook.type.value} webhook ({secret})")
        )
    return out
