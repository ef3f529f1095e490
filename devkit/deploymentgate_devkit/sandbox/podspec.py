"""What a container *is* in the sandbox: which local process its image stands for.

There is no container runtime here, so two images have a meaning and every other
image fails to "pull", which is exactly what a node does with an image it cannot get.
Pure functions, so the mapping is tested without a cluster.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

CHAT_BACKEND_REPOSITORY = "chat-backend"
EXEC_REPOSITORY = "sandbox/exec"
DEFAULT_CHAT_PORT = 8000
DEFAULT_CHAT_MODE = "healthy"


class ImageKind(Enum):
    CHAT_BACKEND = "chat-backend"
    EXEC = "exec"


class ContainerStartError(Exception):
    """The container cannot start; reason is what a kubelet would report as waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ImageRef:
    repository: str  # registry and path, as written, without tag or digest
    tag: str | None
    digest: str | None


def parse_image(image: str) -> ImageRef:
    """Split ``[registry/]path[:tag][@digest]``; a ':' before the last '/' is a registry port."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return ImageRef(rest[:colon], rest[colon + 1 :] or None, digest or None)
    return ImageRef(rest, None, digest or None)


def classify_image(image: str) -> tuple[ImageKind, str | None]:
    """The image's kind and tag, or ErrImagePull for an image the sandbox cannot run."""
    ref = parse_image(image)
    if ref.repository.rsplit("/", 1)[-1] == CHAT_BACKEND_REPOSITORY:
        return ImageKind.CHAT_BACKEND, ref.tag
    if ref.repository == EXEC_REPOSITORY or ref.repository.endswith("/" + EXEC_REPOSITORY):
        return ImageKind.EXEC, ref.tag
    raise ContainerStartError(
        "ErrImagePull",
        f"image {image!r} is not available in the sandbox; "
        f"use {CHAT_BACKEND_REPOSITORY}:<mode> or {EXEC_REPOSITORY}",
    )


_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: ``$$`` escapes, unknown references stay as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            value = lookup(name)
            out.append(value if value is not None else text[i : end + 1])
            i = end + 1
        else:
            out.append("$")
            out.append(nxt)
            i += 2
    return "".join(out)


@dataclass(frozen=True)
class PodContext:
    """The facts about a pod that only exist once a node runs it."""

    pod: Mapping[str, Any]
    pod_ip: str
    host_ip: str
    node_name: str

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"].get("namespace", "default"))


@dataclass(frozen=True)
class ProcessSpec:
    argv: tuple[str, ...]
    env: dict[str, str]
    kind: ImageKind
    ports: tuple[int, ...] = field(default=())


def container_ports(container: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(
        int(p["containerPort"])
        for p in container.get("ports") or ()
        if p.get("protocol", "TCP") == "TCP" and "containerPort" in p
    )


def _field_ref(ctx: PodContext, path: str) -> str:
    meta = ctx.pod.get("metadata", {})
    simple = {
        "metadata.name": ctx.name,
        "metadata.namespace": ctx.namespace,
        "metadata.uid": str(meta.get("uid", "")),
        "spec.nodeName": ctx.node_name,
        "spec.serviceAccountName": str(
            ctx.pod.get("spec", {}).get("serviceAccountName") or "default"
        ),
        "status.podIP": ctx.pod_ip,
        "status.podIPs": ctx.pod_ip,
        "status.hostIP": ctx.host_ip,
        "status.hostIPs": ctx.host_ip,
    }
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ContainerStartError("CreateContainerConfigError", f"unsupported fieldRef {path!r}")


def _key_ref(
    kind: str, ref: Mapping[str, Any], sources: Mapping[str, Mapping[str, str]]
) -> str | None:
    optional = bool(ref.get("optional"))
    data = sources.get(str(ref.get("name", "")))
    if data is None or ref.get("key") not in data:
        if optional:
            return None
        what = f"{kind} {ref.get('name')!r}" + ("" if data is None else f" key {ref.get('key')!r}")
        raise ContainerStartError("CreateContainerConfigError", f"{what} not found")
    return data[str(ref["key"])]


def _resource_ref(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    kind, _, name = str(ref.get("resource", "")).partition(".")
    resources = container.get("resources") or {}
    return str((resources.get(kind) or resources.get("requests") or {}).get(name, "0"))


def container_env(
    ctx: PodContext,
    container: Mapping[str, Any],
    base: Mapping[str, str],
    configmaps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    """base, then envFrom, then env (each may refer to earlier ones with $(VAR))."""
    env = dict(base)
    for source in container.get("envFrom") or ():
        prefix = str(source.get("prefix", ""))
        for kind, sources in (("configMapRef", configmaps), ("secretRef", secrets)):
            ref = source.get(kind)
            if ref is None:
                continue
            data = sources.get(str(ref.get("name", "")))
            if data is None:
                if ref.get("optional"):
                    continue
                raise ContainerStartError(
                    "CreateContainerConfigError", f"{kind[:-3]} {ref.get('name')!r} not found"
                )
            env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env") or ():
        name = str(item["name"])
        if "value" in item or "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env.get)
            continue
        source = item["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = _field_ref(ctx, str(source["fieldRef"].get("fieldPath", "")))
        elif "configMapKeyRef" in source:
            value = _key_ref("configmap", source["configMapKeyRef"], configmaps)
        elif "secretKeyRef" in source:
            value = _key_ref("secret", source["secretKeyRef"], secrets)
        elif "resourceFieldRef" in source:
            value = _resource_ref(container, source["resourceFieldRef"])
        else:
            raise ContainerStartError(
                "CreateContainerConfigError", f"env {name!r}: unsupported valueFrom"
            )
        if value is not None:
            env[name] = value
    return env


def decode_secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            out[key] = ""
    out.update(secret.get("stringData") or {})
    return out


def referenced_sources(pod: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets the pod's containers read env from."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    for container in pod.get("spec", {}).get("containers") or ():
        for source in container.get("envFrom") or ():
            if "configMapRef" in source:
                configmaps.add(str(source["configMapRef"].get("name", "")))
            if "secretRef" in source:
                secrets.add(str(source["secretRef"].get("name", "")))
        for item in container.get("env") or ():
            value_from = item.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                configmaps.add(str(value_from["configMapKeyRef"].get("name", "")))
            if "secretKeyRef" in value_from:
                secrets.add(str(value_from["secretKeyRef"].get("name", "")))
    return configmaps, secrets


def container_process(
    ctx: PodContext,
    container: Mapping[str, Any],
    *,
    python: str,
    base_env: Mapping[str, str],
    configmaps: Mapping[str, Mapping[str, str]] | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> ProcessSpec:
    """The local process that stands for one container of a pod on a node."""
    kind, tag = classify_image(str(container.get("image", "")))
    ports = container_ports(container)
    first_port = ports[0] if ports else DEFAULT_CHAT_PORT
    node_env = {
        **base_env,
        "HOSTNAME": ctx.name,
        "POD_NAME": ctx.name,
        "POD_NAMESPACE": ctx.namespace,
        "POD_IP": ctx.pod_ip,
        "HOST_IP": ctx.host_ip,
        "NODE_NAME": ctx.node_name,
    }
    if ports or kind is ImageKind.CHAT_BACKEND:
        node_env["PORT"] = str(first_port)
    env = container_env(ctx, container, node_env, configmaps or {}, secrets or {})
    args = [expand(str(a), env.get) for a in container.get("args") or ()]
    if kind is ImageKind.CHAT_BACKEND:
        mode = DEFAULT_CHAT_MODE if tag in (None, "latest") else str(tag)
        argv: Sequence[str] = [
            python,
            "-m",
            "chat_backend",
            "--host",
            ctx.pod_ip,
            "--port",
            str(first_port),
            "--mode",
            mode,
            *args,
        ]
    else:
        command = [expand(str(c), env.get) for c in container.get("command") or ()]
        argv = command + args
        if not argv:
            raise ContainerStartError(
                "CreateContainerError",
                f"image {EXEC_REPOSITORY} runs the container's command and args; none given",
            )
    return ProcessSpec(argv=tuple(argv), env=env, kind=kind, ports=ports)
