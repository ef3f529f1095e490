"""While the API server is unreachable: each gate backs off (2 s doubling to a
minute), the operator says so in one line rather than a traceback per gate and
pass, kopf's per-attempt retry lines are left out, and every waiting gate is
woken the moment the API server is ready again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from deploymentgate.controller import attempts, signoffs
from deploymentgate.controller.apihealth import STARTING_GRACE, ApiHealth, unreachable_error
from deploymentgate.controller.backoff import CAP, FIRST, Backoff, base_delay
from deploymentgate.controller.context import OperatorContext
from deploymentgate.controller.kopf_workarounds import KopfRetryFilter
from deploymentgate.k8s.api import ApiError
from deploymentgate.manifests.approval_policy import binding, policy

pytestmark = pytest.mark.timeout(30)


def refused() -> aiohttp.ClientConnectorError:
    key = cast(Any, type("Key", (), {"ssl": None, "host": "127.0.0.1", "port": 6443})())
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


# -- the backoff of one gate --------------------------------------------------


def test_delays_double_from_two_seconds_to_a_minute_and_reset_after_a_pass() -> None:
    backoff = Backoff()
    delays = [backoff.failed("ClientConnectorError", now=float(i)).delay for i in range(8)]
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60]
    assert FIRST == 2 and CAP >= 30
    recovery = backoff.succeeded(now=100.0)
    assert recovery is not None and (recovery.failures, recovery.seconds) == (8, 100.0)
    assert backoff.failed("ClientConnectorError", now=101.0).delay == 2
    assert Backoff().succeeded(now=1.0) is None  # nothing failed: nothing to report


def test_jitter_only_shortens_a_delay_by_at_most_a_fifth() -> None:
    for draw in (0.0, 0.5, 1.0):
        delay = Backoff().failed("X", now=0.0, draw=draw).delay
        assert 1.6 <= delay <= 2.0
    assert base_delay(0) == 0 and base_delay(10_000) == CAP


def test_a_streak_is_logged_when_it_starts_changes_kind_and_reaches_the_cap() -> None:
    backoff = Backoff()
    logged = [backoff.failed("Refused", now=float(i)).log for i in range(10)]
    # first failure, then the delay reaching 60 s (the 6th), then nothing however long
    assert logged == [True, False, False, False, False, True, False, False, False, False]
    assert backoff.failed("Forbidden", now=11.0).log  # a new kind of error is news
    assert not backoff.failed("Forbidden", now=12.0).log
    recovery = backoff.succeeded(now=20.0)
    assert recovery is not None and recovery.logged


def test_a_one_minute_outage_costs_a_gate_at_most_one_line_per_backoff_step() -> None:
    backoff, now, attempts, lines = Backoff(), 0.0, 0, 0
    while now < 60.0:
        retry = backoff.failed("ClientConnectorError", now=now, draw=1.0)  # shortest delays
        attempts += 1
        lines += retry.log
        now += retry.delay
    assert attempts <= 6 and lines <= 2


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(first=0)
    with pytest.raises(ValueError):
        Backoff(first=10, cap=5)


# -- what counts as "no answer" -----------------------------------------------


def test_no_answer_is_a_connection_failure_or_timeout_not_an_error_status() -> None:
    assert unreachable_error(refused())
    assert unreachable_error(aiohttp.ServerDisconnectedError())
    assert unreachable_error(TimeoutError())
    assert not unreachable_error(ApiError(500, "etcdserver: request timed out"))
    assert not unreachable_error(ValueError("a bug"))
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert unreachable_error(wrapped)


# -- the operator-wide view ---------------------------------------------------


async def test_one_line_for_an_outage_and_every_waiting_gate_woken_when_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = [refused(), ApiError(500, "[-]poststarthook/rbac/bootstrap-roles failed"), None]
    woken: list[tuple[str, str]] = []

    async def ready() -> None:
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    health = ApiHealth(ready, lambda ns, name: woken.append((ns, name)), poll_first=0.01)
    caplog.set_level(logging.DEBUG, logger="deploymentgate.controller.apihealth")
    for gate in [("shop", "a"), ("shop", "b"), ("shop", "a")]:
        health.unreachable(gate, refused())
    assert not health.reachable
    for _ in range(200):
        if health.reachable:
            break
        await asyncio.sleep(0.01)
    assert health.reachable and answers == []  # ready only once /readyz said so
    assert woken == [("shop", "a"), ("shop", "b")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "API server unreachable (ClientConnectorError" in warnings[0]
    assert "answers again" in warnings[1] and "2 gates resume" in warnings[1]
    await health.aclose()


async def test_a_pass_that_gets_through_ends_the_outage_at_once() -> None:
    async def never() -> None:
        raise refused()

    woken: list[tuple[str, str]] = []
    health = ApiHealth(never, lambda ns, name: woken.append((ns, name)), poll_first=60)
    health.unreachable(("shop", "a"), refused())
    health.answered()
    assert health.reachable and woken == [("shop", "a")] and health.outages == 1
    health.answered()  # no outage: nothing happens
    assert health.outages == 1
    await health.aclose()


async def test_kopf_retry_lines_are_left_out_while_the_api_server_is_gone_or_starting() -> None:
    async def never() -> None:
        raise refused()

    now = [0.0]
    health = ApiHealth(never, lambda ns, name: None, poll_first=60, clock=lambda: now[0])
    quiet = KopfRetryFilter(health)

    def record(name: str, message: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    url = "GET https://127.0.0.1:6443/api/v1/namespaces/shop/pods?watch=true"
    answered = record(
        "kopf._cogs.clients.watching",
        f"Request attempt #1/9 failed; will retry: {url} -> APIForbiddenError('forbidden', {{}})",
    )
    assert quiet.filter(answered)  # no outage: the API server's error is worth reading
    no_answer = record(
        "kopf._cogs.clients.watching",
        f"Request attempt #2/9 failed; will retry: {url} -> ClientConnectorError(ConnectionKey())",
    )
    assert not quiet.filter(no_answer)
    assert not health.reachable and health.kopf_lines_left_out == 1
    escalated = record(
        "kopf.objects", f"Request attempt #9/9 failed; escalating: {url} -> TimeoutError()"
    )
    assert not quiet.filter(escalated)
    now[0] = 60.0
    assert not quiet.filter(answered)  # the API server starting: 403 until RBAC is loaded
    now[0] = 60.0 + STARTING_GRACE + 1
    assert quiet.filter(answered)  # answering, never ready: its errors are worth reading
    assert quiet.filter(record("deploymentgate.gates", "shop/a: Progressing"))
    assert quiet.filter(record("kopf.objects", "Handler 'gate_loop' failed", logging.ERROR))
    assert health.kopf_lines_left_out == 3
    health.answered()
    assert quiet.filter(answered)
    await health.aclose()


# -- a gate's loop, on failure and recovery -------------------------------------


@pytest.fixture
async def ctx() -> AsyncIterator[OperatorContext]:
    """The handlers' shared state, without an API server behind it."""
    made = OperatorContext(options=cast(Any, None), metrics=cast(Any, None), api=cast(Any, None))
    yield made
    await made.api_health.aclose()


async def test_a_gate_without_answers_logs_nothing_of_its_own(
    caplog: pytest.LogCaptureFixture, ctx: OperatorContext
) -> None:
    backoff = Backoff()
    caplog.set_level(logging.INFO)
    delays = [attempts.failed(ctx, backoff, "reconcile", "shop", "a", refused()) for _ in range(6)]
    # The longest wait from the start: the readiness check, not this timer, wakes it.
    assert all(0.8 * CAP <= delay <= CAP for delay in delays), delays

    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name.startswith("deploymentgate")]

    assert lines() == []  # not yet: a blip says nothing
    for _ in range(40):  # the operator-wide line, once the first readiness check fails
        if lines():
            break
        await asyncio.sleep(0.1)
    assert [r.name for r in lines()] == ["deploymentgate.controller.apihealth"]
    assert not any(r.exc_info for r in lines())
    attempts.passed(ctx, backoff, "reconcile", "shop", "a")
    assert ctx.api_health.reachable and not backoff.failing


async def test_a_gate_whose_calls_are_refused_logs_the_streak_once_and_its_end(
    caplog: pytest.LogCaptureFixture, ctx: OperatorContext
) -> None:
    backoff = Backoff()
    caplog.set_level(logging.INFO, logger="deploymentgate.controller.handlers")
    forbidden = ApiError(403, "deployments.apps is forbidden")
    for _ in range(4):
        attempts.failed(ctx, backoff, "reconcile", "shop", "a", forbidden)
    attempts.passed(ctx, backoff, "reconcile", "shop", "a")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "reconcile of shop/a failed (1 in a row): ApiError: 403" in messages[0]
    assert "next attempt in 2s" in messages[0] or "next attempt in 1s" in messages[0]
    assert "succeeded again after 4 failed attempts" in messages[1]
    assert not any(r.exc_info for r in caplog.records)  # an answer needs no traceback


async def test_a_bug_keeps_its_traceback_once_per_streak(
    caplog: pytest.LogCaptureFixture, ctx: OperatorContext
) -> None:
    backoff = Backoff()
    caplog.set_level(logging.INFO, logger="deploymentgate.controller.handlers")
    for _ in range(3):
        try:
            raise KeyError("spec")
        except KeyError as exc:
            attempts.failed(ctx, backoff, "reconcile", "shop", "a", exc)
    assert [bool(r.exc_info) for r in caplog.records] == [True]


async def test_a_gate_that_only_waited_for_the_api_server_says_nothing_when_it_resumes(
    caplog: pytest.LogCaptureFixture, ctx: OperatorContext
) -> None:
    backoff = Backoff()
    caplog.set_level(logging.INFO, logger="deploymentgate.controller.handlers")
    for _ in range(5):
        attempts.failed(ctx, backoff, "reconcile", "shop", "a", refused())
    attempts.passed(ctx, backoff, "reconcile", "shop", "a")
    assert [r for r in caplog.records if r.name == attempts.log.name] == []
    # Over before the first readiness check: a blip, so not even the operator-wide pair.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_request_that_timed_out_on_a_busy_api_server_is_a_blip_not_an_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    woken: list[tuple[str, str]] = []

    async def ready() -> None:
        return None

    health = ApiHealth(ready, lambda ns, name: woken.append((ns, name)), poll_first=0.01)
    caplog.set_level(logging.DEBUG, logger="deploymentgate.controller.apihealth")
    health.unreachable(("shop", "a"), TimeoutError())
    for _ in range(200):
        if health.reachable:
            break
        await asyncio.sleep(0.01)
    assert health.reachable and woken == [("shop", "a")]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("blip (TimeoutError)" in r.getMessage() for r in caplog.records)
    await health.aclose()


# -- the sign-off policy, read while a restarted API server loads its RBAC ------


class Objects:
    """get_cluster_custom_object as the API server answers it: the shipped policy
    and binding, or an ApiException with `refuse`'s status."""

    def __init__(self) -> None:
        self.refuse: int | None = None

    async def get_cluster_custom_object(
        self, group: str, version: str, plural: str, name: str
    ) -> dict[str, Any]:
        if self.refuse is not None:
            raise ApiException(status=self.refuse, reason="Forbidden")
        return policy() if plural == "validatingadmissionpolicies" else binding()


@pytest.fixture
async def reader() -> AsyncIterator[tuple[signoffs.PolicyReader, Objects]]:
    """A PolicyReader whose reads go to `Objects` (a fresh client only for its construction)."""
    client = kclient.ApiClient()
    try:
        made = signoffs.PolicyReader(cast(Any, SimpleNamespace(api_client=client)))
        objects = Objects()
        made.objects = cast(Any, objects)
        yield made, objects
    finally:
        await client.close()


async def test_a_refused_policy_read_keeps_the_last_good_reading_for_a_while(
    reader: tuple[signoffs.PolicyReader, Objects], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_reader, objects = reader
    monkeypatch.setattr(signoffs, "POLICY_TTL", 0.0)
    assert (await policy_reader.state()).installed
    objects.refuse = 403  # RBAC caches not loaded yet: the policy did not change
    assert (await policy_reader.state()).installed
    monkeypatch.setattr(signoffs, "KEEP_GOOD", 0.0)  # refused for longer than that
    refused = await policy_reader.state()
    assert not refused.installed and "403" in refused.problem


async def test_without_a_good_reading_a_refused_read_says_why(
    reader: tuple[signoffs.PolicyReader, Objects],
) -> None:
    policy_reader, objects = reader
    objects.refuse = 403
    state = await policy_reader.state()
    assert not state.installed and "cannot read the admission policy" in state.problem


async def test_errors_of_an_api_server_still_starting_are_the_outage_s(
    caplog: pytest.LogCaptureFixture, ctx: OperatorContext
) -> None:
    backoff = Backoff()
    caplog.set_level(logging.INFO, logger="deploymentgate.controller.handlers")
    attempts.failed(ctx, backoff, "reconcile", "shop", "a", refused())
    forbidden = ApiError(403, "deployments.apps is forbidden")  # RBAC caches not loaded yet
    attempts.failed(ctx, backoff, "reconcile", "shop", "a", forbidden)
    attempts.passed(ctx, backoff, "reconcile", "shop", "a")
    assert [r for r in caplog.records if r.name == attempts.log.name] == []
