"""Seed §4 smoke test: one Job per revision, run against its verification pod at 0% traffic.

Rules (the thin layer creates and deletes the Job and reads its pod's log):
- it starts once the revision serves: the startup probe passed (or, without
  one, the verification pod is ready) and a ready verification pod's URL is
  known. `status.probes.smoke.lastRun` records the start: the status is the
  only memory, so a restarted operator finds the Job again (or creates it
  again when it is missing) and takes its verdict;
- a Job found before a start is recorded is a leftover of an earlier
  verification of the same revision: it is deleted, never read;
- its verdict is folded once: success lets verification pass; failure (a
  non-zero exit, its deadline, a pod that never started) rejects the revision
  like any failed probe, trigger `smokeTestFailed`, with its log tail;
- no verdict within `timeout` + SLACK of the start (e.g. no Job controller
  runs it) is a failure too;
- the Job goes as soon as its verdict is recorded, and whenever it is not
  wanted any more: another revision under test, any phase but Verifying, the
  gate's deletion. No Job is left behind.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from deploymentgate.core.actions import Action, EnsureSmokeJob, Reason, RemoveSmokeJob
from deploymentgate.core.run import Run, ready_of
from deploymentgate.core.triggers import Fired
from deploymentgate.core.verification import reject
from deploymentgate.durations import format_duration
from deploymentgate.models import Phase, ProbeStatus, SmokeTest, Trigger
from deploymentgate.observations import SmokeJobState

# The Job's own deadline ends it; this much longer without a verdict means
# nothing is running it.
SLACK = timedelta(seconds=30)
TAIL_LINES = 20  # of the Job pod's log, kept in status.probes.smoke.message
TAIL_BYTES = 2048
# kopf cuts Event messages at 1024 characters: the rollback's own words come
# first, then the end of the log tail (its last lines say most).
EVENT_TAIL_CHARS = 600
JOB_NAME_MAX = 63  # the Job controller puts the Job's name in a label value


def job_name(target: str, revision: str) -> str:
    """`<target>-smoke-<revision>`, shortened with a hash past 63 characters."""
    suffix = f"smoke-{revision if len(revision) <= 32 else _digest(revision)}"
    name = f"{target}-{suffix}"
    if len(name) <= JOB_NAME_MAX:
        return name
    keep = JOB_NAME_MAX - len(suffix) - 8 - 2
    return f"{target[:keep].rstrip('-.')}-{_digest(target)[:8]}-{suffix}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tail(text: str, lines: int = TAIL_LINES, limit: int = TAIL_BYTES) -> str:
    """The last `lines` lines of `text`, at most `limit` characters (the end kept)."""
    kept = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return kept if len(kept) <= limit else "…" + kept[-(limit - 1) :]


def _config(run: Run) -> SmokeTest | None:
    return run.spec.probes.smoke if run.spec is not None else None


def _name(run: Run, revision: str) -> str:
    return job_name(run.gate_spec.target_ref.name, revision)


def serving(run: Run) -> bool:
    """The revision under test serves: its startup passed (or, without a
    startup probe, its verification pod is ready)."""
    st, spec = run.status, run.gate_spec
    if spec.probes.startup is not None:
        startup = st.probes.startup
        return startup is not None and startup.ok is True
    return ready_of(run.obs.verification, st.revision) >= 1


def watch_smoke(run: Run) -> bool:
    """Start the smoke test, or fold its verdict; True when it rejected the revision."""
    st, config = run.status, _config(run)
    if config is None or st.phase is not Phase.VERIFYING or st.revision is None:
        return False
    smoke = st.probes.smoke
    if smoke is not None and smoke.ok is not None:
        return False  # its verdict is in
    name = _name(run, st.revision)
    job = run.obs.smoke_jobs.get(st.revision)
    begun = smoke.last_run if smoke is not None else None
    if begun is None:
        url = run.obs.verification_url
        if job is not None or url is None or not serving(run):
            return False  # a leftover Job goes first (plan); or the app does not serve yet
        started = ProbeStatus(message=f"Job {name} running against {url}", last_run=run.now)
        run.set(probes=st.probes.model_copy(update={"smoke": started}))
        run.wake_at(run.now + config.timeout + SLACK)
        return False
    if job is not None and job.finished and not job.deleting:
        return _verdict(run, job)
    limit = begun + config.timeout + SLACK
    if run.now >= limit:
        _fail(
            run,
            f"Job {name} gave no verdict within {format_duration(config.timeout)}"
            " of its start (is a Job controller running?)",
            "",
        )
        return True
    run.wake_at(limit)
    return False


def _verdict(run: Run, job: SmokeJobState) -> bool:
    st = run.status
    log = tail(job.log_tail)
    if job.succeeded:
        last = log.splitlines()[-1] if log else ""
        message = f"Job {job.name} succeeded" + (f": {last}" if last else "")
        smoke = (st.probes.smoke or ProbeStatus()).model_copy(
            update={"ok": True, "message": message, "last_success": run.now, "failing_since": None}
        )
        run.set(probes=st.probes.model_copy(update={"smoke": smoke}))
        run.event(Reason.PROBE_PASSED, f"smoke probe passed for revision {st.revision}: {message}")
        return False
    _fail(run, f"Job {job.name} failed ({_why(run, job)})", log)
    return True


def _why(run: Run, job: SmokeJobState) -> str:
    config = _config(run)
    parts = []
    if job.reason == "DeadlineExceeded" and config is not None:
        parts.append(f"not done within {format_duration(config.timeout)}: DeadlineExceeded")
    elif job.reason:
        parts.append(job.reason)
    if job.detail:
        parts.append(job.detail)
    return "; ".join(parts) or "failed"


def _fail(run: Run, what: str, log: str) -> None:
    """Record the failure with the whole (bounded) tail; the Events carry its end."""
    st = run.status
    full = f"{what}; last lines of its log:\n{log}" if log else what
    short = log if len(log) <= EVENT_TAIL_CHARS else "…" + log[-(EVENT_TAIL_CHARS - 1) :]
    brief = f"{what}; last lines of its log:\n{short}" if short else what
    smoke = (st.probes.smoke or ProbeStatus()).model_copy(
        update={
            "ok": False,
            "message": full,
            "failing_since": run.now,
            "consecutive_failures": 1,
        }
    )
    run.set(probes=st.probes.model_copy(update={"smoke": smoke}))
    run.event(
        Reason.PROBE_FAILED, f"smoke probe failed for revision {st.revision}: {brief}", warning=True
    )
    reject(run, Fired(Trigger.SMOKE_TEST_FAILED, f"smoke test failed: {brief}"))


def pending(run: Run) -> str | None:
    """What verification still waits for of the smoke test, or None."""
    st, config = run.status, _config(run)
    if config is None:
        return None
    smoke = st.probes.smoke
    if smoke is not None and smoke.ok is True:
        return None
    if smoke is None or smoke.last_run is None:
        return "smoke test (starts once the app serves)"
    if st.revision not in run.obs.smoke_jobs:
        return f"smoke test (Job {_name(run, st.revision or '')} not created yet)"
    return f"smoke test ({smoke.message})"


def smoke_actions(run: Run) -> list[Action]:
    """Create the Job the status says is running when it is missing; delete every
    other Job of the gate (a verdict is in, another revision, another phase)."""
    st, obs, config = run.status, run.obs, _config(run)
    keep: str | None = None
    actions: list[Action] = []
    smoke = st.probes.smoke
    running = smoke is not None and smoke.ok is None and smoke.last_run is not None
    if config is not None and st.phase is Phase.VERIFYING and st.revision and running:
        keep = st.revision
        if keep not in obs.smoke_jobs and obs.verification_url is not None:
            actions.append(
                EnsureSmokeJob(
                    revision=keep,
                    url=obs.verification_url,
                    template=config.template,
                    timeout_seconds=max(1, math.ceil(config.timeout.total_seconds())),
                    url_env=config.url_env,
                )
            )
    for revision, job in sorted(obs.smoke_jobs.items()):
        if revision != keep and not job.deleting:
            actions.append(RemoveSmokeJob(revision))
    return actions


def remove_all(run: Run) -> list[Action]:
    """Every smoke Job of the gate goes (deletion, no target)."""
    return [RemoveSmokeJob(r) for r, job in sorted(run.obs.smoke_jobs.items()) if not job.deleting]
