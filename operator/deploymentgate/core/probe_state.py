"""Fold probe results into `status.probes`.

The status is the probes' only memory: `failingSince` survives an operator
restart, which is what lets "health failing for 5 minutes" mean five minutes of
the application failing, not five minutes of one operator process watching.

One reconcile may bring several results per probe (several pods, several
rounds). Per probe, the latest result of each pod counts: any failing pod
fails the probe, a pass needs at least one passing pod and no failing one, and
"no data" (ok None) neither passes nor fails: it only updates the message.
Results no newer than `lastRun` were folded before and are skipped, so folding
the same batch twice changes nothing. A kind may fold its own way (its
descriptor's `fold`, given its section): the metric checks judge per check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deploymentgate.models import GateSpec, ProbesStatus, ProbeStatus
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probe_kinds import descriptor, kinds, result


@dataclass(frozen=True)
class FinalFailure:
    """A failure waiting cannot cure (e.g. startup reported failed)."""

    kind: ProbeKind
    message: str


@dataclass(frozen=True)
class Flip:
    """A probe's verdict changed: worth an Event."""

    kind: ProbeKind
    ok: bool
    message: str


@dataclass(frozen=True)
class Folded:
    probes: ProbesStatus
    finals: tuple[FinalFailure, ...]
    flips: tuple[Flip, ...]


def get(probes: ProbesStatus, kind: ProbeKind) -> ProbeStatus | None:
    return result(probes, kind)


def fold(
    probes: ProbesStatus,
    observations: Iterable[ProbeObservation],
    revision: str,
    spec: GateSpec | None = None,
) -> Folded:
    """Apply the results for `revision` (or without a revision) to `probes`.

    `spec` gives a kind that folds its own way its section (None: not configured).
    """
    relevant = [o for o in observations if o.revision in (None, revision)]
    updates: dict[str, ProbeStatus] = {}
    finals: list[FinalFailure] = []
    flips: list[Flip] = []
    for kind in (d.kind for d in kinds()):
        previous = get(probes, kind)
        seen = previous.last_run if previous else None
        fresh = [o for o in relevant if o.kind is kind and (seen is None or o.at > seen)]
        if not fresh:
            continue
        own = descriptor(kind)
        if own.fold is not None:
            updated = own.fold(own.section(spec) if spec else None, previous, fresh)
        else:
            updated = _fold_kind(previous or ProbeStatus(), fresh)
        updates[own.field] = updated
        finals.extend(FinalFailure(kind, o.message) for o in fresh if o.final and o.ok is False)
        if updated.ok is not None and updated.ok != (previous.ok if previous else None):
            flips.append(Flip(kind, updated.ok, updated.message))
    return Folded(probes.model_copy(update=updates), tuple(finals), tuple(flips))


def unwatched_startups(
    probes: ProbesStatus, observations: Iterable[ProbeObservation], revision: str
) -> list[str]:
    """Pods of `revision` whose startup ended before any probe reached them.

    Only results not folded yet count (newer than startup's `lastRun`), so
    deciding again on the folded status does not report them twice.
    """
    previous = probes.startup
    seen = previous.last_run if previous else None
    return sorted(
        {
            o.target
            for o in observations
            if o.kind is ProbeKind.STARTUP
            and o.not_observed
            and o.ok is None
            and o.revision == revision
            and (seen is None or o.at > seen)
        }
    )


def _fold_kind(previous: ProbeStatus, fresh: list[ProbeObservation]) -> ProbeStatus:
    latest: dict[str, ProbeObservation] = {}
    runs = previous.consecutive_failures
    for o in sorted(fresh, key=lambda o: o.at):
        latest[o.target] = o
        # Consecutive failed runs, counted per run: a pass resets, no data keeps the count.
        if o.ok is False:
            runs += 1
        elif o.ok is True:
            runs = 0
    failing = [o for o in latest.values() if o.ok is False]
    passing = [o for o in latest.values() if o.ok is True]
    last_run = max(o.at for o in fresh)
    if failing:
        shown = max(failing, key=lambda o: o.at)
        return previous.model_copy(
            update={
                "ok": False,
                "message": _with_count(shown.message, len(failing), len(latest), "failing"),
                "last_run": last_run,
                "failing_since": previous.failing_since or min(o.at for o in failing),
                "values": dict(shown.values),
                "consecutive_failures": max(runs, 1),
            }
        )
    shown = max(latest.values(), key=lambda o: o.at)
    if passing:
        return previous.model_copy(
            update={
                "ok": True,
                "message": shown.message,
                "last_run": last_run,
                "last_success": max(o.at for o in passing),
                "failing_since": None,
                "values": dict(shown.values),
                "consecutive_failures": 0,
            }
        )
    # Only "no data": the verdict and the failure clock stay as they were.
    return previous.model_copy(
        update={"message": shown.message, "last_run": last_run, "values": dict(shown.values)}
    )


def _with_count(message: str, bad: int, total: int, word: str) -> str:
    return message if total <= 1 else f"{message} ({bad}/{total} pods {word})"
