"""Which local process a container becomes, with the environment a kubelet would give it."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from deploymentgate_devkit.sandbox.podspec import (
    ContainerStartError,
    ImageKind,
    PodContext,
    classify_image,
    container_process,
    expand,
    parse_image,
)


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {"serviceAccountName": "runner", **spec},
    }


def _ctx(pod: dict[str, Any] | None = None) -> PodContext:
    return PodContext(pod or _pod(), pod_ip="127.0.0.9", host_ip="127.0.0.1", node_name="n1")


def _run(container: dict[str, Any], **kwargs: Any) -> Any:
    return container_process(_ctx(), container, python="/py", base_env={"PATH": "/bin"}, **kwargs)


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        ("chat-backend:healthy", "chat-backend", "healthy"),
        ("example.com/chat-backend:ws-drops", "example.com/chat-backend", "ws-drops"),
        ("localhost:5000/team/chat-backend", "localhost:5000/team/chat-backend", None),
        ("sandbox/exec@sha256:abc", "sandbox/exec", None),
    ],
)
def test_image_references_split_into_repository_and_tag(
    image: str, repository: str, tag: str | None
) -> None:
    ref = parse_image(image)
    assert (ref.repository, ref.tag) == (repository, tag)


def test_unknown_image_fails_to_pull_with_a_message_naming_the_usable_images() -> None:
    with pytest.raises(ContainerStartError) as info:
        classify_image("nginx:1.27")
    assert info.value.reason == "ErrImagePull"
    assert "nginx:1.27" in info.value.message
    assert "chat-backend:<mode>" in info.value.message and "sandbox/exec" in info.value.message


def test_chat_backend_image_runs_the_reference_backend_on_the_pod_address() -> None:
    spec = _run(
        {
            "name": "chat",
            "image": "registry.example.com/chat-backend:slow-startup",
            "ports": [{"containerPort": 8080}],
            "env": [{"name": "APP_VERSION", "value": "v7"}],
        }
    )
    assert spec.kind is ImageKind.CHAT_BACKEND
    assert spec.argv == (
        "/py", "-m", "chat_backend",
        "--host", "127.0.0.9", "--port", "8080", "--mode", "slow-startup",
    )  # fmt: skip
    assert spec.env["APP_VERSION"] == "v7"
    assert (spec.env["POD_NAME"], spec.env["POD_NAMESPACE"], spec.env["POD_IP"]) == (
        "web-1",
        "shop",
        "127.0.0.9",
    )
    assert spec.env["PATH"] == "/bin"


def test_chat_backend_defaults_to_port_8000_and_healthy_mode() -> None:
    spec = _run({"name": "chat", "image": "chat-backend"})
    assert spec.argv[-4:] == ("--port", "8000", "--mode", "healthy")


def test_exec_image_runs_command_and_args_with_kubernetes_variable_expansion() -> None:
    spec = _run(
        {
            "name": "srv",
            "image": "sandbox/exec:any",
            "ports": [{"containerPort": 9000}, {"containerPort": 9001}],
            "env": [{"name": "GREETING", "value": "hi $(POD_NAME)"}],
            "command": ["python", "-m", "http.server"],
            "args": ["--bind", "$(POD_IP)", "$(PORT)", "$$(PORT)", "$(UNKNOWN)"],
        }
    )
    assert spec.kind is ImageKind.EXEC
    assert spec.argv == (
        "python", "-m", "http.server", "--bind", "127.0.0.9", "9000", "$(PORT)", "$(UNKNOWN)",
    )  # fmt: skip
    assert spec.env["PORT"] == "9000"
    assert spec.env["GREETING"] == "hi web-1"
    assert spec.ports == (9000, 9001)


def test_exec_image_without_a_command_cannot_start() -> None:
    with pytest.raises(ContainerStartError) as info:
        _run({"name": "x", "image": "sandbox/exec"})
    assert info.value.reason == "CreateContainerError"


def test_env_from_downward_api_configmaps_and_secrets() -> None:
    container = {
        "name": "x",
        "image": "sandbox/exec",
        "command": ["true"],
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}},
            },
        ],
    }
    spec = _run(container, configmaps={"cfg": {"MODE": "fast"}}, secrets={"s": {"password": "pw"}})
    assert spec.env["CFG_MODE"] == "fast"
    assert (spec.env["MY_IP"], spec.env["APP"], spec.env["SA"], spec.env["PW"]) == (
        "127.0.0.9",
        "web",
        "runner",
        "pw",
    )
    assert "OPT" not in spec.env


def test_missing_required_configmap_is_a_container_config_error() -> None:
    container = {
        "name": "x",
        "image": "sandbox/exec",
        "command": ["true"],
        "env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}],
    }
    with pytest.raises(ContainerStartError) as info:
        _run(container)
    assert info.value.reason == "CreateContainerConfigError"
    assert "gone" in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)-$(B)", "1-2"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("cost: $5", "cost: $5"),
        ("open $(A", "open $(A"),
        ("trailing $", "trailing $"),
    ],
)
def test_variable_expansion_follows_kubernetes_rules(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}.get) == expected


def test_python_of_this_interpreter_is_what_runs_the_backend() -> None:
    spec = container_process(
        _ctx(), {"name": "c", "image": "chat-backend:healthy"}, python=sys.executable, base_env={}
    )
    assert spec.argv[0] == sys.executable
