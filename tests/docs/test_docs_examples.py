"""The command examples in README.md and docs/ run as written.

Every command example (a fenced block tagged console/sh/shell/bash, or one
whose first line is a `$ ` prompt) carries a marker on the line before it:

- `<!-- example: run -->` runs here, without a cluster;
- `<!-- example: cluster -->` runs on the session's local cluster (the `cluster`
  fixture), in a fresh namespace (the `namespace` fixture) that is the current
  one of its kubeconfig;
- `<!-- example: skip: why -->` is not run, and says why (a real external
  cluster, a wait of minutes, a process that runs until stopped).

An example with no marker fails here: none is left out silently. Each runnable
block runs in one bash (`set -e`, so every command must succeed), from a scratch
directory that shows the repository's files, with the virtualenv and the
cluster tools first on PATH; background jobs it starts are stopped at its end.
The output shown after a command is for the reader and is not compared.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from docs_markdown import ROOT, Block, blocks, doc_files

from deploymentgate.sandbox import Sandbox
from deploymentgate.sandbox.binaries import bin_dir

EXAMPLE_TIMEOUT = 120.0  # seconds for one block; the whole file stays within a few minutes
ALL_BLOCKS = [b for page in doc_files() for b in blocks(page)]
EXAMPLES = [b for b in ALL_BLOCKS if b.is_command_example]
RUN = [b for b in EXAMPLES if b.mode == "run"]
CLUSTER = [b for b in EXAMPLES if b.mode == "cluster"]


def test_every_command_example_is_marked_run_cluster_or_skip_with_a_reason() -> None:
    unmarked = [b.id for b in EXAMPLES if b.mode is None]
    assert unmarked == [], "add <!-- example: run|cluster|skip: why --> before each"
    unexplained = [b.id for b in EXAMPLES if b.mode == "skip" and len(b.why) < 10]
    assert unexplained == [], "a skipped example says why it cannot run here"
    stray = [b.id for b in ALL_BLOCKS if b.mode is not None and not b.is_command_example]
    assert stray == [], "a marker before a block that is not a command example"


def test_there_are_examples_of_each_kind_and_runnable_ones_have_commands() -> None:
    assert RUN and CLUSTER and any(b.mode == "skip" for b in EXAMPLES)
    assert all(b.commands for b in RUN + CLUSTER)


def test_commands_are_the_prompted_lines_and_continuations() -> None:
    block = Block(
        path=ROOT / "README.md",
        line=1,
        info="console",
        body=("$ kubectl get pods \\", "    -o wide", "NAME  READY", "$ echo done", "done"),
        mode="run",
        why="",
    )
    assert block.commands == ["kubectl get pods \\\n    -o wide", "echo done"]
    plain = Block(ROOT / "README.md", 1, "sh", ("# a comment", "make docs", ""), "run", "")
    assert plain.commands == ["make docs"]


def scratch_checkout(tmp_path: Path) -> Path:
    """A directory that shows the repository's files, so examples that write files
    (logs, outputs) write them here and not into the checkout."""
    work = tmp_path / "work"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".git", ".venv", ".cache", "docs"}:
            (work / entry.name).symlink_to(entry)
    # docs/ is generated into by some examples: a copy, not the checkout's own.
    (work / "docs").mkdir()
    for page in (ROOT / "docs").rglob("*"):
        if page.is_file():
            target = work / "docs" / page.relative_to(ROOT / "docs")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(page.read_bytes())
    return work


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> None:
    script = "\n".join(
        [
            "set -euo pipefail",
            "trap 'jobs -p | xargs -r kill 2>/dev/null; wait' EXIT",
            *block.commands,
        ]
    )
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=EXAMPLE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{block.id} ran longer than {EXAMPLE_TIMEOUT}s:\n{output[-4000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the block left behind
    assert proc.returncode == 0, (
        f"{block.id} failed ({proc.returncode}):\n"
        + "\n".join(f"$ {c}" for c in block.commands)
        + f"\n{output[-4000:]}"
    )


def base_env(path_first: list[Path]) -> dict[str, str]:
    path = os.pathsep.join([*(str(p) for p in path_first), os.environ.get("PATH", os.defpath)])
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return {**env, "PATH": path}


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield scratch_checkout(tmp_path)


@pytest.mark.parametrize("block", RUN, ids=lambda b: b.id)
def test_example_runs(block: Block, workdir: Path) -> None:
    run_block(block, workdir, base_env([Path(sys.executable).parent, bin_dir()]))


@pytest.mark.parametrize("block", CLUSTER, ids=lambda b: b.id)
def test_example_runs_on_the_local_cluster(
    block: Block, workdir: Path, cluster: Sandbox, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(Path(cluster.kubeconfig).read_bytes())
    env = {
        **base_env([Path(sys.executable).parent, Path(cluster.bin_dir)]),
        "KUBECONFIG": str(kubeconfig),
    }
    subprocess.run(
        ["kubectl", "config", "set-context", "--current", f"--namespace={namespace}"],
        env=env,
        check=True,
        capture_output=True,
        timeout=30,
    )
    run_block(block, workdir, env)


def test_a_failing_command_fails_the_example(tmp_path: Path) -> None:
    block = Block(ROOT / "README.md", 1, "console", ("$ true", "$ false", "$ true"), "run", "")
    with pytest.raises(AssertionError, match=r"failed \(1\)"):
        run_block(block, tmp_path, base_env([]))
