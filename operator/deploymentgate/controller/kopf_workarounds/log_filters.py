"""Two filters on the operator's log handlers that keep kopf's routine lines out.

Both match the text of kopf's own log lines (kopf 1.45), so
tests/controller/test_controller_kopf_internals.py checks that kopf still writes them.

`KopfRetryFilter`: while the API server is gone, kopf's watches say so with a
line per failed request attempt ("Request attempt #2/9 failed; will retry:
GET <url> -> <repr>", a dozen streams, each retrying every few seconds). The
filter leaves those lines out, counts them, and takes them as news of an
outage for `ApiHealth`, which says it once (controller/apihealth.py).

`KopfSuccessFilter`: kopf says "Daemon 'gate_loop' succeeded." for every gate
when the operator stops (10,000 lines for 10,000 gates at each restart) and
"Handler 'gate_deleted' succeeded." after each deletion. Our own transition
log already says what happened to each gate; failures of kopf's stay in.
"""

from __future__ import annotations

import asyncio
import logging
import re

from deploymentgate.controller.apihealth import NO_ANSWER_NAMES, ApiHealth

# kopf's line per failed attempt (kopf._cogs.clients.api.request):
# "Request attempt #2/9 failed; will retry: GET <url> -> <repr>".
KOPF_RETRY = re.compile(r"Request attempt #\S+ failed; (?:will retry|escalating): .* -> (\w+)\(")
# kopf's line per handler that finished (kopf._core.actions.execution), logged
# on "kopf.objects" as f"{handler} succeeded." with the handler's __str__.
KOPF_SUCCEEDED = re.compile(r"(?:Daemon|Handler|Timer) '[^']*' succeeded\.")
KOPF_OBJECTS_LOGGER = "kopf.objects"


class KopfRetryFilter(logging.Filter):
    """A handler filter: kopf's lines about request attempts that got no answer,
    or an error from an API server still starting, are left out (`health` says
    it once, and counts them)."""

    def __init__(self, health: ApiHealth) -> None:
        super().__init__("kopf-retries")
        self.health = health

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf") or record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        found = KOPF_RETRY.search(message)
        if found is None:
            return True
        if found.group(1) in NO_ANSWER_NAMES:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # not on the operator's loop: nothing to start from here
                return True
            self.health.unreachable(None, f"kopf: {found.group(1)}")
        elif not self.health.starting(None):
            return True
        self.health.kopf_lines_left_out += 1
        return False


class KopfSuccessFilter(logging.Filter):
    """A handler filter dropping kopf's routine per-object success lines."""

    def __init__(self) -> None:
        super().__init__("kopf-successes")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != KOPF_OBJECTS_LOGGER or record.levelno != logging.INFO:
            return True
        return KOPF_SUCCEEDED.fullmatch(record.getMessage()) is None
