"""Bounds every probe obeys, so a broken or hostile target costs little.

A probe talks to code that is, by definition, not yet trusted: each read is
capped in bytes and count, and each run in time.
"""

from __future__ import annotations

# HTTP: bytes of a response body read before the probe stops listening.
MAX_BODY_BYTES = 64 * 1024
# Redirect hops followed, and only to the same scheme, host and port.
MAX_REDIRECTS = 3
# Added to a probe's configured timeout for its hard overall deadline, so the
# probe's own, more specific timeout message wins when both would fire.
DEADLINE_SLACK_SECONDS = 1.0
# Bound on the startup probe's polls, whatever the configured interval.
MIN_POLL_INTERVAL_SECONDS = 0.05

# WebSocket: bytes in one message (after any decompression) and messages read
# in one probe run before the probe gives up on the target.
MAX_WS_MESSAGE_BYTES = 64 * 1024
MAX_WS_MESSAGES = 1000
# Time allowed for the one reconnect attempted after a dropped connection.
RECONNECT_TIMEOUT_SECONDS = 5.0

# Error rate: outcomes an ErrorRateWindow keeps at most.
MAX_WINDOW_OUTCOMES = 100_000
# Prometheus answers are small JSON documents.
MAX_PROMETHEUS_BYTES = 1024 * 1024
