"""Render the chart with the real helm and read the objects back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging_tools import run_tool

RELEASE = "rel"
NAMESPACE = "dg-system"


class HelmError(AssertionError):
    """helm refused the chart or the values; the message is helm's."""


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
        return found[0]

    @property
    def kinds(self) -> set[str]:
        return {o["kind"] for o in self.objects}

    @property
    def operator_container(self) -> dict[str, Any]:
        containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        container: dict[str, Any] = containers[0]
        return container


def write_values(directory: Path, values: Mapping[str, Any], name: str = "values.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(dict(values), sort_keys=False))
    return path


def helm_template(
    helm: Path,
    chart: Path | str,
    values_file: Path | None = None,
    extra: Iterable[str] = (),
) -> Rendered:
    args: list[str | Path] = [helm, "template", RELEASE, chart, "--namespace", NAMESPACE]
    if values_file is not None:
        args += ["--values", values_file]
    args += list(extra)
    result = run_tool(*args)
    if result.returncode != 0:
        raise HelmError(result.stderr.strip())
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(objects)


# What the `render` fixture returns: values (on top of values.yaml) -> objects.
RenderFn = Callable[[Mapping[str, Any]], Rendered]
