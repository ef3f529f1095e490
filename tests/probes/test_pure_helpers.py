"""Pure helpers: body subset match, health failure tracking, error window,
PromQL templating, URL building and credential redaction."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.body_match import body_mismatches
from deploymentgate.probes.error_rate import parse_prometheus_answer
from deploymentgate.probes.error_window import ErrorRateWindow
from deploymentgate.probes.health_tracker import HealthTracker
from deploymentgate.probes.promql import QueryTemplateError, pod_regex, render_query
from deploymentgate.probes.urls import probe_url, redact, same_origin, websocket_url

T0 = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------- body match


def test_expected_body_is_a_subset_match_including_nested_objects() -> None:
    actual = {"status": "healthy", "checks": {"db": "ok", "cache": "ok"}, "version": "1"}
    assert body_mismatches({"status": "healthy", "checks": {"db": "ok"}}, actual) == []


def test_body_mismatch_names_each_field_path() -> None:
    actual = {"status": "unhealthy", "checks": {"db": "down"}}
    problems = body_mismatches({"status": "healthy", "checks": {"db": "ok"}, "x": 1}, actual)
    assert problems == [
        "status='unhealthy' (expected 'healthy')",
        "checks.db='down' (expected 'ok')",
        "x missing (expected 1)",
    ]


def test_boolean_true_does_not_match_number_one() -> None:
    assert body_mismatches({"ready": True}, {"ready": 1}) == ["ready=1 (expected True)"]
    assert body_mismatches({"nested": {"a": 1}}, {"nested": [1]}) == ["nested is not an object"]


# ---------------------------------------------------------- health tracker


def health(ok: bool | None, at: datetime) -> ProbeObservation:
    return ProbeObservation(kind=ProbeKind.HEALTH, ok=ok, message="", at=at)


def test_health_tracker_keeps_when_the_current_failure_run_began() -> None:
    tracker = HealthTracker()
    tracker.feed(health(True, T0))
    tracker.feed(health(False, T0 + timedelta(seconds=10)))
    tracker.feed(health(False, T0 + timedelta(seconds=20)))
    tracker.feed(health(None, T0 + timedelta(seconds=30)))  # no data: run goes on
    assert tracker.failing_since == T0 + timedelta(seconds=10)
    assert tracker.failing_for(T0 + timedelta(minutes=5, seconds=10)) == timedelta(minutes=5)
    tracker.feed(health(True, T0 + timedelta(seconds=40)))
    assert tracker.failing_since is None
    assert tracker.failing_for(T0 + timedelta(hours=1)) == timedelta(0)
    assert tracker.last_success == T0 + timedelta(seconds=40)


# ----------------------------------------------------------- error window


def test_error_window_counts_only_the_sliding_window() -> None:
    window = ErrorRateWindow(window=timedelta(minutes=1), min_requests=10)
    for i in range(10):
        window.record(T0 + timedelta(seconds=i), error=i < 5)  # 5 old errors
    for i in range(20):
        window.record(T0 + timedelta(seconds=61 + i), error=i == 0)
    reading = window.reading(T0 + timedelta(seconds=90))
    assert (reading.requests, reading.errors) == (20, 1)
    assert reading.rate_percent == pytest.approx(5.0)


def test_error_window_below_min_requests_has_no_verdict() -> None:
    window = ErrorRateWindow(window=timedelta(minutes=1), min_requests=20)
    for i in range(19):
        window.record(T0 + timedelta(seconds=i), error=True)
    reading = window.reading(T0 + timedelta(seconds=30))
    assert reading.rate_percent is None and not reading.has_data
    assert (reading.requests, reading.errors) == (19, 19)


# ------------------------------------------------------------------ PromQL


def test_promql_placeholders_are_substituted_and_escaped() -> None:
    template = (
        'sum(rate(http_requests_total{namespace="{namespace}",pod=~"{pod_regex}",'
        'code=~"5.."}[{window}])) / sum(rate(http_requests_total{service="{service}"}[{window}]))'
    )
    query = render_query(
        template,
        {
            "namespace": "prod",
            "pod_regex": 'chat-7c9f8d-.*"}) or vector(1',
            "service": "chat",
            "window": "60s",
        },
    )
    assert 'namespace="prod"' in query
    assert "[60s]" in query
    # A hostile value stays inside its string literal.
    assert 'pod=~"chat-7c9f8d-.*\\"}) or vector(1"' in query


def test_unknown_placeholder_is_an_error_naming_it() -> None:
    with pytest.raises(QueryTemplateError, match=r"\{namepsace\}"):
        render_query('up{namespace="{namepsace}"}', {})


def test_a_placeholder_without_a_value_now_is_an_error_never_an_empty_string() -> None:
    values = {"pod_regex": "a", "stable_pod_regex": None}
    assert render_query('up{pod=~"{pod_regex}"}', values) == 'up{pod=~"a"}'
    with pytest.raises(QueryTemplateError, match=r"\{stable_pod_regex\} has no value now"):
        render_query('up{pod=~"{stable_pod_regex}"}', values)


def test_pod_regex_matches_exactly_the_pods_named_dots_escaped() -> None:
    regex = pod_regex(["chat-b", "chat-a.1", ""])
    assert regex == "chat-a\\.1|chat-b"
    assert re.fullmatch(regex, "chat-a.1") and re.fullmatch(regex, "chat-b")
    assert not re.fullmatch(regex, "chat-aX1") and not re.fullmatch(regex, "chat-b-2")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"status":"success","data":{"resultType":"vector","result":[]}}', "no samples"),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
            b'"value":[1.0,"NaN"]}]}}',
            "no samples",
        ),
        (b'{"status":"error","errorType":"bad_data","error":"parse error"}', "parse error"),
        (b"<html>oops</html>", "not JSON"),
        (b'{"status":"success","data":{"resultType":"matrix","result":[]}}', "vector or scalar"),
    ],
)
def test_prometheus_answers_without_a_number_are_no_data(body: bytes, why: str) -> None:
    ratio, reason = parse_prometheus_answer(200, body, truncated=False)
    assert ratio is None and why in reason


def test_prometheus_vector_with_several_series_is_judged_by_the_worst() -> None:
    body = (
        b'{"status":"success","data":{"resultType":"vector","result":['
        b'{"metric":{"pod":"a"},"value":[1,"0.01"]},{"metric":{"pod":"b"},"value":[1,"0.09"]}]}}'
    )
    assert parse_prometheus_answer(200, body, truncated=False) == (0.09, "")


# ---------------------------------------------------------- URLs, secrets


def test_probe_url_joins_path_port_and_query() -> None:
    assert probe_url("http://10.0.0.5:8000", "/health") == "http://10.0.0.5:8000/health"
    assert (
        probe_url("http://10.0.0.5:8000/app/", "health", 9000) == "http://10.0.0.5:9000/app/health"
    )
    assert probe_url("http://h?token=x", "/ws?v=1") == "http://h/ws?token=x&v=1"
    assert probe_url("http://[::1]:1", "/h", 2) == "http://[::1]:2/h"
    assert websocket_url("https://h:1/ws") == "wss://h:1/ws"
    with pytest.raises(ValueError):
        probe_url("ftp://h", "/")


def test_same_origin_compares_scheme_host_and_port() -> None:
    assert same_origin("http://h/health", "http://h:80/healthz")
    assert not same_origin("http://h:1/a", "http://h:2/a")
    assert not same_origin("http://h/a", "https://h/a")
    assert not same_origin("http://h/a", "http://evil/a")


def test_redact_masks_tokens_userinfo_and_auth_headers() -> None:
    text = (
        "GET http://user:hunter2@h/ws?access_token=abc123&x=1&api_key=k9 "
        "Authorization: Bearer eyJhbGciOi cookie=sess1 [(b'Set-Cookie', b'sid=sess2')] "
        '{"authorization": "Basic dXNlcg=="}'
    )
    out = redact(text)
    for secret in ("hunter2", "abc123", "k9", "eyJhbGciOi", "sess1", "sess2", "dXNlcg"):
        assert secret not in out
    assert "x=1" in out
