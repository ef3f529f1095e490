"""docs/reference.md is what the models say: regenerated, it must not change.

Like the CRD's test (tests/core/test_crd_models.py), this fails when someone
changes a field in deploymentgate/models.py and does not run `make generate`; and it
checks the page on its own terms: every field of every model is on it.
"""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from deploymentgate.manifests import reference
from deploymentgate.models import GateApprovalSpec, GateSpec, GateStatus
from deploymentgate_devkit import generate

PAGE = generate.ROOT / reference.PAGE


def test_committed_reference_is_generated_from_the_current_models() -> None:
    assert PAGE.read_text() == reference.render(), (
        f"{PAGE.name} is stale: run {reference.REGENERATE}"
    )


def models_within(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for info in model.model_fields.values():
        for inner in (info.annotation, *_nested_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in found:
                found |= models_within(inner)
    return found


def _nested_args(annotation: object) -> list[object]:
    out: list[object] = []
    for arg in typing.get_args(annotation):
        out += [arg, *_nested_args(arg)]
    return out


def test_every_field_of_every_model_has_a_row_with_its_description() -> None:
    page = reference.render()
    models = set().union(*(models_within(m) for m in (GateSpec, GateStatus, GateApprovalSpec)))
    assert len(models) >= 25
    for model in models:
        for name, info in model.model_fields.items():
            alias = info.alias or name
            rows = [line for line in page.splitlines() if line.startswith(f"| `{alias}` |")]
            assert rows, f"{model.__name__}.{name} ({alias}) has no row"
            if info.description:
                first_words = " ".join(info.description.split()[:4])
                assert any(first_words in row for row in rows), f"{model.__name__}.{name}"


def test_enums_defaults_and_bounds_are_shown() -> None:
    page = reference.render()
    assert "| `router` | string, one of `replicas`, `gatewayAPI` | `replicas` |" in page
    assert "| `steps` | list of integer | `[10, 50, 100]` | 1–100 items; each: 1–100;" in page
    assert "must be at most 168h" in page  # a duration's CEL bound
    assert "`AwaitingApproval`" in page and "`smokeTestFailed`" in page  # status enums


def test_the_stale_check_tells_a_stale_page_from_a_fresh_one(tmp_path: Path) -> None:
    page = tmp_path / reference.PAGE
    assert page in generate.stale(tmp_path)  # missing
    for path, text in generate.generated(tmp_path).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert generate.stale(tmp_path) == []
    page.write_text(page.read_text().replace("`replicas`", "`replica`"))
    assert generate.stale(tmp_path) == [page]
