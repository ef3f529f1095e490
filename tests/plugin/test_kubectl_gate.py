"""`kubectl gate` without a cluster: argument handling and what `get` prints.

The verbs against a live gate are in tests/e2e/test_operator_sign_offs.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from deploymentgate.plugin.cli import build_parser, main
from deploymentgate.plugin.get import changes, row


def gate(name: str, phase: str, weight: int = 0, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"approvals": {"required": ["qa", "engineering-lead"]}},
        "status": {"phase": phase, "revision": "182a7a3c47", "canaryWeight": weight, **status},
    }


def test_row_shows_probe_verdicts_and_who_signed_off_each_role() -> None:
    line = row(
        gate(
            "chat",
            "AwaitingApproval",
            probes={"health": {"ok": True}, "websocket": {"ok": False}, "errorRate": {}},
            signOffs=[{"role": "qa", "approver": "alice"}],
            message="waiting",
        )
    )
    assert line == (
        "chat",
        "AwaitingApproval",
        "182a7a3c47",
        "0%",
        "health ✅ websocket ❌ errorRate ⏳",
        "qa=alice engineering-lead=?",
        "waiting",
    )


def test_watch_prints_the_table_once_then_only_changed_gates() -> None:
    states = [
        [gate("chat", "Verifying"), gate("mail", "Idle")],
        [gate("chat", "Verifying"), gate("mail", "Idle")],
        [gate("chat", "Progressing", 25), gate("mail", "Idle")],
    ]
    reads = iter(states)
    slept: list[float] = []

    lines = list(changes(lambda: next(reads), interval=0.5, sleep=slept.append, rounds=3))

    assert lines[0].split() == [
        "NAME",
        "PHASE",
        "REVISION",
        "WEIGHT",
        "PROBES",
        "SIGN-OFFS",
        "MESSAGE",
    ]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["chat", "Verifying"],
        ["mail", "Idle"],
        ["chat", "Progressing"],
    ]
    assert "25%" in lines[-1]
    assert slept == [0.5, 0.5]
    # A later line whose cells fit keeps the first table's columns (kubectl get -w).
    promoted = [gate("chat", "Promoted", 100), gate("mail", "Idle")]
    first = [gate("chat", "Verifying"), gate("mail", "Idle")]
    reads = iter([first, promoted])
    lines = list(changes(lambda: next(reads), interval=0, sleep=slept.append, rounds=2))
    assert lines[-1].index("100%") == lines[0].index("WEIGHT")


def test_approve_needs_a_role(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["approve", "chat"])
    assert exit_info.value.code == 2
    assert "--role" in capsys.readouterr().err


def test_an_unreadable_kubeconfig_is_an_error_not_a_traceback(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.kubeconfig"
    code = main(["approve", "chat", "--role", "qa", "--kubeconfig", str(missing)])
    assert code == 1
    assert capsys.readouterr().err.startswith("error: cannot load the kubeconfig")
