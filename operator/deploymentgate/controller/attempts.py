"""After each attempt of a gate's pass (its loop's, or the hand-back's on
deletion): how long until the next one, and which failures are worth a line.

The backoff (controller/backoff.py) decides; this says it in the log, on the
gate (a name conflict), and to `memo.api_health` (an API server that did not
answer is the whole operator's news, said once)."""

from __future__ import annotations

import asyncio
import logging
import random

import kopf

from deploymentgate.controller.apihealth import describe, unreachable_error
from deploymentgate.controller.backoff import Backoff, outage_wait
from deploymentgate.controller.context import OperatorContext
from deploymentgate.core.actions import Reason
from deploymentgate.k8s.api import ApiError, NotOwned

# The name these lines have carried since the handlers were one module: log
# queries and filters may select on it (--log-format json has it as "logger").
log = logging.getLogger("deploymentgate.controller.handlers")


def failed(
    memo: OperatorContext,
    backoff: Backoff,
    what: str,
    ns: str,
    name: str,
    exc: Exception,
    body: kopf.Body | None = None,
) -> float:
    """Seconds until the gate's next attempt, after a failed one; logged only
    when the backoff says it is news (a streak's first failure, a new kind of
    error, the longest delay reached). No answer from the API server, or an
    error from one still starting, is the whole operator's news, said once by
    memo.api_health, which also wakes the gate when it is over: until then the
    gate waits the longest delay."""
    health = memo.api_health
    no_answer = unreachable_error(exc)
    if no_answer:
        health.unreachable((ns, name), exc)
    outage = no_answer or health.starting((ns, name))
    now = asyncio.get_running_loop().time()
    retry = backoff.failed(type(exc).__name__, now, random.random(), quiet=outage)
    if outage:  # memo.api_health wakes the gate once the API server is ready again
        log.debug("%s of %s/%s during an API outage: %s", what, ns, name, describe(exc))
        return outage_wait(random.random(), backoff.cap, backoff.jitter)
    if retry.log:
        again = "every" if retry.capped else "in"
        message = "%s of %s/%s failed (%d in a row): %s; next attempt %s %.0fs"
        args = (what, ns, name, retry.failures, describe(exc), again, retry.delay)
        if isinstance(exc, (ApiError, NotOwned)):  # the API server's answer says it all
            log.error(message, *args)
            if isinstance(exc, NotOwned) and body is not None:
                # A name taken by someone else that no index shows (say an
                # unlabelled Job at the smoke test's name): told on the gate too.
                kopf.warn(
                    body,
                    reason=Reason.NAME_CONFLICT.value,
                    message=f"name conflict: {exc}; next attempt in {retry.delay:.0f}s",
                )
        else:  # a bug: its traceback, once per streak and kind
            log.exception(message, *args)
    return retry.delay


def passed(memo: OperatorContext, backoff: Backoff, what: str, ns: str, name: str) -> None:
    """A successful attempt ends any API outage and the gate's streak of
    failures; the streak's end is logged if its start was."""
    memo.api_health.answered()
    recovery = backoff.succeeded(asyncio.get_running_loop().time())
    if recovery is not None and recovery.logged:
        log.info(
            "%s of %s/%s succeeded again after %d failed attempts over %.0fs",
            what,
            ns,
            name,
            recovery.failures,
            recovery.seconds,
        )
