"""The list+watch cache survives expired versions and broken watches without missing a change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from deploymentgate_devkit.sandbox.kubeapi import ApiError, Informer


def _obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


class ScriptedApi:
    """Serves a fixed sequence of list results and watch streams, then blocks forever."""

    def __init__(
        self, listings: list[dict[str, Any]], watches: list[list[dict[str, Any]] | Exception]
    ) -> None:
        self.listings = listings
        self.watches = watches
        self.watch_calls: list[str] = []
        self.done = asyncio.Event()

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.listings.pop(0)

    async def watch(
        self, path: str, resource_version: str, timeout_seconds: int, params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        self.watch_calls.append(resource_version)
        if not self.watches:
            self.done.set()
            await asyncio.Event().wait()
        step = self.watches.pop(0)
        if isinstance(step, Exception):
            raise step
        for event in step:
            yield event


async def _run(api: ScriptedApi) -> tuple[Informer, list[tuple[str, str]]]:
    informer = Informer(api, "/api/v1/pods")  # type: ignore[arg-type]
    seen: list[tuple[str, str]] = []
    informer.add_handler(lambda kind, obj: seen.append((kind, obj["metadata"]["name"])))
    task = asyncio.ensure_future(informer.run())
    await asyncio.wait_for(api.done.wait(), 5)
    task.cancel()
    return informer, seen


async def test_expired_watch_relists_and_reports_what_vanished_meanwhile() -> None:
    api = ScriptedApi(
        listings=[
            {"metadata": {"resourceVersion": "10"}, "items": [_obj("a", "1"), _obj("b", "2")]},
            {"metadata": {"resourceVersion": "50"}, "items": [_obj("a", "1"), _obj("c", "40")]},
        ],
        watches=[
            [
                {"type": "MODIFIED", "object": _obj("b", "11")},
                {"type": "ERROR", "object": {"code": 410}},
            ],
        ],
    )
    informer, seen = await _run(api)
    assert seen == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "b"),
        ("DELETED", "b"),
        ("ADDED", "c"),
    ]
    assert set(informer.cache) == {"ns/a", "ns/c"}
    assert api.watch_calls == ["10", "50"]


async def test_broken_watch_resumes_from_the_last_seen_version() -> None:
    api = ScriptedApi(
        listings=[{"metadata": {"resourceVersion": "5"}, "items": []}],
        watches=[
            [
                {"type": "ADDED", "object": _obj("a", "6")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
            ],
            ConnectionResetError("peer went away"),
            [{"type": "DELETED", "object": _obj("a", "12")}],
        ],
    )
    informer, seen = await _run(api)
    assert seen == [("ADDED", "a"), ("DELETED", "a")]
    assert api.watch_calls == ["5", "9", "9", "12"]
    assert informer.cache == {}


async def test_watch_refused_with_410_status_relists() -> None:
    api = ScriptedApi(
        listings=[
            {"metadata": {"resourceVersion": "1"}, "items": []},
            {"metadata": {"resourceVersion": "7"}, "items": [_obj("x", "7")]},
        ],
        watches=[ApiError(410, "WATCH", "/api/v1/pods", {"message": "too old"})],
    )
    _, seen = await _run(api)
    assert seen == [("ADDED", "x")]
    assert api.watch_calls == ["1", "7"]
