"""kopf's session over a bounded pool: room for every watch stream plus requests."""

from __future__ import annotations

import kopf

from deploymentgate.controller.kopf_workarounds.session import (
    REQUESTS,
    WATCH_STREAMS,
    bounded,
    connection_limit,
)


def test_the_pool_grows_with_the_listed_namespaces_and_patterns_leave_it_unbounded() -> None:
    assert connection_limit(()) == WATCH_STREAMS + REQUESTS  # cluster-wide: one stream each
    assert connection_limit(("a", "b", "c")) == 3 * WATCH_STREAMS + REQUESTS
    assert connection_limit(("team-*",)) is None  # how many match is not known


async def test_the_bounded_session_keeps_the_credentials_and_caps_connections() -> None:
    info = kopf.ConnectionInfo(
        server="https://127.0.0.1:6443", token="t0k3n", default_namespace="prod", insecure=True
    )
    context = bounded(info, 74)
    assert isinstance(context, kopf.AiohttpSession)
    try:
        assert context.server == info.server and context.default_namespace == "prod"
        session = context.aiohttp_session
        assert session.connector is not None and session.connector.limit == 74
        assert session.headers["Authorization"] == "Bearer t0k3n"
    finally:
        await context.aiohttp_session.close()
    assert bounded(info, None) is info
