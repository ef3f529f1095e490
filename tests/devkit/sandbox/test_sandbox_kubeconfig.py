"""Kubeconfig rendering: kubectl must find server, CA and credentials where it looks."""

from __future__ import annotations

import base64

import pytest
import yaml

from deploymentgate_devkit.sandbox.kubeconfig import render_kubeconfig


def test_certificate_kubeconfig_embeds_ca_cert_and_key() -> None:
    text = render_kubeconfig(
        "https://127.0.0.1:6443", b"CA", "alice", client_cert_pem=b"CERT", client_key_pem=b"KEY"
    )
    doc = yaml.safe_load(text)
    context = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])["context"]
    cluster = next(c for c in doc["clusters"] if c["name"] == context["cluster"])["cluster"]
    user = next(u for u in doc["users"] if u["name"] == context["user"])["user"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["client-key-data"]) == b"KEY"
    assert "namespace" not in context


def test_token_kubeconfig_can_default_the_namespace() -> None:
    doc = yaml.safe_load(
        render_kubeconfig("https://127.0.0.1:1", b"CA", "sa", token="tok", namespace="ns1")
    )
    assert doc["users"][0]["user"] == {"token": "tok"}
    assert doc["contexts"][0]["context"]["namespace"] == "ns1"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"client_cert_pem": b"CERT"}, {"client_key_pem": b"KEY", "token": "t"}],
)
def test_incomplete_credentials_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        render_kubeconfig("https://127.0.0.1:1", b"CA", "u", **kwargs)  # type: ignore[arg-type]
