"""Health probe (seed §3, §5): status code, expected body fields, latency.

One run is one request. Latency is measured to the last byte read, because a
health endpoint that answers headers fast and the body slowly is slow.
"""

from __future__ import annotations

from deploymentgate.models import HealthProbe
from deploymentgate.observations import ProbeKind, ProbeObservation
from deploymentgate.probes.body_match import body_mismatches
from deploymentgate.probes.http_client import ProbeHTTPError, fetch, hardened_client
from deploymentgate.probes.kind_runner import SectionRunner
from deploymentgate.probes.limits import MAX_BODY_BYTES
from deploymentgate.probes.observe import clip, observation, parse_json_object
from deploymentgate.probes.urls import probe_url


async def run_health_probe(
    base_url: str,
    cfg: HealthProbe,
    *,
    honor_port: bool = True,
    target: str | None = None,
    revision: str | None = None,
) -> ProbeObservation:
    url = probe_url(base_url, cfg.path, cfg.port if honor_port else None)
    timeout = cfg.timeout.total_seconds()
    where = target if target is not None else url
    try:
        async with hardened_client(timeout) as client:
            answer = await fetch(client, url, timeout=timeout)
    except ProbeHTTPError as exc:
        return observation(ProbeKind.HEALTH, False, str(exc), target=where, revision=revision)
    latency_ms = answer.latency * 1000
    values = {"latency_ms": latency_ms, "status_code": float(answer.status)}
    problems: list[str] = []
    body = None
    if answer.status != cfg.expect_status:
        problems.append(f"status {answer.status} (expected {cfg.expect_status})")
    if answer.truncated:
        problems.append(f"body larger than {MAX_BODY_BYTES // 1024} KiB (stopped reading)")
    elif cfg.expect_body:
        body, why_not = parse_json_object(answer.body)
        if body is None:
            problems.append(why_not)
        else:
            problems.extend(body_mismatches(cfg.expect_body, body))
    max_ms = cfg.max_latency.total_seconds() * 1000
    if latency_ms > max_ms:
        problems.append(f"latency {latency_ms:.1f}ms over {max_ms:g}ms")
    if problems and body is not None and isinstance(body.get("message"), str):
        problems.append(f"server says: {clip(body['message'])}")
    ok = not problems
    message = (
        f"{answer.status} in {latency_ms:.1f}ms" + (", body matches" if cfg.expect_body else "")
        if ok
        else "; ".join(problems)
    )
    return observation(
        ProbeKind.HEALTH, ok, message, target=where, revision=revision, values=values
    )


HEALTH_RUNNER = SectionRunner(ProbeKind.HEALTH, HealthProbe, run_health_probe)
