"""People's requests to a gate: abort, retry, promote, promote fully.

Each request is an annotation on the DeploymentGate whose value names the
revision it is meant for and a token that makes it a new request:

    rollout.deploymentgate.dev/abort: "<revision>/<token>"

`kubectl gate abort|retry|promote [--full]` writes one (a merge patch, one API
write). The ValidatingAdmissionPolicy in `command_policy` admits it only from
someone allowed to run that verb; the operator acts on each value once and
records it in `status.commands`, so a request left on the object never acts
twice, and one written for another revision acts on nothing.

No request lets an unverified revision serve: `promote` only skips the steps
of a revision already verified and signed off, and `retry` verifies again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from deploymentgate.core.actions import Reason
from deploymentgate.core.phases import end_watch, enter_promoting, enter_step, start_rollout
from deploymentgate.core.run import Run
from deploymentgate.core.verification import failing_now, roll_back
from deploymentgate.models import API_GROUP, Phase, Trigger


class Verb(StrEnum):
    """Annotation key suffix and status.commands field of each request."""

    ABORT = "abort"
    RETRY = "retry"
    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"

    @property
    def annotation(self) -> str:
        return f"{API_GROUP}/{self.value}"

    @property
    def field(self) -> str:
        """The CommandsHandled attribute recording the last value acted on."""
        return self.value.replace("-", "_")

    @property
    def status_key(self) -> str:
        """Its key in status.commands as stored (camelCase)."""
        head, *rest = self.field.split("_")
        return head + "".join(part.title() for part in rest)

    @property
    def subresource(self) -> str:
        """The RBAC subresource a person needs (`update deploymentgates/<this>`)."""
        return "promote" if self is Verb.PROMOTE_FULL else self.value


ANNOTATIONS = {verb.annotation: verb for verb in Verb}
VALUE_MAX = 100
# <16-hex revision>/<token>: the token only tells one request from the next.
VALUE_PATTERN = r"^[0-9a-f]{16}/[A-Za-z0-9._:-]{1,64}$"
_VALUE = re.compile(VALUE_PATTERN)
ACTIVE = (Phase.VERIFYING, Phase.AWAITING_APPROVAL, Phase.PROGRESSING, Phase.PROMOTING)


@dataclass(frozen=True)
class Command:
    verb: Verb
    value: str  # as written, recorded in status.commands once acted on

    @property
    def revision(self) -> str:
        return self.value.split("/", 1)[0]


def commands_of(annotations: Mapping[str, object] | None) -> dict[str, str]:
    """The request annotations of a gate, raw (bounded; the rest is ignored)."""
    out: dict[str, str] = {}
    for key, value in (annotations or {}).items():
        if key in ANNOTATIONS and isinstance(value, str):
            out[key] = value[: VALUE_MAX + 1]
    return out


def apply_commands(run: Run) -> None:
    """Act on each request not acted on yet, in a fixed order (abort first)."""
    handled = run.status.commands
    for verb in Verb:
        value = run.obs.commands.get(verb.annotation)
        if value is None or value == getattr(handled, verb.field):
            continue
        handled = handled.model_copy(update={verb.field: value[:VALUE_MAX]})
        run.set(commands=handled)
        if len(value) > VALUE_MAX or not _VALUE.match(value):
            _ignored(run, verb, f"value {value[:VALUE_MAX]!r} is not <revision>/<token>")
            continue
        _ACT[verb](run, Command(verb, value))
        handled = run.status.commands


def _ignored(run: Run, verb: Verb, why: str) -> None:
    run.event(Reason.COMMAND_IGNORED, f"{verb.value} request ignored: {why}", warning=True)


def _other_revision(run: Run, command: Command) -> bool:
    st = run.status
    if command.revision == st.revision and (st.revision != st.stable_revision or run.watching()):
        return False
    where = f"revision {st.revision} under test" if st.revision else "no revision under test"
    if st.revision is not None and st.revision == st.stable_revision:
        where = f"revision {st.revision} already stable"
    _ignored(run, command.verb, f"it names revision {command.revision}; the gate has {where}")
    return True


def _abort(run: Run, command: Command) -> None:
    """Roll the revision under test back now, wherever it is."""
    st = run.status
    if _other_revision(run, command):
        return
    # In progress, frozen, or promoted and still watched (the abort is a revert).
    in_progress = st.phase in ACTIVE or (st.phase is Phase.BLOCKED and st.frozen)
    if not in_progress and not run.watching():
        _ignored(run, command.verb, f"revision {st.revision} is {st.phase}, not in progress")
        return
    roll_back(run, "aborted on request (kubectl gate abort)", Trigger.ABORTED, Reason.ABORTED)


def _retry(run: Run, command: Command) -> None:
    """Verify a rejected revision again, from the start, at 0% traffic."""
    st, t = run.status, run.obs.target
    if _other_revision(run, command):
        return
    if st.phase not in (Phase.ROLLED_BACK, Phase.BLOCKED) or st.resume_phase is not None:
        _ignored(run, command.verb, f"revision {st.revision} is {st.phase}, not rejected")
        return
    if t.revision != st.revision:
        _ignored(
            run,
            command.verb,
            f"Deployment {run.gate_spec.target_ref.name} no longer has revision {st.revision}"
            f" (it has {t.revision}); there is no template to verify",
        )
        return
    run.event(Reason.RETRIED, f"retrying revision {st.revision} on request (kubectl gate retry)")
    start_rollout(run, command.revision, retried=True)


def _promote(run: Run, command: Command) -> None:
    """Skip the rest of the current step (`promote-full`: every remaining step)."""
    st = run.status
    if _other_revision(run, command):
        return
    if st.phase is Phase.PROMOTED and run.watching():
        run.event(
            Reason.PROMOTE_REQUESTED,
            f"revision {st.revision}: ending its watch after promotion on request"
            " (kubectl gate promote)",
        )
        end_watch(run, "ended on request (kubectl gate promote)")
        return
    if st.phase is not Phase.PROGRESSING:
        why = {
            Phase.VERIFYING: "it is not verified yet (promote never skips verification)",
            Phase.AWAITING_APPROVAL: "it waits for sign-offs (promote never replaces one)",
            Phase.PROMOTING: "it is being promoted already",
        }.get(st.phase or Phase.INITIALIZING, f"it is {st.phase}, not progressing")
        _ignored(run, command.verb, f"revision {st.revision}: {why}")
        return
    failing = failing_now(run)
    if failing:
        _ignored(run, command.verb, f"revision {st.revision}: {'; '.join(failing)}")
        return
    steps = run.gate_spec.traffic.steps
    index = min(st.step or 0, len(steps) - 1)
    full = command.verb is Verb.PROMOTE_FULL or index + 1 >= len(steps)
    what = "every remaining step" if full else f"the rest of step {index + 1}/{len(steps)}"
    run.event(
        Reason.PROMOTE_REQUESTED,
        f"revision {st.revision}: skipping {what} on request (kubectl gate promote)",
    )
    if full:
        enter_promoting(run, Reason.PROMOTE_REQUESTED)
    else:
        enter_step(run, index + 1, Reason.PROMOTE_REQUESTED)


_ACT = {
    Verb.ABORT: _abort,
    Verb.RETRY: _retry,
    Verb.PROMOTE: _promote,
    Verb.PROMOTE_FULL: _promote,
}
