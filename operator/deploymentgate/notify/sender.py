"""Posting notifications in the background, so that a slow or dead webhook
never slows a reconcile pass.

`submit` only puts work on a bounded queue and returns; a few worker tasks
post it. Each request is bounded by its own timeout, failures are retried
with exponential backoff a bounded number of times, and what cannot be
delivered is given up with one log line and a metric. A full queue (a
webhook down while many gates change) drops the newest message, counted the
same way: losing a message beats holding the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from deploymentgate.models import WebhookType
from deploymentgate.notify.payloads import Transition, json_payload, slack_payload
from deploymentgate.notify.targets import SecretRef, WebhookTarget, check_url

log = logging.getLogger("deploymentgate.notify")

SecretLookup = Callable[[SecretRef], Awaitable[str]]
"""Reads a Secret's key; an exception with `permanent = True` is not retried."""
ResultHook = Callable[[str, str], None]
"""Called with (webhook type, result): sent, failed or dropped."""

RETRYABLE_STATUS = frozenset({408, 425, 429})  # and every 5xx
SENT, FAILED, DROPPED = "sent", "failed", "dropped"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    """Tries per message, the first included."""
    timeout: float = 5.0
    """Seconds one request may take in all (connect, send, answer)."""
    backoff: float = 1.0
    """Wait before the second try; doubled for each further one."""
    max_backoff: float = 30.0
    """Longest wait between tries (also caps a Retry-After)."""

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        if retry_after is not None:
            return min(self.max_backoff, max(0.0, retry_after))
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1))

    def worst_case(self) -> float:
        """Longest one message can occupy a worker."""
        waits = sum(self.wait(n) for n in range(1, self.attempts))
        return self.attempts * self.timeout + waits


PAYLOADS: dict[WebhookType, Callable[[Transition], dict[str, Any]]] = {
    WebhookType.SLACK: slack_payload,
    WebhookType.JSON: json_payload,
}


@dataclass(frozen=True)
class _Delivery:
    target: WebhookTarget
    transition: Transition


class _GiveUp(Exception):
    """A failure that another try will not fix (a 4xx, a forbidden Secret)."""


class _Retry(Exception):
    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class WebhookSender:
    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        queue_size: int = 256,
        workers: int = 4,
        lookup: SecretLookup | None = None,
        on_result: ResultHook | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.lookup = lookup
        self.on_result = on_result
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue(maxsize=queue_size)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._own_client = client is None

    # ---- the caller's side: never waits -------------------------------------

    def submit(self, transition: Transition, targets: Sequence[WebhookTarget]) -> int:
        """Queue one message per target; returns how many were queued. Never blocks."""
        self._start()
        queued = 0
        for target in targets:
            try:
                self._queue.put_nowait(_Delivery(target, transition))
                queued += 1
            except asyncio.QueueFull:
                log.warning(
                    "notification of %s %s to %s dropped: %d messages already waiting",
                    transition.key,
                    transition.phase.value,
                    target.label,
                    self._queue.qsize(),
                )
                self._report(target, DROPPED)
        return queued

    def _start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.get_running_loop().create_task(self._work(), name=f"notify-{n}")
            for n in range(self._workers)
        ]

    async def join(self) -> None:
        """Wait until every queued message is sent or given up (tests, shutdown)."""
        await self._queue.join()

    async def aclose(self, grace: float = 2.0) -> None:
        """Let queued messages go out for up to `grace` seconds, then stop."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._own_client:
            await self._client.aclose()

    # ---- the workers ----------------------------------------------------------

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver(delivery)
            except Exception:  # a bug here must not stop notifications for good
                log.exception("notification to %s failed unexpectedly", delivery.target.label)
                self._report(delivery.target, FAILED)
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: _Delivery) -> None:
        target, transition = delivery.target, delivery.transition
        payload = PAYLOADS[target.type](transition)
        what = f"notification of {transition.key} {transition.phase.value} to {target.label}"
        why = ""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                await self._post(target, payload)
            except _GiveUp as exc:
                log.warning("%s given up: %s (not retried)", what, exc)
                self._report(target, FAILED)
                return
            except _Retry as exc:
                why = str(exc)
                if attempt < self.policy.attempts:
                    wait = self.policy.wait(attempt, exc.retry_after)
                    log.debug("%s: try %d failed (%s); next in %.1fs", what, attempt, why, wait)
                    await asyncio.sleep(wait)
                continue
            log.debug("%s sent (try %d)", what, attempt)
            self._report(target, SENT)
            return
        log.warning("%s given up after %d tries: %s", what, self.policy.attempts, why)
        self._report(target, FAILED)

    async def _post(self, target: WebhookTarget, payload: dict[str, Any]) -> None:
        url = await self._url(target)
        try:
            async with asyncio.timeout(self.policy.timeout):
                response = await self._client.post(url, json=payload)
        except TimeoutError:
            raise _Retry(f"no answer within {self.policy.timeout:g}s") from None
        except httpx.HTTPError as exc:  # never str(exc): it may carry the URL
            raise _Retry(type(exc).__name__) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status >= 500 or status in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {status}", _retry_after(response))
        raise _GiveUp(f"HTTP {status}")

    async def _url(self, target: WebhookTarget) -> str:
        if target.url is not None:
            return target.url
        if target.secret is None or self.lookup is None:
            raise _GiveUp("no way to read the webhook's Secret")
        try:
            value = await self.lookup(target.secret)
        except Exception as exc:
            if getattr(exc, "permanent", False):
                raise _GiveUp(f"{target.secret}: {exc}") from None
            raise _Retry(f"{target.secret}: {exc}") from None
        try:
            return check_url(value, str(target.secret))
        except ValueError as exc:
            raise _GiveUp(str(exc)) from None

    def _report(self, target: WebhookTarget, result: str) -> None:
        if self.on_result is not None:
            self.on_result(target.type.value, result)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return float(value)
    except ValueError:
        return None
