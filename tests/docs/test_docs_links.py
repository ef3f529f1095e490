"""Every relative link in README.md and docs/ leads somewhere: the file or directory
exists, and a #fragment names a heading (or <a id>) of the page it points at.

External http(s) links are not followed (no network here). Links that leave the
repository (the project's own ../shared/ files) are listed below by name, so a
new one fails until someone decides about it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from docs_markdown import ROOT, anchors, doc_files, links, slug

EXTERNAL = ("http://", "https://", "mailto:")
# Outside the repository: the seed checklist and the design the product answers to.
OUTSIDE_REPOSITORY = frozenset(
    {
        (Path("README.md"), "../shared/seeds/000_5ff45030599033ce.txt"),
        (Path("README.md"), "../shared/DESIGN.md"),
    }
)


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with the page's links, one sentence each (empty: nothing)."""
    problems: list[str] = []
    for line, target in links(page):
        if target.startswith(EXTERNAL):
            continue
        where = f"{page.relative_to(root)}:{line}: {target}"
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / unquote(path_part)).resolve() if path_part else page
        if path_part and not resolved.is_relative_to(root):
            if (page.relative_to(root), target) not in OUTSIDE_REPOSITORY:
                problems.append(f"{where} leaves the repository")
            continue
        if not resolved.exists():
            problems.append(f"{where}: no such file or directory")
            continue
        if fragment:
            if resolved.suffix != ".md":
                problems.append(f"{where}: an anchor in a file that is not Markdown")
            elif unquote(fragment) not in anchors(resolved):
                problems.append(f"{where}: no heading or <a id> with anchor #{fragment}")
    return problems


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_docs_tree_is_read_and_has_links() -> None:
    pages = doc_files()
    assert ROOT / "README.md" in pages and ROOT / "docs" / "reference.md" in pages
    assert len(pages) >= 8
    relative = [t for p in pages for _, t in links(p) if not t.startswith(EXTERNAL)]
    assert len(relative) >= 50, "the link reader found almost no links: it is broken"
    assert any("#" in t for t in relative)


def test_every_page_under_docs_is_linked_from_the_readme_or_another_page() -> None:
    reached = {
        (page.parent / target.partition("#")[0]).resolve()
        for page in doc_files()
        for _, target in links(page)
        if target.partition("#")[0] and not target.startswith(EXTERNAL)
    }
    orphans = [p.relative_to(ROOT) for p in doc_files()[1:] if p.resolve() not in reached]
    assert orphans == []


def test_anchors_follow_github_headings() -> None:
    assert slug("Traffic without a mesh (`router: replicas`)") == (
        "traffic-without-a-mesh-router-replicas"
    )
    assert slug("`spec.traffic.httpRoutes[]`") == "spectraffichttproutes"
    assert slug("`deploymentgate check`: the same probes before you deploy") == (
        "deploymentgate-check-the-same-probes-before-you-deploy"
    )
    assert slug("GateApproval `spec`") == "gateapproval-spec"


def test_a_broken_link_a_missing_anchor_and_a_link_out_of_the_repository_are_caught(
    tmp_path: Path,
) -> None:
    root = tmp_path.resolve()
    (root / "docs").mkdir()
    (root / "docs" / "user-guide.md").write_text("# User guide\n\n## How a rollout goes\n")
    page = root / "docs" / "probe.md"
    page.write_text(
        "# Probe\n\n## A heading\n\n"
        "[ok](#a-heading) [ok](user-guide.md#how-a-rollout-goes)\n"
        "[gone](no-such-page.md) [anchor](user-guide.md#no-such-heading)\n"
        "[out](../../elsewhere.md) [external](https://example.org/x#y) `[in code](ignored.md)`\n"
        "```\n[in a block](ignored.md)\n```\n"
    )
    problems = broken_links(page, root)
    assert len(problems) == 3, problems
    assert "no-such-page.md: no such file" in problems[0]
    assert "#no-such-heading" in problems[1]
    assert "leaves the repository" in problems[2]
