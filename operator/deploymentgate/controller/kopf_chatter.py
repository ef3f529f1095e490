"""kopf's per-object success lines, left out of the operator's log.

kopf says "Daemon 'gate_loop' succeeded." for every gate when the operator
stops (10,000 lines for 10,000 gates at each restart) and "Handler
'gate_deleted' succeeded." after each deletion. Our own transition log
already says what happened to each gate; failures of kopf's stay in.
"""

from __future__ import annotations

import logging
import re

_SUCCEEDED = re.compile(r"(?:Daemon|Handler|Timer) '[^']*' succeeded\.")


class KopfSuccessFilter(logging.Filter):
    """A handler filter dropping kopf's routine per-object success lines."""

    def __init__(self) -> None:
        super().__init__("kopf-successes")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "kopf.objects" or record.levelno != logging.INFO:
            return True
        return _SUCCEEDED.fullmatch(record.getMessage()) is None
