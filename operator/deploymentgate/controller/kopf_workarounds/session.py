"""kopf's HTTP session with a bounded connection pool.

kopf's own session has no limit (`limit=0`): when 10,000 gates are first
seen, kopf patches each (its finalizer) at once, each over a new TLS
connection. Measured: the event loop spent over half its time in TLS
handshakes, the operator reached 4.1 GB in under two minutes, and the API
server answered with timeouts. With a bound, requests queue for a connection
instead. The bound must leave room for every long-lived watch stream (one per
watched resource, per namespace when namespaces are listed), or the watches
would take every connection and starve the requests.

`bounded` builds the session as kopf builds its own (kopf 1.45,
kopf._cogs.clients.auth.APIContext), with a limit: the internals test checks
that kopf still passes the same arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import aiohttp
import kopf

# Resources kopf watches per namespace: gates, Deployments, Services, pods,
# sign-offs, Jobs, plus kopf's own (CRDs, namespaces, peering), with room.
WATCH_STREAMS = 10
REQUESTS = 64  # connections for everything but the watch streams


def connection_limit(namespaces: Sequence[str]) -> int | None:
    """The pool size for these watched namespaces; None (no bound) when a
    pattern makes their number unknown in advance."""
    if any(ch in ns for ns in namespaces for ch in "*?[!"):
        return None
    return WATCH_STREAMS * max(1, len(namespaces)) + REQUESTS


def bounded(
    info: kopf.ConnectionInfo, limit: int | None
) -> kopf.ConnectionInfo | kopf.AiohttpSession:
    """`info` as kopf would use it, with at most `limit` connections (None: as is).

    Must run on the operator's event loop (the session belongs to it)."""
    if limit is None:
        return info
    with warnings.catch_warnings():  # as kopf does: its own deprecation notice only
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="kopf")
        auth = info.as_aiohttp_basic_auth()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        auth=auth,
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=info.server,
        priority=info.priority,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        aiohttp_session=session,
    )
