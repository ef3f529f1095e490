"""kopf's per-object success lines are left out of the log; its failures are not."""

from __future__ import annotations

import logging

from deploymentgate.controller.kopf_workarounds import KopfSuccessFilter


def record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_a_stopping_operator_does_not_log_a_line_per_gate() -> None:
    keep = KopfSuccessFilter().filter
    assert not keep(record("kopf.objects", logging.INFO, "Daemon 'gate_loop' succeeded."))
    assert not keep(record("kopf.objects", logging.INFO, "Handler 'gate_deleted' succeeded."))


def test_kopf_failures_and_our_own_lines_stay() -> None:
    keep = KopfSuccessFilter().filter
    assert keep(record("kopf.objects", logging.ERROR, "Daemon 'gate_loop' failed: boom."))
    assert keep(record("kopf.objects", logging.INFO, "Daemon 'gate_loop' succeeded. And more."))
    assert keep(record("kopf.activities.startup", logging.INFO, "Activity 'configure' succeeded."))
    assert keep(record("deploymentgate.gates", logging.INFO, "Handler 'x' succeeded."))
