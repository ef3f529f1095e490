"""Generate the resource reference (docs/reference.md) from the pydantic models.

Like the CRD (deploymentgate.manifests.crdgen), the reference is derived from
`deploymentgate.models`: field names as on the wire, types, enums, defaults,
bounds, CEL rules' messages and the attribute docstrings, so it cannot drift
from what the operator parses or what the API server enforces.
tests/docs/test_reference.py fails when the committed file is stale; `make
generate` writes it, with the CRDs and policies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel

from deploymentgate.durations import DURATION_PATTERN, PERCENT_PATTERN
from deploymentgate.manifests import crdgen
from deploymentgate.models import (
    API_GROUP,
    API_VERSION,
    APPROVAL_KIND,
    CLUSTER_TEMPLATE_KIND,
    KIND,
    TEMPLATE_KIND,
    GateApprovalSpec,
    GateSpec,
    GateStatus,
    MetricCheckTemplateSpec,
)

REGENERATE = crdgen.REGENERATE
# Where the page goes, relative to the repository's root.
PAGE = PurePosixPath("docs") / "reference.md"
HEADER = (
    "<!-- Generated from operator/deploymentgate/models.py by `make generate`.\n"
    "     Do not edit by hand: change the models and regenerate. -->\n"
)

Schema = dict[str, Any]


@dataclass
class Section:
    """One object of a resource: its heading, what the model says of it, its fields."""

    heading: str
    description: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _text(value: Any) -> str:
    """One table cell of prose: docstrings wrap, a cell may not; a pipe would end the
    cell, and outside code spans `<name>` would be read as an HTML tag."""
    parts = " ".join(str(value).split()).replace("|", "\\|").split("`")
    for index in range(0, len(parts), 2):  # the even parts are outside code spans
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _code(value: Any) -> str:
    shown = value if isinstance(value, str) and value else json.dumps(value)
    return "`" + " ".join(shown.split()).replace("|", "\\|") + "`"


class _Walker:
    """Turns one model's JSON schema into sections, depth first in field order."""

    def __init__(self, model: type[BaseModel], prefix: str) -> None:
        schema = model.model_json_schema(
            by_alias=True,
            mode="serialization",
            schema_generator=crdgen._FactoryDefaults,  # the CRD's: defaults of factories too
        )
        self.defs: dict[str, Schema] = schema.pop("$defs", {})
        self.root = schema
        self.prefix = prefix
        self.sections: list[Section] = []

    def _resolve(self, node: Schema) -> tuple[Schema, bool]:
        """Inline `$ref` and unwrap Optional[X]; the node and whether it accepts null."""
        nullable = False
        if "anyOf" in node:
            branches = [b for b in node["anyOf"] if b.get("type") != "null"]
            nullable = len(branches) < len(node["anyOf"])
            if len(branches) != 1:
                raise ValueError(f"cannot describe this union: {node}")
            siblings = {k: v for k, v in node.items() if k != "anyOf"}
            node = {**branches[0], **siblings}
        if "$ref" in node:
            target = self.defs[node["$ref"].rsplit("/", 1)[-1]]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            inner, inner_nullable = self._resolve(target)
            # The field's own docstring describes the field; the class docstring, the object.
            node = {**inner, **siblings, "x-object-description": inner.get("description", "")}
            nullable = nullable or inner_nullable
        return node, nullable

    def _heading(self, path: str) -> str:
        return f"{self.prefix}`{path}`"

    def _link(self, path: str) -> str:
        return f"[object](#{anchor(self._heading(path))})"

    def _type(self, node: Schema, path: str, later: list[tuple[str, Schema]]) -> str:
        """The field's type as a reader needs it; objects with fields get a section of their own."""
        if "const" in node:
            return f"string: {_code(node['const'])}"
        if "enum" in node:
            return "string, one of " + ", ".join(_code(v) for v in node["enum"])
        kind = node.get("type")
        if kind == "object" and "properties" in node:
            later.append((path, node))
            return self._link(path)
        if kind == "object":
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                inner, _ = self._resolve(extra)
                return "map of string to " + self._type(inner, f"{path}.<name>", later)
            return "object (free-form)"
        if kind == "array":
            inner, _ = self._resolve(node.get("items", {}))
            return "list of " + self._type(inner, f"{path}[]", later)
        if kind == "string":
            if node.get("format") == "date-time":
                return "timestamp (RFC 3339)"
            if node.get("pattern") == DURATION_PATTERN:
                return "duration (`250ms`, `30s`, `5m`, `1h30m`)"
            if node.get("pattern") == PERCENT_PATTERN:
                return 'percent (`"5%"`)'
            return "string"
        return str(kind)

    def _limits(self, node: Schema) -> str:
        out: list[str] = []
        low, high = node.get("minLength"), node.get("maxLength")
        if node.get("type") == "string" and (low or high):
            span = f"{low}–{high}" if low and high else f"at most {high}" if high else f"≥ {low}"
            out.append(f"{span} characters")
        pattern = node.get("pattern")
        if pattern and pattern not in (DURATION_PATTERN, PERCENT_PATTERN):
            out.append(f"pattern {_code(pattern)}")
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None or high is not None:
            out.append(
                f"{low}–{high}"
                if low is not None and high is not None
                else f"≥ {low}"
                if low is not None
                else f"≤ {high}"
            )
        low, high = node.get("minItems"), node.get("maxItems")
        if low or high:
            out.append(
                f"{low}–{high} items"
                if low and high
                else f"at most {high} items"
                if high
                else f"at least {low} items"
            )
        if node.get("maxProperties"):
            out.append(f"at most {node['maxProperties']} entries")
        if node.get("x-kubernetes-list-type") == "set":
            out.append("no duplicates")
        items = node.get("items")
        if node.get("type") == "array" and isinstance(items, dict):
            inner, _ = self._resolve(items)
            if "properties" not in inner:
                each = self._limits(inner)
                if each:
                    out.append(f"each: {each}")
        for rule in node.get("x-kubernetes-validations", []):
            out.append(_text(rule["message"]))
        return "; ".join(out)

    def _default(self, node: Schema, required: bool, nullable: bool) -> str:
        if required:
            return "required"
        if "default" not in node or node["default"] is None:
            return "unset" if nullable else "–"
        default = node["default"]
        if isinstance(default, dict) and "properties" in node:
            return "its fields' defaults"
        return _code(default)

    def walk(self, path: str, node: Schema) -> None:
        section = Section(
            heading=self._heading(path),
            description=node.get("x-object-description") or node.get("description", ""),
        )
        self.sections.append(section)
        later: list[tuple[str, Schema]] = []
        required = set(node.get("required", []))
        for name, raw in node.get("properties", {}).items():
            sub, nullable = self._resolve(raw)
            child = f"{path}.{name}"
            kind = self._type(sub, child, later)
            section.rows.append(
                (
                    f"`{name}`",
                    kind,
                    self._default(sub, name in required, nullable),
                    self._limits(sub),
                    _text(sub.get("description", "")),
                )
            )
        for child, sub in later:
            self.walk(child, sub)

    def run(self, path: str) -> list[Section]:
        root, _ = self._resolve(self.root)
        self.walk(path, root)
        return self.sections


def _render_section(section: Section) -> str:
    lines = [f"### {section.heading}", ""]
    if section.description:
        lines += [_text(section.description), ""]
    lines += [
        "| Field | Type | Default | Bounds | Description |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in section.rows]
    return "\n".join(lines) + "\n"


def _toc(sections: list[Section]) -> str:
    return "\n".join(f"- [{s.heading}](#{anchor(s.heading)})" for s in sections) + "\n"


def _kinds() -> str:
    """The two kinds with their names as the CRDs declare them."""
    rows = ["| Kind | API version | Plural (short names) |", "|---|---|---|"]
    for crd in (
        crdgen.build_crd(),
        crdgen.build_approval_crd(),
        crdgen.build_template_crd(cluster=False),
        crdgen.build_template_crd(cluster=True),
    ):
        names = crd["spec"]["names"]
        short = ", ".join(f"`{n}`" for n in names["shortNames"])
        rows.append(
            f"| [`{names['kind']}`](#{anchor(names['kind'])}) | `{API_GROUP}/{API_VERSION}`"
            f" | `{names['plural']}` ({short}) |"
        )
    return "\n".join(rows) + "\n"


def render() -> str:
    """The whole reference page."""
    gate = _Walker(GateSpec, "").run("spec") + _Walker(GateStatus, "").run("status")
    approval = _Walker(GateApprovalSpec, f"{APPROVAL_KIND} ").run("spec")
    template = _Walker(MetricCheckTemplateSpec, f"{TEMPLATE_KIND} ").run("spec")
    parts = [
        HEADER,
        "# Resource reference\n",
        "Every field of the two kinds the operator serves: its name as you write it,\n"
        "its type, default, bounds and description. This page is generated from the\n"
        "pydantic models in\n"
        "[`operator/deploymentgate/models.py`](../operator/deploymentgate/models.py),\n"
        "as the CRDs in [`deploy/crds/`](../deploy/crds/) are, so it says what the API\n"
        "server enforces and the operator reads (`kubectl explain` prints the same\n"
        "descriptions). Bounds are checked at `kubectl apply`; a spec written under\n"
        "an older CRD that breaks one makes the gate `Invalid`, naming the field. The\n"
        "[user guide](user-guide.md) explains what the fields do together.\n",
        _kinds(),
        f"## {KIND}\n",
        "What the team declares is `spec`; `status` is the rollout's whole memory,\n"
        "written by the operator only (an operator restart resumes from it).\n",
        _toc(gate),
        *(_render_section(s) for s in gate),
        f"## {APPROVAL_KIND}\n",
        "A sign-off (see [Sign-offs](sign-offs.md)). It has no status and is never\n"
        "edited, only deleted.\n",
        _toc(approval),
        *(_render_section(s) for s in approval),
        f"## {TEMPLATE_KIND}\n",
        "A reusable metric check's query (see the user guide's\n"
        "[metric checks](user-guide.md#metric-checks-promql-under-user-traffic)), named by a\n"
        "gate's `spec.probes.metrics.checks[].templateRef`; the check keeps its own bounds.\n"
        "It serves the gates of its own namespace only. It has no status.\n",
        _toc(template),
        *(_render_section(s) for s in template),
        f"## {CLUSTER_TEMPLATE_KIND}\n",
        f"The same spec as [{TEMPLATE_KIND}](#{anchor(TEMPLATE_KIND)}), cluster-scoped: it\n"
        "serves the gates of every namespace.\n",
    ]
    return "\n".join(parts)
