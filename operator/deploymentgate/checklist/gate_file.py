"""Reading a DeploymentGate from a YAML file, with errors that point at lines.

A person runs ``deploymentgate check`` on a file they just edited; "field
required" is not enough, they need ``gate.yaml:14: spec.probes.health.
maxLatency: ...``. PyYAML's composer keeps a source mark on every node, so a
pydantic error location (a path of keys and indexes) maps back to a line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from deploymentgate.models import (
    API_GROUP,
    CLUSTER_TEMPLATE_KIND,
    KIND,
    TEMPLATE_KIND,
    GateSpec,
    MetricCheckTemplateSpec,
    Model,
    TemplateRef,
)

API_PREFIX = f"{API_GROUP}/"


class GateFileError(Exception):
    """The file cannot be used as a gate; str() is meant for the user, one problem a line."""


TEMPLATE_KINDS = (TEMPLATE_KIND, CLUSTER_TEMPLATE_KIND)
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class GateFile:
    source: str
    name: str | None  # metadata.name, when the file holds a full resource
    spec: GateSpec
    # The (Cluster)MetricCheckTemplates given beside the gate, by (kind, name):
    # what its checks' templateRefs find here, where there is no cluster to ask.
    templates: Mapping[tuple[str, str], MetricCheckTemplateSpec] = field(default_factory=dict)

    def template(self, ref: TemplateRef) -> MetricCheckTemplateSpec | str:
        """The template `ref` names, or why there is none (a TemplateLookup)."""
        found = self.templates.get((ref.kind, ref.name))
        if found is None:
            return f"{ref} not found in the files given with -f (check reads no cluster)"
        return found


def load_gate_file(path: str | Path, *more: str | Path) -> GateFile:
    """The gate in `path`, with the metric check templates of `path` and `more`."""
    texts = [(_read(p), str(p)) for p in (path, *more)]
    gate = parse_gate_text(*texts[0])
    templates = dict(gate.templates)
    for text, source in texts[1:]:
        documents = _compose(text, source)
        for node, data in documents:
            if isinstance(data, dict) and data.get("kind") == KIND:
                raise GateFileError(
                    f"{source}:{_line(node)}: a second {KIND} (the gate is the one in "
                    f"{gate.source}; the other files give its metric check templates)"
                )
        _add_templates(templates, documents, source)
    return GateFile(gate.source, gate.name, gate.spec, templates)


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GateFileError(f"{path}: cannot read gate file: {exc}") from None


def parse_gate_text(text: str, source: str = "<gate>") -> GateFile:
    """A full DeploymentGate resource (apiVersion/kind/metadata/spec) or just its spec;
    beside a full resource, the metric check templates its checks may name."""
    documents = _compose(text, source)
    gates = [
        (node, data)
        for node, data in documents
        if isinstance(data, dict) and data.get("kind") is not None
    ]
    if not gates:
        if len(documents) != 1:
            raise GateFileError(
                f"{source}: expected one DeploymentGate (or one spec), found "
                f"{len(documents)} YAML documents without a kind"
            )
        node, data = documents[0]
        return GateFile(source, None, _validate(GateSpec, data, node, source, prefix=""))
    mine = [(n, d) for n, d in gates if d.get("kind") == KIND]
    if len(mine) != 1:
        node, data = (mine or gates)[0]
        found = f"{len(mine)} DeploymentGates" if mine else f"kind {data.get('kind')!r}"
        raise GateFileError(
            f"{source}:{_line(_child(node, 'kind') or node)}: expected exactly one "
            f"{KIND} in the file, found {found}"
        )
    node, data = mine[0]
    api_version = data.get("apiVersion")
    if not isinstance(api_version, str) or not api_version.startswith(API_PREFIX):
        at = _child(node, "apiVersion") or node
        raise GateFileError(
            f"{source}:{_line(at)}: apiVersion: expected {API_PREFIX}<version>, got {api_version!r}"
        )
    spec_node = _child(node, "spec")
    if spec_node is None:
        raise GateFileError(f"{source}:{_line(node)}: spec: missing")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    spec_key = next(k for k, v in node.value if v is spec_node)
    spec = _validate(GateSpec, data["spec"], spec_node, source, prefix="spec", owner=spec_key)
    templates: dict[tuple[str, str], MetricCheckTemplateSpec] = {}
    _add_templates(templates, documents, source)
    return GateFile(source, name if isinstance(name, str) else None, spec, templates)


def _add_templates(
    into: dict[tuple[str, str], MetricCheckTemplateSpec],
    documents: Sequence[tuple[yaml.Node, Any]],
    source: str,
) -> None:
    """Validate each (Cluster)MetricCheckTemplate document and add it by (kind, name)."""
    for node, data in documents:
        if not isinstance(data, dict) or data.get("kind") not in TEMPLATE_KINDS:
            continue
        kind = str(data["kind"])
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name:
            raise GateFileError(f"{source}:{_line(node)}: {kind}: metadata.name missing")
        if (kind, name) in into:
            raise GateFileError(f"{source}:{_line(node)}: {kind} {name} given twice")
        spec_node = _child(node, "spec")
        if spec_node is None:
            raise GateFileError(f"{source}:{_line(node)}: {kind} {name}: spec: missing")
        spec_key = next(k for k, v in node.value if v is spec_node)
        into[(kind, name)] = _validate(
            MetricCheckTemplateSpec, data["spec"], spec_node, source, "spec", spec_key
        )


def _compose(text: str, source: str) -> list[tuple[yaml.Node, Any]]:
    loader = yaml.SafeLoader(text)
    documents: list[tuple[yaml.Node, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _refuse_duplicate_keys(node, source)
            documents.append((node, loader.construct_document(node)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise GateFileError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise GateFileError(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not documents:
        raise GateFileError(f"{source}: the file holds no YAML document")
    return documents


def _refuse_duplicate_keys(node: yaml.Node, source: str) -> None:
    """PyYAML keeps the last of two equal keys; a gate file with both is a mistake."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise GateFileError(f"{source}:{_line(key)}: duplicate key {key.value!r}")
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def _validate(
    model: type[M],
    data: Any,
    node: yaml.Node,
    source: str,
    prefix: str,
    owner: yaml.Node | None = None,
) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            at = _locate(node, loc, owner)
            path = _path(prefix, loc) or "spec"
            lines.append(f"{source}:{_line(at)}: {path}: {_message(error)}")
        raise GateFileError("\n".join(lines)) from None


def _message(error: Any) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    for noise in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(noise)
    return msg


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _locate(node: yaml.Node, loc: tuple[Any, ...], owner: yaml.Node | None) -> yaml.Node:
    """Where to point for `loc`: the key naming the field (its value may start a
    line later), a list item, or for a missing field the key of its parent."""
    current, where = node, owner or node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            pair = next(
                ((k, v) for k, v in current.value if getattr(k, "value", None) == str(part)),
                None,
            )
            if pair is None:
                return where
            where, current = pair
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(current.value):
                return where
            where = current = current.value[part]
        else:
            return where
    return where


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1
