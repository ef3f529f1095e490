"""Where a probe sends its request, and how that place is written in reports.

Reports end up in `kubectl describe`, CI logs and Kubernetes Events, so any
credential a URL carries (userinfo, a ``token=`` query parameter) is masked
before a URL or message leaves a probe.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"

# Query parameters whose value is treated as a secret.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[\w.-]*(?:token|secret|password|passwd|pwd|api[_-]?key|apikey|auth"
    r"|signature|sig|credential|session)[\w.-]*)=)[^&;#\s\"']*"
)
# user:password@ in any URL inside free text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"']+@")
# Headers in any spelling a log line uses: "Authorization: x", JSON
# '"cookie": "x"', httpcore's tuples "(b'Set-Cookie', b'x')".
_SECRET_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key|x-auth-token)"
    r"(['\"]?\s*(?:[:=]|,\s*b?['\"])\s*['\"]?)[^\r\n\"']*"
)


def redact(text: str) -> str:
    """Mask credentials in any text: URLs, header dumps, error messages."""
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _SECRET_PARAM.sub(rf"\1{REDACTED}", text)
    return _SECRET_HEADER.sub(rf"\1\2{REDACTED}", text)


def probe_url(base_url: str, path: str, port: int | None = None) -> str:
    """`path` (which may carry a query) on `base_url`, on `port` if given.

    A base URL with a path prefix keeps it: ``http://h/app`` + ``/health`` is
    ``http://h/app/health``, for services behind a path-routing proxy.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {redact(base_url)!r}")
    netloc = parts.netloc
    if port is not None:
        host = parts.hostname
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        userinfo = netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    path_part, _, query = path.partition("?")
    if not path_part.startswith("/"):
        path_part = "/" + path_part
    full_path = parts.path.rstrip("/") + path_part
    query = "&".join(q for q in (parts.query, query) if q)
    return urlunsplit((parts.scheme, netloc, full_path, query, ""))


def websocket_url(http_url: str) -> str:
    """The ws:// (or wss://) twin of an http(s) URL; ws URLs pass unchanged."""
    parts = urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port: the only redirects a probe follows."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, _port(pa.scheme, pa.port)) == (
        pb.scheme,
        pb.hostname,
        _port(pb.scheme, pb.port),
    )


def _port(scheme: str, port: int | None) -> int | None:
    if port is not None:
        return port
    return {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)
