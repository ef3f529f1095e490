"""Reading the Markdown docs as the docs tests need them: links, anchors, command examples.

A small reader rather than a Markdown library: the docs use a handful of
constructs (ATX headings, inline links, fenced blocks), and what counts as an
anchor must match what GitHub renders, which this states in one place.
The conventions are described in docs/README.md ("How these pages are checked").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND_INFOS = frozenset({"console", "sh", "shell", "bash"})
MARKER = re.compile(r"^<!--\s*example:\s*(?P<mode>run|cluster|skip)\s*(?::\s*(?P<why>.*?))?\s*-->$")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.+?)\s*#*\s*$")
# [text](target) and ![alt](target), with an optional "title"; not inside inline code.
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\((?P<target><[^>]*>|[^\s)]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+(?P<target>\S+)")
HTML_ID = re.compile(r"<a\s+(?:id|name)=\"(?P<id>[^\"]+)\"")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")


def doc_files() -> list[Path]:
    """The README and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation (backticks, dots, slashes,
    parentheses, colons...) dropped, spaces to hyphens; letters, digits, - and _ kept."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    text: str


@dataclass(frozen=True)
class Block:
    """One fenced code block, with the example marker on the line before it (if any)."""

    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    body: tuple[str, ...]
    mode: str | None  # run, cluster, skip; None: no marker
    why: str  # a skip's reason

    @property
    def is_command_example(self) -> bool:
        """A command example: tagged as shell, or shown with a `$ ` prompt."""
        first = next((line for line in self.body if line.strip()), "")
        return self.info in COMMAND_INFOS or first.startswith("$ ")

    @property
    def commands(self) -> list[str]:
        """What a reader would type: `$ ` lines (a trailing backslash continues one);
        in a block without prompts, every line but comments. Other lines are output."""
        prompted = any(line.startswith("$ ") for line in self.body)
        out: list[str] = []
        continuing = False
        for line in self.body:
            if continuing:
                out[-1] += "\n" + line
            elif prompted and line.startswith("$ "):
                out.append(line[2:])
            elif not prompted and line.strip() and not line.lstrip().startswith("#"):
                out.append(line)
            else:
                continue
            continuing = line.endswith("\\")
        return out

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def prose_lines(path: Path) -> list[Line]:
    """The lines outside fenced code blocks, inline code removed."""
    out: list[Line] = []
    fence: str | None = None
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        opened = FENCE.match(text.lstrip())
        if fence is None and opened:
            fence = opened["fence"]
            continue
        if fence is not None:
            if text.strip().startswith(fence) and not text.strip()[len(fence) :].strip():
                fence = None
            continue
        out.append(Line(number, INLINE_CODE.sub("", text)))
    return out


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    out: list[Block] = []
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index].lstrip())
        if not opened:
            index += 1
            continue
        start = index
        fence = opened["fence"]
        index += 1
        body: list[str] = []
        while index < len(lines) and not (
            lines[index].strip().startswith(fence) and not lines[index].strip()[len(fence) :]
        ):
            body.append(lines[index])
            index += 1
        before = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.match(before)
        out.append(
            Block(
                path=path,
                line=start + 1,
                info=opened["info"],
                body=tuple(body),
                mode=marker["mode"] if marker else None,
                why=(marker["why"] or "") if marker else "",
            )
        )
        index += 1
    return out


def anchors(path: Path) -> set[str]:
    """Every anchor a link may name in this page: headings (GitHub numbers repeats
    -1, -2, ...) and explicit <a id=...>."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in prose_lines_with_code(path):
        heading = HEADING.match(line)
        if heading:
            base = slug(heading["text"])
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
        out.update(m["id"] for m in HTML_ID.finditer(line))
    return out


def prose_lines_with_code(path: Path) -> list[str]:
    """Lines outside fenced blocks, inline code kept (a heading's text includes it)."""
    numbers = {line.number for line in prose_lines(path)}
    return [t for n, t in enumerate(path.read_text().splitlines(), start=1) if n in numbers]


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link in the page's prose."""
    out: list[tuple[int, str]] = []
    for line in prose_lines(path):
        for match in INLINE_LINK.finditer(line.text):
            out.append((line.number, match["target"].strip("<>")))
        reference = REFERENCE_LINK.match(line.text)
        if reference:
            out.append((line.number, reference["target"]))
    return out
