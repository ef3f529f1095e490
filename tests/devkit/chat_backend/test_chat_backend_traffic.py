"""The traffic endpoint, /version and /metrics as a load balancer and Prometheus see them."""

from __future__ import annotations

from chat_backend_helpers import FAST_ENV, get, get_text, metric_value, serving, wait_healthy

from chat_backend.testing import run_backend


async def test_chat_answers_get_post_and_root_with_version_and_pod() -> None:
    async with serving("healthy", version="3.1.0") as (url, s):
        await wait_healthy(s, url)
        by_get = await get(s, f"{url}/api/chat?text=hi")
        assert by_get.status == 200
        assert by_get.body == {"reply": "You said: hi", "version": "3.1.0", "pod": "chat-test-pod"}
        async with s.post(f"{url}/api/chat", json={"text": "posted"}) as response:
            assert response.status == 200
            assert (await response.json())["reply"] == "You said: posted"
        async with s.post(f"{url}/", json={"text": "root"}) as response:
            assert response.status == 200
            assert (await response.json())["reply"] == "You said: root"
        async with s.post(f"{url}/api/chat", data=b"{broken") as response:
            assert response.status == 400
        root = await get(s, f"{url}/")
        assert root.status == 200 and root.body["version"] == "3.1.0"
        version = await get(s, f"{url}/version")
        assert version.body == {"version": "3.1.0", "mode": "healthy"}


async def test_chat_is_unavailable_until_startup_completes() -> None:
    env = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0.1"}
    async with serving("healthy", env) as (url, s):
        early = await get(s, f"{url}/api/chat")
        assert early.status == 503 and early.body["error"] == "Startup in progress"
        await wait_healthy(s, url)
        assert (await get(s, f"{url}/api/chat")).status == 200


async def test_errors_8pct_fails_exactly_8_of_100_requests_while_health_stays_green() -> None:
    async with serving("errors-8pct") as (url, s):
        await wait_healthy(s, url)
        statuses = [(await get(s, f"{url}/api/chat")).status for _ in range(100)]
        assert statuses.count(500) == 8 and statuses.count(200) == 92
        assert [i + 1 for i, code in enumerate(statuses) if code == 500][:2] == [13, 25]
        failing = [(await get(s, f"{url}/")) for _ in range(13)][-1]
        assert failing.status == 500 and failing.body["error"]  # the alias shares the counter
        assert (await get(s, f"{url}/health")).status == 200
        metrics = await get_text(s, f"{url}/metrics")
        assert metric_value(metrics, "chat_http_requests_total", path="/api/chat", code="500") == 8
        assert metric_value(metrics, "chat_http_requests_total", path="/api/chat", code="200") == 92


async def test_metrics_track_startup_build_info_and_every_request() -> None:
    env = {**FAST_ENV, "CHAT_PHASE_SECONDS": "0.1"}
    async with serving("healthy", env, version="4.0.0") as (url, s):
        async with s.get(f"{url}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            early = await response.text()
        assert metric_value(early, "chat_startup_complete") == 0
        assert metric_value(early, "chat_build_info", version="4.0.0", mode="healthy") == 1
        starting = await get(s, f"{url}/health")
        assert starting.status == 503
        await wait_healthy(s, url)
        async with s.get(f"{url}/no-such-page") as response:
            assert response.status == 404
        late = await get_text(s, f"{url}/metrics")
        assert metric_value(late, "chat_startup_complete") == 1
        health_503 = metric_value(late, "chat_http_requests_total", path="/health", code="503")
        assert health_503 is not None and health_503 >= 1
        assert metric_value(late, "chat_http_requests_total", path="/health", code="200") == 1
        assert metric_value(late, "chat_http_requests_total", path="unmatched", code="404") == 1
        assert metric_value(late, "chat_http_requests_total", path="/metrics", code="200") == 1


async def test_two_backends_in_one_process_keep_separate_metrics() -> None:
    requests_200 = {"path": "/api/chat", "code": "200"}
    backend_b = run_backend("healthy", version="b", env=FAST_ENV)
    async with serving("healthy", version="a") as (url_a, s), backend_b as url_b:
        await wait_healthy(s, url_a)
        await wait_healthy(s, url_b)
        for _ in range(3):
            await get(s, f"{url_a}/api/chat")
        text_a = await get_text(s, f"{url_a}/metrics")
        text_b = await get_text(s, f"{url_b}/metrics")
    assert metric_value(text_a, "chat_http_requests_total", **requests_200) == 3
    assert metric_value(text_b, "chat_http_requests_total", **requests_200) is None
    assert metric_value(text_b, "chat_build_info", version="b", mode="healthy") == 1
    assert metric_value(text_b, "chat_build_info", version="a", mode="healthy") is None


async def test_slow_chat_is_slow_for_users_only_and_its_latency_is_in_the_histogram() -> None:
    # A second: far over what a loaded machine stalls a fast answer by.
    async with serving("slow-chat", {**FAST_ENV, "CHAT_SLOW_REPLY_SECONDS": "1"}) as (url, s):
        await wait_healthy(s, url)
        health = await get(s, f"{url}/health")
        chat = [await get(s, f"{url}/api/chat") for _ in range(2)]
        text = await get_text(s, f"{url}/metrics")
    assert health.status == 200 and health.seconds < 1
    assert all(c.status == 200 and c.seconds >= 1 for c in chat)
    bucket = "chat_http_request_duration_seconds_bucket"
    assert metric_value(text, bucket, path="/api/chat", le="0.5") == 0.0
    assert metric_value(text, "chat_http_request_duration_seconds_count", path="/api/chat") == 2
    assert metric_value(text, "chat_http_request_duration_seconds_count", path="/health")
