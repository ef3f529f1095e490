"""Opening a WebSocket to an untrusted target, and naming what went wrong.

`websockets` defaults suit a long-lived client; a probe wants the opposite:
no proxy from the environment, no compression (no inflation bombs), small
message and queue limits, no keepalive pings, short close handshakes.
"""

from __future__ import annotations

import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    WebSocketException,
)

from deploymentgate.probes.http_client import USER_AGENT, install_log_redaction
from deploymentgate.probes.limits import MAX_WS_MESSAGE_BYTES
from deploymentgate.probes.urls import redact, same_origin

CLOSE_TOO_BIG = 1009


class OffOriginRedirect(InvalidHandshake):
    """The upgrade answer redirected to another scheme, host or port."""


class _ProbeConnection(ClientConnection):
    """Hangs up as soon as the handshake answer is known to be bad.

    `websockets` would otherwise keep reading (and discarding) whatever the
    server sends until it closes, e.g. the rest of an endless body.
    """

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.protocol.handshake_exc is not None:
            self.transport.abort()


class _ProbeConnect(connect):
    """`connect` that follows same-origin redirects only."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        target = super().process_redirect(exc)
        if isinstance(target, str) and not same_origin(self.uri, target):
            return OffOriginRedirect(f"redirected to {redact(target)}, another origin")
        return target


def open_websocket(url: str, *, open_timeout: float, max_queue: int = 16) -> connect:
    """An un-awaited `connect`: use as ``async with open_websocket(...) as ws``."""
    install_log_redaction()
    return _ProbeConnect(
        url,
        open_timeout=open_timeout,
        proxy=None,
        compression=None,
        max_size=MAX_WS_MESSAGE_BYTES,
        max_queue=max_queue,
        ping_interval=None,
        close_timeout=1.0,
        user_agent_header=USER_AGENT,
        create_connection=_ProbeConnection,
    )


def describe_connect_error(exc: BaseException) -> str:
    """Why the WebSocket could not be opened, in one credential-free line."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS handshake failed: certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, OffOriginRedirect):
        return f"WebSocket upgrade {exc}; probes only follow same-host redirects"
    if isinstance(exc, InvalidStatus):
        return f"WebSocket upgrade refused: HTTP {exc.response.status_code}"
    if isinstance(exc, InvalidMessage):
        cause = exc.__cause__
        why = f" ({redact(str(cause))})" if cause is not None and str(cause) else ""
        return f"not a WebSocket server: invalid handshake answer{why}"
    if isinstance(exc, InvalidHandshake):
        return f"WebSocket handshake failed: {redact(str(exc))}"
    if isinstance(exc, InvalidURI):
        return "invalid WebSocket URL"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listening)"
    if isinstance(exc, TimeoutError):
        return "WebSocket handshake timed out (server silent or too slow)"
    if isinstance(exc, OSError):
        return f"cannot connect: {redact(exc.strerror or str(exc))}"
    return f"{type(exc).__name__}: {redact(str(exc))}"


CONNECT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, WebSocketException)


def describe_close(exc: ConnectionClosed | None, ws: ClientConnection) -> str:
    """How the connection ended: the close code and reason, or 'without a close frame'."""
    if exc is not None and exc.sent is not None and exc.sent.code == CLOSE_TOO_BIG:
        return f"a message exceeded the {MAX_WS_MESSAGE_BYTES // 1024} KiB limit"
    if exc is not None and isinstance(exc.__cause__, PayloadTooBig):
        return f"a message exceeded the {MAX_WS_MESSAGE_BYTES // 1024} KiB limit"
    code, reason = ws.close_code, ws.close_reason
    if code is None or code == 1006:
        return "closed without a close frame (code 1006)"
    return f"closed by the server (code {code}" + (f": {redact(reason)})" if reason else ")")
