"""The Kubernetes client reads proxy settings from the environment only when a
proxy is configured (otherwise it parsed ~/.netrc in a thread on every request)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploymentgate.k8s.api import PROXY_VARIABLES, load_client

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.mark.parametrize(("proxy", "trusted"), [(None, False), ("http://proxy:3128", True)])
async def test_environment_is_read_only_with_a_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proxy: str | None, trusted: bool
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if proxy is not None:
        monkeypatch.setenv("HTTPS_PROXY", proxy)
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)

    client = await load_client(str(path))
    session = client.rest_client._create_pool_manager()  # the session its requests use
    try:
        assert session.trust_env is trusted
    finally:
        await session.close()
        await client.close()
