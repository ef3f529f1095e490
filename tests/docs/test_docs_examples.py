"""The command examples in README.md and docs/ run as written.

Every command example (a fenced block tagged console/sh/shell/bash, or one
whose first line is a `$ ` prompt) carries a marker on the line before it:

- `<!-- example: run -->` runs here, without a cluster;
- `<!-- example: cluster -->` runs on the session's local cluster (the `cluster`
  fixture), in a fresh namespace (the `namespace` fixture) that is the current
  one of its kubeconfig;
- `<!-- example: skip: why -->` is not run, and says why (a real external
  cluster, a wait of minutes, a process that runs until stopped).

An example with no marker fails here: none is left out silently. The runnable
blocks of one page and mode run in order in one bash, as a reader following the
page would (`set -e`, so every command must succeed), from a scratch directory
that shows the repository's files, with the virtualenv and the cluster tools
first on PATH; background jobs (the README tour's operator) are stopped at its
end. The output shown after a command is for the reader and is not compared.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from docs_markdown import ROOT, Block, blocks, doc_files

from deploymentgate_devkit.sandbox import Sandbox
from deploymentgate_devkit.sandbox.binaries import bin_dir

# Seconds for one page's examples (the README tour: two rollouts, about two minutes).
SESSION_TIMEOUT = 300.0
ALL_BLOCKS = [b for page in doc_files() for b in blocks(page)]
EXAMPLES = [b for b in ALL_BLOCKS if b.is_command_example]
RUN = [b for b in EXAMPLES if b.mode == "run"]
CLUSTER = [b for b in EXAMPLES if b.mode == "cluster"]


def sessions(examples: list[Block]) -> list[list[Block]]:
    """The blocks grouped by page, in page order: one shell session each."""
    by_page: dict[Path, list[Block]] = {}
    for block in examples:
        by_page.setdefault(block.path, []).append(block)
    return list(by_page.values())


def session_id(session: list[Block]) -> str:
    return str(session[0].path.relative_to(ROOT))


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
    """A directory that shows the repository's files, so that what the examples
    write (the tour's operator.log, chat.log) lands here and not in the checkout."""
    work = tmp_path / "work"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".git", ".venv", ".cache"}:
            (work / entry.name).symlink_to(entry)
    return work


def run_blocks(session: list[Block], cwd: Path, env: dict[str, str]) -> None:
    commands = [c for block in session for c in block.commands]
    where = ", ".join(b.id for b in session)
    script = "\n".join(
        [
            "set -euo pipefail",
            "trap 'jobs -p | xargs -r kill 2>/dev/null; wait' EXIT",
            *(f"echo {shlex.quote('$ ' + c)}\n{c}" for c in commands),
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
        output, _ = proc.communicate(timeout=SESSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{where} ran longer than {SESSION_TIMEOUT}s:\n{_tails(output, cwd)}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the block left behind
    print(output)  # shown with -rP: what a reader following the page would see
    assert proc.returncode == 0, f"{where} failed ({proc.returncode}):\n{_tails(output, cwd)}"


def _tails(output: str, cwd: Path) -> str:
    """The session's output, and the end of each log it wrote (the operator's)."""
    logs = [f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in cwd.glob("*.log")]
    return "\n".join([output[-4000:], *logs])


def base_env(path_first: list[Path]) -> dict[str, str]:
    path = os.pathsep.join([*(str(p) for p in path_first), os.environ.get("PATH", os.defpath)])
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return {**env, "PATH": path}


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield scratch_checkout(tmp_path)


@pytest.mark.parametrize("session", sessions(RUN), ids=session_id)
def test_examples_run(session: list[Block], workdir: Path) -> None:
    run_blocks(session, workdir, base_env([Path(sys.executable).parent, bin_dir()]))


@pytest.mark.parametrize("session", sessions(CLUSTER), ids=session_id)
def test_examples_run_on_the_local_cluster(
    session: list[Block], workdir: Path, cluster: Sandbox, namespace: str, tmp_path: Path
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
    run_blocks(session, workdir, env)


def test_a_failing_command_fails_the_example(tmp_path: Path) -> None:
    block = Block(ROOT / "README.md", 1, "console", ("$ true", "$ false", "$ touch x"), "run", "")
    with pytest.raises(AssertionError, match=r"failed \(1\)"):
        run_blocks([block], tmp_path, base_env([]))
    assert not (tmp_path / "x").exists()  # nothing runs after the failure
