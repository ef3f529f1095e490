"""A small asyncio client for the Kubernetes API, and a list+watch cache.

The supervisor needs a handful of verbs, long-lived watches that survive
"resourceVersion too old" (410) and dropped connections, and nothing else; a
thin layer over httpx keeps that behaviour explicit and under our control.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, method: str, path: str, body: Any) -> None:
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: {status} {message}")


def client_ssl_context(
    ca_file: Path, cert_file: Path | None, key_file: Path | None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert_file is not None and key_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context


def object_key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


class KubeApi:
    def __init__(
        self,
        server: str,
        ca_file: Path,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        token: str | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=server,
            verify=client_ssl_context(ca_file, cert_file, key_file),
            headers=headers,
            trust_env=False,  # never route cluster traffic through a proxy from the environment
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        response = await self._http.request(
            method, path, content=content, params=dict(params or {}), headers=headers
        )
        if response.status_code >= 400:
            try:
                detail: Any = response.json()
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, method, path, detail)
        return response.json() if response.content else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: Any) -> Any:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: Any, patch_type: str = "merge") -> Any:
        return await self.request("PATCH", path, body=body, content_type=PATCH_TYPES[patch_type])

    async def delete(self, path: str, body: Any = None) -> Any:
        return await self.request("DELETE", path, body=body)

    async def watch(
        self, path: str, resource_version: str, timeout_seconds: int, params: Mapping[str, Any]
    ) -> AsyncIterator[Obj]:
        query = {
            **params,
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = httpx.Timeout(timeout_seconds + 30.0, connect=5.0)
        async with self._http.stream("GET", path, params=query, timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError(response.status_code, "WATCH", path, response.text)
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)


class Gone(Exception):
    """The watch's resourceVersion is too old: relist."""


EventHandler = Callable[[str, Obj], None]


class Informer:
    """Keeps ``cache`` equal to the server's set of objects and reports each change.

    Handlers run synchronously, in order, on the event loop; they must not block.
    After a relist, objects that vanished meanwhile are reported as DELETED, so
    handlers never miss a deletion because a watch broke.
    """

    def __init__(
        self,
        api: KubeApi,
        path: str,
        *,
        label_selector: str | None = None,
        name: str | None = None,
    ) -> None:
        self.api = api
        self.path = path
        self.name = name or path
        self.params: dict[str, str] = {}
        if label_selector:
            self.params["labelSelector"] = label_selector
        self.cache: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self._handlers: list[EventHandler] = []

    def add_handler(self, handler: EventHandler) -> None:
        self._handlers.append(handler)

    def _emit(self, kind: str, obj: Obj) -> None:
        for handler in self._handlers:
            try:
                handler(kind, obj)
            except Exception:
                log.exception("%s: handler failed on %s %s", self.name, kind, object_key(obj))

    async def _relist(self) -> str:
        listing = await self.api.get(self.path, **self.params)
        fresh = {object_key(item): item for item in listing.get("items") or ()}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self._emit("DELETED", old)
        for key, obj in fresh.items():
            previous = self.cache.get(key)
            self.cache[key] = obj
            if previous is None:
                self._emit("ADDED", obj)
            elif previous["metadata"].get("resourceVersion") != obj["metadata"].get(
                "resourceVersion"
            ):
                self._emit("MODIFIED", obj)
        self.synced.set()
        return str(listing["metadata"]["resourceVersion"])

    async def run(self) -> None:
        """Forever: list, then watch from there; relist on 410, retry on errors with backoff."""
        backoff = 0.1
        resource_version: str | None = None
        while True:
            try:
                if resource_version is None:
                    resource_version = await self._relist()
                resource_version = await self._watch(resource_version)
                backoff = 0.1
            except Gone:
                resource_version = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: watch failed (%s); retrying in %.1fs", self.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                if isinstance(exc, ApiError) and exc.status == 410:
                    resource_version = None

    async def _watch(self, resource_version: str) -> str:
        timeout = random.randint(240, 360)
        async for event in self.api.watch(self.path, resource_version, timeout, self.params):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone()
                raise ApiError(int(obj.get("code") or 500), "WATCH", self.path, obj)
            resource_version = str(obj.get("metadata", {}).get("resourceVersion", resource_version))
            if kind == "BOOKMARK":
                continue
            key = object_key(obj)
            if kind == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
            self._emit(str(kind), obj)
        return resource_version
