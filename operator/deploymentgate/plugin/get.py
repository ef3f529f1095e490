"""`kubectl gate get [gate]`: the gates of a namespace, one line each.

Read only (list deploymentgates). Shows what `kubectl get dg` does not:
each probe's verdict and the sign-offs of the revision under test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from deploymentgate.models import API_GROUP, API_VERSION, PLURAL
from deploymentgate.plugin.session import PluginError, Session, as_dict, refusal
from deploymentgate.probe_kinds import kinds

VERDICT = {True: "✅", False: "❌", None: "⏳"}
# The built-in kinds' names, for plugin/status.py (owned by the router work: it
# should call probe_names() so that it also shows a kind registered later).
PROBES = tuple(kind.kind.value for kind in kinds())
HEADER = ("NAME", "PHASE", "REVISION", "WEIGHT", "PROBES", "SIGN-OFFS", "MESSAGE")


def row(gate: Mapping[str, Any]) -> tuple[str, ...]:
    status = gate.get("status") or {}
    spec = gate.get("spec") or {}
    probes = status.get("probes") or {}
    verdicts = " ".join(
        f"{name} {VERDICT[(probes.get(name) or {}).get('ok')]}"
        for name in probe_names()
        if name in probes
    )
    required = list((spec.get("approvals") or {}).get("required") or [])
    signed = {s.get("role"): s.get("approver") for s in status.get("signOffs") or []}
    sign_offs = " ".join(
        f"{role}={signed[role]}" if role in signed else f"{role}=?" for role in required
    )
    return (
        str((gate.get("metadata") or {}).get("name", "")),
        str(status.get("phase") or "-"),
        str(status.get("revision") or "-"),
        f"{status.get('canaryWeight', 0)}%",
        verdicts or "-",
        sign_offs or "-",
        str(status.get("message") or ""),
    )


def probe_names() -> list[str]:
    """Every registered probe kind's `status.probes` key, in run order."""
    return [kind.kind.value for kind in kinds()]


def table(rows: list[tuple[str, ...]], at_least: list[int] | None = None) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    if at_least:
        widths = [max(w, floor) for w, floor in zip(widths, at_least, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    )


def changes(
    read: Callable[[], list[dict[str, Any]]],
    *,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> Iterator[str]:
    """`get -w`: the header and every gate once, then a line per gate whose line changed."""
    shown: dict[str, tuple[str, ...]] = {}
    widths: list[int] = []  # the first table's, so later lines line up under it
    first = True
    done = 0
    while rounds is None or done < rounds:
        rows = [row(g) for g in sorted(read(), key=lambda g: g["metadata"]["name"])]
        fresh = [r for r in rows if shown.get(r[0]) != r]
        if first or fresh:
            if first:
                widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER) - 1)]
            rendered = table([HEADER, *rows], widths).splitlines()
            lines = dict(zip((r[0] for r in rows), rendered[1:], strict=True))
            if first:
                yield rendered[0]
            for r in fresh:
                yield lines[r[0]].rstrip()
        shown.update({r[0]: r for r in rows})
        first = False
        done += 1
        if rounds is None or done < rounds:
            sleep(interval)


def read_gates(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    ns = session.namespace
    try:
        if name:
            gates = [
                as_dict(
                    session.objects.get_namespaced_custom_object(
                        API_GROUP, API_VERSION, ns, PLURAL, name
                    )
                )
            ]
        else:
            listed = as_dict(
                session.objects.list_namespaced_custom_object(API_GROUP, API_VERSION, ns, PLURAL)
            )
            gates = [as_dict(g) for g in listed.get("items") or []]
    except ApiException as exc:
        if exc.status == 404:
            raise PluginError(f"gate {name} not found in namespace {ns}") from exc
        raise PluginError(f"cannot list gates in {ns}: {refusal(exc)}") from exc
    return gates


def get(session: Session, name: str | None = None) -> str:
    gates = read_gates(session, name)
    if not gates:
        return f"No gates in namespace {session.namespace}."
    return table([HEADER, *(row(g) for g in sorted(gates, key=lambda g: g["metadata"]["name"]))])


def watch(session: Session, name: str | None = None, interval: float = 1.0) -> None:
    """Print as `kubectl get -w` does, until interrupted (reads every `interval` s)."""
    try:
        for line in changes(lambda: read_gates(session, name), interval=interval):
            print(line, flush=True)
    except KeyboardInterrupt:
        return
