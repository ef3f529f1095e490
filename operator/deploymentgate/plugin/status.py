"""`kubectl gate status <gate> [-w]`: one gate as a tree, like `kubectl argo
rollouts get rollout`.

The gate (phase, weights, step), then each revision with the Deployments the
gate owns for it (`<target>-<revision>` serving, `<target>-verify` under test
at 0% traffic) and their pods, each probe's last numbers, the sign-offs, the
routes, and the gate's last Events.

Rendering is pure (`render`: the objects as the API server returns them, and
now, to lines); reading is four read-only calls (`read`): get the gate, list
the Deployments and pods carrying its label, list its Events. Only
Deployments whose controller ownerReference is this gate count: a Deployment
that merely copies the label is not the gate's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploymentgate.core.routers import routers
from deploymentgate.k8s.builders import (
    GATE_LABEL,
    REVISION_LABEL,
    ROLE_LABEL,
    ROLE_SERVING,
    ROLE_VERIFY,
    controller_uid,
    gate_label_value,
)
from deploymentgate.models import DEFAULT_ROUTER, KIND, SERVING_LABEL
from deploymentgate.plugin.get import PROBES, VERDICT, read_gates
from deploymentgate.plugin.session import PluginError, Session, as_dict, refusal
from deploymentgate.timestamps import read_timestamp

EVENTS_SHOWN = 5
WIDTH = 100  # probe numbers wrap here
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: how `-w` redraws on a terminal

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """What `status` reads: plain JSON objects, as the API server returns them."""

    gate: Obj
    deployments: Sequence[Obj] = ()
    pods: Sequence[Obj] = ()
    events: Sequence[Obj] = ()

    def version(self) -> tuple[str, ...]:
        """resourceVersions of everything read: unchanged means nothing to redraw."""
        objects = [self.gate, *self.deployments, *self.pods, *self.events]
        return tuple(f"{_meta(o).get('uid')}@{_meta(o).get('resourceVersion')}" for o in objects)


# --------------------------------------------------------------- rendering


def parse_time(value: object) -> datetime | None:
    """A time from kubectl's JSON (naive means UTC), or None."""
    moment = read_timestamp(value) if isinstance(value, str) else None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(value: object, now: datetime) -> str:
    """How long ago, as kubectl prints ages (45s, 3m12s, 7m, 5h, 2d); `-` if unknown."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    return _span(int((now - moment).total_seconds()))


def left(value: object, now: datetime) -> str:
    """How long until a time, in the same form as `age`; `-` if unknown."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    return _span(int((moment - now).total_seconds()))


def _span(seconds: int) -> str:
    seconds = max(0, seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 600:
        return f"{seconds // 60}m{seconds % 60}s"
    if seconds < 3 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _labels(obj: Obj) -> Obj:
    return _meta(obj).get("labels") or {}


def owned(gate: Obj, deployments: Sequence[Obj]) -> list[Obj]:
    """The Deployments this gate controls (ownerReference with its uid), by name."""
    uid = _meta(gate).get("uid")
    mine = [d for d in deployments if uid and controller_uid(_meta(d)) == uid]
    return sorted(mine, key=lambda d: str(_meta(d).get("name")))


def pods_of(deployment: Obj, pods: Sequence[Obj]) -> list[Obj]:
    """Pods the Deployment's selector matches (its ReplicaSets' pods), by name."""
    wanted = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not wanted:
        return []
    found = [p for p in pods if all(_labels(p).get(k) == v for k, v in wanted.items())]
    return sorted(found, key=lambda p: str(_meta(p).get("name")))


def pod_line(pod: Obj, now: datetime) -> str:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or []) or len(containers)
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    state = str(status.get("phase") or "Pending")
    if _meta(pod).get("deletionTimestamp"):
        state = "Terminating"
    else:
        for c in containers:
            waiting = (c.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                state = str(waiting["reason"])
                break
    mark = "✔" if state == "Running" and total and ready == total else "◌"
    labels = _labels(pod)
    parked = labels.get(ROLE_LABEL) == ROLE_SERVING and SERVING_LABEL not in labels
    return (
        f"{mark} Pod {_meta(pod).get('name')}  {state}  ready {ready}/{total}"
        f"  restarts {restarts}  age {age(_meta(pod).get('creationTimestamp'), now)}"
        + ("  out of traffic" if parked else "")
    )


def deployment_line(deployment: Obj, role: str) -> str:
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1) or 0)
    ready = int(status.get("readyReplicas") or 0)
    what = "serving" if role == ROLE_SERVING else "verification, 0% of traffic"
    return f"Deployment {_meta(deployment).get('name')}  ({what})  ready {ready}/{wanted}"


def tree(entries: Sequence[tuple[str, Sequence[Any]]], prefix: str = "") -> list[str]:
    """(line, children) pairs drawn with box characters."""
    lines: list[str] = []
    for i, (text, children) in enumerate(entries):
        last = i == len(entries) - 1
        lines.append(f"{prefix}{'└──' if last else '├──'} {text}")
        lines.extend(tree(children, prefix + ("    " if last else "│   ")))
    return lines


def _weights(gate: Obj) -> str:
    spec, status = gate.get("spec") or {}, gate.get("status") or {}
    steps = list((spec.get("traffic") or {}).get("steps") or [])
    canary = int(status.get("canaryWeight") or 0)
    testing = status.get("revision")
    if canary == 0 and (not testing or testing == status.get("stableRevision")):
        text = "stable 100%"  # nothing under test
    else:
        text = f"stable {100 - canary}%, revision under test {canary}%"
    return text + (f"  (steps {', '.join(str(s) for s in steps)}%)" if steps else "")


def _step(gate: Obj, now: datetime) -> str | None:
    """Progressing: which step, since when, and whether its pods are ready yet."""
    spec, status = gate.get("spec") or {}, gate.get("status") or {}
    steps = list((spec.get("traffic") or {}).get("steps") or [])
    step = status.get("step")
    if status.get("phase") != "Progressing" or not isinstance(step, int) or step >= len(steps):
        return None
    shown = ", ".join(f"[{s}]" if i == step else str(s) for i, s in enumerate(steps))
    text = f"{step + 1} of {len(steps)}: {shown}%"
    if status.get("stepSince"):
        text += f", for {age(status['stepSince'], now)}"
    ready = status.get("stepReadySince")
    return text + (f", pods ready for {age(ready, now)}" if ready else ", waiting for its pods")


def _header(gate: Obj, now: datetime) -> list[str]:
    spec, status = gate.get("spec") or {}, gate.get("status") or {}
    meta = _meta(gate)
    traffic = spec.get("traffic") or {}
    phase = status.get("phase") or "-"
    since = status.get("phaseSince")
    rows = [
        ("Name", str(meta.get("name"))),
        ("Namespace", str(meta.get("namespace"))),
        ("Target", f"deployment/{(spec.get('targetRef') or {}).get('name', '-')}"),
        ("Phase", f"{phase} (for {age(since, now)})" if since else str(phase)),
        ("Message", str(status.get("message") or "")),
        ("Router", str(traffic.get("router") or DEFAULT_ROUTER)),
        ("Weights", _weights(gate)),
    ]
    step = _step(gate, now)
    if step:
        rows.append(("Step", step))
    if status.get("previousRevision") and status.get("watchUntil"):
        until = status["watchUntil"]
        rows.append(
            (
                "Watch",
                f"after promotion, until {until} ({left(until, now)} left): revision"
                f" {status['previousRevision']} runs on out of traffic and a trigger reverts"
                " to it at once (kubectl gate promote ends the watch, abort reverts now)",
            )
        )
    if status.get("frozen"):
        rows.append(("Frozen", "yes: traffic held where the trigger found it"))
    if status.get("rollbackTrigger") or status.get("rollbackReason"):
        trigger = status.get("rollbackTrigger") or "-"
        rows.append(("Rejected", f"{trigger}: {status.get('rollbackReason') or ''}".rstrip()))
    width = max(len(k) for k, _ in rows) + 1
    return [f"{(k + ':').ljust(width)} {v}".rstrip() for k, v in rows]


def _revisions(
    gate: Obj, deployments: Sequence[Obj], pods: Sequence[Obj], now: datetime
) -> list[str]:
    status = gate.get("status") or {}
    stable = status.get("stableRevision")
    testing = status.get("revision")
    mine = owned(gate, deployments)

    def node(d: Obj) -> tuple[str, list[tuple[str, list[Any]]]]:
        role = str(_labels(d).get(ROLE_LABEL) or "")
        return deployment_line(d, role), [(pod_line(p, now), []) for p in pods_of(d, pods)]

    def serving(revision: object) -> list[Obj]:
        return [
            d
            for d in mine
            if _labels(d).get(ROLE_LABEL) == ROLE_SERVING
            and _labels(d).get(REVISION_LABEL) == revision
        ]

    verify = [d for d in mine if _labels(d).get(ROLE_LABEL) == ROLE_VERIFY]
    shown: list[Obj] = []
    entries: list[tuple[str, Sequence[Any]]] = []
    if stable:
        images = ", ".join(status.get("stableImages") or [])
        children = [node(d) for d in serving(stable)] or [("no serving Deployment", [])]
        shown += serving(stable)
        entries.append((f"stable revision {stable}" + (f"  {images}" if images else ""), children))
    if testing and testing != stable:
        images = ", ".join(status.get("images") or [])
        under = serving(testing) + [d for d in verify if _labels(d).get(REVISION_LABEL) == testing]
        shown += under
        children = [node(d) for d in under] or [("no Deployment (yet)", [])]
        entries.append(
            (f"revision under test {testing}" + (f"  {images}" if images else ""), children)
        )
    previous = status.get("previousRevision")
    if previous and previous not in (stable, testing):
        kept = serving(previous)
        shown += kept
        children = [node(d) for d in kept] or [("no serving Deployment", [])]
        entries.append(
            (f"previous revision {previous}  kept out of traffic for a revert", children)
        )
    rest = [d for d in mine if d not in shown]
    if rest:
        entries.append(("other Deployments of this gate", [node(d) for d in rest]))
    if not entries:
        return ["Revisions: none yet (the gate has not adopted its Deployment)"]
    return ["Revisions:", *tree(entries)]


def _probe_lines(name: str, probe: Obj, now: datetime) -> list[str]:
    ok = probe.get("ok")
    verdict = VERDICT.get(ok if isinstance(ok, bool) else None, VERDICT[None])
    lines = [f"  {name:<10} {verdict}  {probe.get('message') or 'no result yet'}"]
    facts = []
    values = probe.get("values") or {}
    if name == "startup" and "phases_declared" in values:
        observed = number(values.get("phases_observed", 0))
        facts.append(f"phases observed {observed}/{number(values['phases_declared'])}")
    if probe.get("lastRun"):
        facts.append(f"last run {age(probe['lastRun'], now)} ago")
    if probe.get("lastSuccess"):
        facts.append(f"last success {age(probe['lastSuccess'], now)} ago")
    if probe.get("failingSince"):
        facts.append(f"failing for {age(probe['failingSince'], now)}")
    if probe.get("consecutiveFailures"):
        facts.append(f"{probe['consecutiveFailures']} failures in a row")
    if probe.get("restarts"):
        facts.append(f"{probe['restarts']} pods replaced")
    indent = " " * 16
    if facts:
        lines.append(indent + ", ".join(facts))
    checks = probe.get("checks") or []
    if checks:  # metric checks: a line each, its value in its message
        return lines + [indent + _check_line(check) for check in checks]
    lines += wrap([f"{k} {number(v)}" for k, v in values.items()], indent)
    return lines


def _check_line(check: Obj) -> str:
    """One metric check: its verdict (dry run said so: it never acts) and what it saw."""
    ok = check.get("ok")
    verdict = VERDICT.get(ok if isinstance(ok, bool) else None, VERDICT[None])
    notes = ["dry run"] if check.get("dryRun") else []
    if check.get("consecutiveFailures"):
        notes.append(f"{check['consecutiveFailures']} failures in a row")
    said = f"{check.get('name')} {verdict}  {check.get('message') or 'no result yet'}"
    return said + (f" ({', '.join(notes)})" if notes else "")


def wrap(items: Sequence[str], indent: str, width: int = WIDTH) -> list[str]:
    """Comma-separated items, as many per line as fit in `width`."""
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current}, {item}" if current else item
        if current and len(indent) + len(candidate) > width:
            lines.append(indent + current + ",")
            candidate = item
        current = candidate
    if current:
        lines.append(indent + current)
    return lines


def _probes(gate: Obj, now: datetime) -> list[str]:
    status = gate.get("status") or {}
    probes = status.get("probes") or {}
    present = [p for p in PROBES if p in probes]
    if not present:
        return []
    lines = [f"Probes (revision {status.get('revision') or '-'}):"]
    for name in present:
        lines += _probe_lines(name, probes.get(name) or {}, now)
    return lines


def _sign_offs(gate: Obj, now: datetime) -> list[str]:
    spec, status = gate.get("spec") or {}, gate.get("status") or {}
    required = list((spec.get("approvals") or {}).get("required") or [])
    if not required:
        return []
    signed = {s.get("role"): s for s in status.get("signOffs") or []}
    lines = ["Sign-offs:"]
    for role in required:
        s = signed.get(role)
        if s:
            lines.append(
                f"  {role:<18} ✅ {s.get('approver')}, {age(s.get('time'), now)} ago"
                f" (gateapproval/{s.get('name')})"
            )
        else:
            lines.append(f"  {role:<18} ⏳ waiting")
    return lines


def _router_lines(gate: Obj) -> list[str]:
    """What each router shows of its own part of the status (e.g. route weights)."""
    status = gate.get("status") or {}
    return [line for router in routers() for line in router.status_lines(status)]


def event_time(event: Obj) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or _meta(event).get("creationTimestamp")
        or ""
    )


def gate_events(gate: Obj, events: Sequence[Obj]) -> list[Obj]:
    """Events about this gate (this uid, when the Event names one), oldest first."""
    meta = _meta(gate)
    uid = meta.get("uid")

    def about(e: Obj) -> bool:
        involved = e.get("involvedObject") or {}
        return (
            involved.get("kind") == KIND
            and involved.get("name") == meta.get("name")
            and (not involved.get("uid") or not uid or involved.get("uid") == uid)
        )

    return sorted(
        (e for e in events if about(e)),
        key=lambda e: parse_time(event_time(e)) or datetime.min.replace(tzinfo=UTC),
    )


def _events(gate: Obj, events: Sequence[Obj], now: datetime) -> list[str]:
    mine = gate_events(gate, events)[-EVENTS_SHOWN:]
    if not mine:
        return ["Events: none"]
    rows = []
    for e in mine:
        count = int(e.get("count") or 1)
        seen = age(event_time(e), now) + (f" (x{count})" if count > 1 else "")
        rows.append((seen, str(e.get("type") or ""), str(e.get("reason") or "")))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"Events (last {len(mine)}):"]
    for cells, e in zip(rows, mine, strict=True):
        left = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        lines.append(f"  {left}  {e.get('message') or ''}".rstrip())
    return lines


def render(snapshot: Snapshot, now: datetime) -> list[str]:
    """The status tree: pure, so tests need no cluster."""
    gate = snapshot.gate
    sections = [
        _header(gate, now),
        _revisions(gate, snapshot.deployments, snapshot.pods, now),
        _probes(gate, now),
        _sign_offs(gate, now),
        _router_lines(gate),
        _events(gate, snapshot.events, now),
    ]
    lines: list[str] = []
    for section in sections:
        if section:
            if lines:
                lines.append("")
            lines += section
    return lines


def frames(
    read: Callable[[], Snapshot],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> Iterator[list[str]]:
    """`status -w`: the tree, then again each time anything read has changed."""
    last: tuple[str, ...] | None = None
    done = 0
    while rounds is None or done < rounds:
        snapshot = read()
        version = snapshot.version()
        if version != last:
            yield render(snapshot, clock())
            last = version
        done += 1
        if rounds is None or done < rounds:
            sleep(interval)


# ----------------------------------------------------------------- reading


def _json(response: Any) -> dict[str, Any]:
    return as_dict(json.loads(response.data))


def read(session: Session, name: str) -> Snapshot:
    """get the gate; list Deployments and pods with its label, and its Events."""
    ns = session.namespace
    (gate,) = read_gates(session, name)
    selector = f"{GATE_LABEL}={gate_label_value(name)}"
    apps, core = client.AppsV1Api(session.api), client.CoreV1Api(session.api)
    try:
        deployments = _json(
            apps.list_namespaced_deployment(ns, label_selector=selector, _preload_content=False)
        )
        pods = _json(core.list_namespaced_pod(ns, label_selector=selector, _preload_content=False))
        events = _json(
            core.list_namespaced_event(
                ns,
                field_selector=f"involvedObject.kind={KIND},involvedObject.name={name}",
                _preload_content=False,
            )
        )
    except ApiException as exc:
        raise PluginError(f"cannot read gate {name}'s workloads: {refusal(exc)}") from exc
    return Snapshot(
        gate,
        list(deployments.get("items") or []),
        list(pods.get("items") or []),
        list(events.get("items") or []),
    )


def status(session: Session, name: str) -> str:
    return "\n".join(render(read(session, name), datetime.now(UTC)))


def show(drawn: Iterator[list[str]], out: TextIO, *, terminal: bool) -> None:
    """Write each frame: on a terminal it replaces the last (as `watch` does);
    elsewhere (a pipe, a log) frames follow one another, a blank line apart."""
    for i, lines in enumerate(drawn):
        text = "\n".join(lines)
        out.write((CLEAR if terminal else "\n" if i else "") + text + "\n")
        out.flush()


def watch(session: Session, name: str, interval: float = 1.0) -> None:
    """Redraw the tree when anything changes, until interrupted."""
    terminal = sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
    try:
        show(frames(lambda: read(session, name), interval=interval), sys.stdout, terminal=terminal)
    except KeyboardInterrupt:
        return
