"""The status write as a merge patch: cleared fields must really clear."""

from __future__ import annotations

from gatesim import T0

from deploymentgate.core import status_patch
from deploymentgate.models import GateStatus, Phase, ProbesStatus, ProbeStatus


def test_cleared_failing_since_becomes_an_explicit_null() -> None:
    old = GateStatus(
        phase=Phase.PROGRESSING,
        rollback_reason="x",
        probes=ProbesStatus(health=ProbeStatus(ok=False, failing_since=T0)),
    )
    new = GateStatus(phase=Phase.PROGRESSING, probes=ProbesStatus(health=ProbeStatus(ok=True)))

    patch = status_patch(old, new)

    assert patch == {
        "rollbackReason": None,
        "probes": {"health": {"ok": True, "failingSince": None}},
    }


def test_equal_statuses_need_no_write() -> None:
    status = GateStatus(phase=Phase.IDLE, stable_revision="abc")
    assert status_patch(status, status) is None


def test_lists_are_replaced_whole() -> None:
    old = GateStatus(images=["a", "b"])
    new = GateStatus(images=["c"])
    assert status_patch(old, new) == {"images": ["c"]}
