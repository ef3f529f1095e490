"""Just enough of Docker's semantics to check the Dockerfile and replay its
build stage without a Docker engine: instructions, stages, build args and the
.dockerignore'd build context."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    flags: dict[str, str]  # leading --name=value options (RUN --mount, COPY --from)
    args: str  # the rest, continuation lines joined
    line: int

    def exec_form(self) -> list[str]:
        """ENTRYPOINT/CMD in JSON (exec) form; shell form is refused on purpose."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


_FLAG = re.compile(r"--([a-z-]+)=(\S+)\s+")


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        yield start, " ".join(part for part in buffer if part)
        buffer = []
    if buffer:
        yield start, " ".join(buffer)


def parse_instructions(text: str) -> list[Instruction]:
    out = []
    for line, logical in _logical_lines(text):
        keyword, _, rest = logical.partition(" ")
        flags: dict[str, str] = {}
        rest = rest.strip() + " "
        while match := _FLAG.match(rest):
            flags[match.group(1)] = match.group(2)
            rest = rest[match.end() :]
        out.append(Instruction(keyword.upper(), flags, rest.strip(), line))
    return out


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global build args (ARG before the first FROM) and the stages."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in parse_instructions(path.read_text()):
        if instruction.keyword == "FROM":
            base, _, name = instruction.args.partition(" AS ")
            base = Template(base.strip()).safe_substitute(global_args)
            stages.append(Stage(base, name.strip() or None))
        elif not stages and instruction.keyword == "ARG":
            key, _, default = instruction.args.partition("=")
            global_args[key] = default
        else:
            assert stages, f"line {instruction.line}: {instruction.keyword} before FROM"
            stages[-1].instructions.append(instruction)
    return global_args, stages


def env_pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """ENV key=value pairs in order (values may still hold $VARS)."""
    pairs = []
    for token in shlex.split(instruction.args):
        key, sep, value = token.partition("=")
        assert sep, f"line {instruction.line}: use ENV key=value, not the legacy form"
        pairs.append((key, value))
    return pairs


# ------------------------------------------------------------- .dockerignore


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class DockerIgnore:
    """Docker's rules: the last matching pattern wins, `!` re-includes, and a
    pattern matching a parent directory matches everything below it."""

    rules: tuple[tuple[bool, re.Pattern[str], str], ...]  # (exclude, regex, cleaned pattern)

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            rules.append((exclude, _pattern_regex(pattern), pattern))
        return cls(tuple(rules))

    def excluded(self, relpath: str) -> bool:
        parts = relpath.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for exclude, regex, _ in self.rules:
            if any(regex.match(c) for c in candidates):
                verdict = exclude
        return verdict

    def may_reinclude_below(self, relpath: str) -> bool:
        return any(not ex and p.startswith(relpath + "/") for ex, _, p in self.rules)

    def context_files(self, root: Path) -> list[str]:
        """Relative paths of every file Docker would send as build context."""
        files = []
        for directory, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(directory, root)
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = [
                d
                for d in dirnames
                if not self.excluded(rel_dir + d) or self.may_reinclude_below(rel_dir + d)
            ]
            files += [rel_dir + f for f in filenames if not self.excluded(rel_dir + f)]
        return sorted(files)
