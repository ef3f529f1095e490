"""`kubectl gate abort|retry|promote [--full] <gate>`: one request annotation each.

The request names the revision the gate has under test, so it can never act
on a later one. Then the command waits (a bounded poll) until the operator
has acted on it (status.commands) and prints where the gate stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from deploymentgate.core import commands
from deploymentgate.core.commands import Verb
from deploymentgate.models import API_GROUP, API_VERSION, PLURAL
from deploymentgate.plugin.session import PluginError, Session, as_dict, refusal

ACTIVE = tuple(phase.value for phase in commands.ACTIVE)  # the core's rule, as text
# What each verb needs of the gate, and what to say otherwise (the operator
# checks the same, this only saves a pointless write).
_NEEDS: dict[Verb, tuple[tuple[str, ...], str]] = {
    Verb.ABORT: (ACTIVE, "in progress"),
    Verb.RETRY: (("RolledBack", "Blocked"), "rolled back or blocked"),
    Verb.PROMOTE: (("Progressing",), "progressing (verified, signed off, stepping)"),
    Verb.PROMOTE_FULL: (("Progressing",), "progressing (verified, signed off, stepping)"),
}


def token(now: datetime | None = None) -> str:
    """Tells one request from the next; the revision says which rollout it is for."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")


def request(
    session: Session,
    gate: str,
    verb: Verb,
    *,
    revision: str | None = None,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Write the request, wait for the operator to act; the lines to print."""
    body = _read(session, gate)
    status = body.get("status") or {}
    under_test, phase = status.get("revision"), status.get("phase") or "unknown"
    # Promoted and still watched: abort reverts to the previous revision, promote
    # ends the watch.
    watched = phase == "Promoted" and bool(status.get("previousRevision"))
    if not under_test or (under_test == status.get("stableRevision") and not watched):
        raise PluginError(f"gate {gate} has no revision under test (it is {phase})")
    if revision and revision != under_test:
        raise PluginError(f"gate {gate} has revision {under_test} under test, not {revision}")
    frozen = phase == "Blocked" and status.get("frozen")
    phases, wanted = _NEEDS[verb]
    allowed = phase in phases or (verb is Verb.ABORT and frozen)
    if not allowed and not (watched and verb in (Verb.ABORT, Verb.PROMOTE, Verb.PROMOTE_FULL)):
        raise PluginError(f"gate {gate} revision {under_test} is {phase}, not {wanted}")
    value = f"{under_test}/{token()}"
    # No resourceVersion precondition: the operator writes the status every few
    # seconds mid-rollout, and the value names the revision it is for anyway
    # (admission refuses it for another revision, the operator ignores it).
    patch = {"metadata": {"annotations": {verb.annotation: value}}}
    try:
        session.objects.patch_namespaced_custom_object(
            API_GROUP, API_VERSION, session.namespace, PLURAL, gate, patch
        )
    except ApiException as exc:
        raise PluginError(f"request refused: {refusal(exc)}") from exc
    what = verb.value.replace("-", " --")
    deadline = time.monotonic() + timeout
    while True:
        status = _read(session, gate).get("status") or {}
        handled = (status.get("commands") or {}).get(verb.status_key)
        if handled == value:
            return (
                f"{what} of gate {gate} revision {under_test} done: {status.get('phase')}:"
                f" {status.get('message', '')}"
            )
        if time.monotonic() >= deadline:
            raise PluginError(
                f"{what} of gate {gate} revision {under_test} requested ({verb.annotation}"
                f"={value}), but the operator has not acted on it within {timeout:g}s;"
                " it will when it runs"
            )
        sleep(0.5)


def _read(session: Session, gate: str) -> dict[str, Any]:
    ns = session.namespace
    try:
        return as_dict(
            session.objects.get_namespaced_custom_object(API_GROUP, API_VERSION, ns, PLURAL, gate)
        )
    except ApiException as exc:
        if exc.status == 404:
            raise PluginError(f"gate {gate} not found in namespace {ns}") from exc
        raise PluginError(f"cannot read gate {gate}: {refusal(exc)}") from exc
