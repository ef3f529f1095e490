"""One hardened way for probes to make HTTP requests.

A probe's target may be broken or hostile: it may never answer, drip bytes,
stream forever, speak garbage, redirect elsewhere or present a bad
certificate. `fetch` turns every such case into a `ProbeHTTPError` with a
message a human can act on, reads at most a bounded number of body bytes, and
finishes within its deadline no matter what the server does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
import zlib
from dataclasses import dataclass

import certifi
import httpx

from deploymentgate.probes.budget import budget
from deploymentgate.probes.limits import MAX_BODY_BYTES, MAX_REDIRECTS
from deploymentgate.probes.urls import redact, same_origin

USER_AGENT = "deploymentgate-probe/1"


class ProbeHTTPError(Exception):
    """A request that produced no usable HTTP answer; the message says why."""


@dataclass(frozen=True)
class HTTPAnswer:
    status: int
    body: bytes  # at most the byte limit the caller asked for
    truncated: bool  # the server had more than the limit to say
    latency: float  # seconds from sending the request to the last byte read
    url: str  # after same-origin redirects


class _RedactingFilter(logging.Filter):
    """httpx and websockets log request lines at INFO/DEBUG: mask credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()


def install_log_redaction() -> None:
    """Idempotent: attach the redacting filter to the loggers that see URLs."""
    # A logger's filters see only its own records, not its children's.
    for name in (
        "httpx",
        "httpcore.connection",
        "httpcore.http11",
        "httpcore.http2",
        "websockets.client",
    ):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs ~20ms, more than a health check."""
    return ssl.create_default_context(cafile=certifi.where())


def hardened_client(timeout: float, *, max_connections: int = 20) -> httpx.AsyncClient:
    """An AsyncClient for probing untrusted targets.

    No environment proxies or netrc (`trust_env=False`: probe traffic goes
    straight to the target), no automatic redirects (`fetch` follows only
    same-origin ones), certificates verified, identity encoding preferred.
    """
    install_log_redaction()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        verify=_tls_context(),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=5),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    timeout: float,
    max_bytes: int = MAX_BODY_BYTES,
    method: str = "GET",
) -> HTTPAnswer:
    """One request with a hard deadline and a bounded body.

    The deadline covers connect, redirects and the whole body, so a server
    sending one byte a second cannot hold a probe beyond `timeout`. It holds a
    connection slot of the global probe budget (probes/budget.py); the wait for
    the slot counts neither in the latency nor against `timeout`.
    """
    async with budget().connections.slot():
        return await _fetch_in_slot(client, url, timeout, max_bytes, method)


async def _fetch_in_slot(
    client: httpx.AsyncClient, url: str, timeout: float, max_bytes: int, method: str
) -> HTTPAnswer:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            return await _fetch_following(client, method, url, max_bytes, started)
    except TimeoutError:
        raise ProbeHTTPError(
            f"no complete answer within {timeout:g}s (server silent or too slow)"
        ) from None
    except httpx.HTTPError as exc:
        raise ProbeHTTPError(describe_http_error(exc)) from None


async def _fetch_following(
    client: httpx.AsyncClient, method: str, url: str, max_bytes: int, started: float
) -> HTTPAnswer:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream(method, current) as response:
            location = response.headers.get("location")
            if response.is_redirect and location is not None:
                target = str(response.url.join(location))
                if not same_origin(current, target):
                    raise ProbeHTTPError(
                        f"redirected ({response.status_code}) to {redact(target)}, "
                        "another origin; probes only follow same-host redirects"
                    )
                current = target
                continue
            body, truncated = await _read_bounded(response, max_bytes)
            return HTTPAnswer(
                status=response.status_code,
                body=body,
                truncated=truncated,
                latency=time.perf_counter() - started,
                url=current,
            )
    raise ProbeHTTPError(f"more than {MAX_REDIRECTS} redirects")


async def _read_bounded(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read raw bytes up to the limit, then stop: an endless body costs `max_bytes`."""
    decoder = _bounded_decoder(response.headers.get("content-encoding", ""))
    buffer = bytearray()
    async for chunk in response.aiter_raw():
        if decoder is not None:
            chunk = decoder.decompress(chunk, max_bytes + 1 - len(buffer))
        buffer += chunk
        if len(buffer) > max_bytes:
            return bytes(buffer[:max_bytes]), True
    return bytes(buffer), False


def _bounded_decoder(encoding: str) -> zlib._Decompress | None:
    """gzip/deflate decoded with an output bound (no decompression bombs)."""
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


def describe_http_error(exc: BaseException) -> str:
    """A one-line reason for a failed request, free of credentials."""
    tls = _tls_error(exc)
    if tls is not None:
        return f"TLS handshake failed: {tls}"
    text = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)) or "refused" in text:
            return "connection refused (nothing listening)"
        return f"cannot connect: {text}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__}): server silent or too slow"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return f"not a valid HTTP answer: {text}"
    if isinstance(exc, httpx.DecodingError):
        return f"undecodable response body: {text}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return f"connection broken: {text}"
    return f"{type(exc).__name__}: {text}"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (httpx wraps httpcore wraps the OS error)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 20:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _tls_error(exc: BaseException) -> str | None:
    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"certificate not trusted ({current.verify_message})"
        if isinstance(current, ssl.SSLError):
            return current.reason or str(current)
    text = str(exc)
    if "SSL" in text or "CERTIFICATE" in text.upper():
        return redact(text)
    return None
