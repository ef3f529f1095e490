"""Keeps each Service's EndpointSlices equal to slices.desired_slices (see slices.py for why)."""

from __future__ import annotations

import asyncio
import logging

import httpx

from deploymentgate_devkit.sandbox.kubeapi import ApiError, Informer, Obj, object_key
from deploymentgate_devkit.sandbox.slices import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    desired_slices,
    slice_differs,
)

log = logging.getLogger(__name__)

GIVE_UP = frozenset({400, 403, 404, 422})  # retrying cannot help; the next event will


class EndpointSliceController:
    def __init__(self, services: Informer, pods: Informer, slices: Informer) -> None:
        self.services, self.pods, self.slices = services, pods, slices
        self.api = services.api
        self._dirty: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        services.add_handler(self._on_service)
        pods.add_handler(self._on_pod)
        slices.add_handler(self._on_slice)

    def _mark(self, namespace: str, name: str) -> None:
        self._dirty.add((namespace, name))
        self._wake.set()

    def _on_service(self, kind: str, service: Obj) -> None:
        meta = service["metadata"]
        self._mark(meta.get("namespace", "default"), meta["name"])

    def _on_pod(self, kind: str, pod: Obj) -> None:
        namespace = pod["metadata"].get("namespace", "default")
        for service in self.services.cache.values():
            if service["metadata"].get("namespace") == namespace:
                self._mark(namespace, service["metadata"]["name"])

    def _on_slice(self, kind: str, slc: Obj) -> None:
        service = (slc["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service:
            self._mark(slc["metadata"].get("namespace", "default"), service)

    async def run(self) -> None:
        await asyncio.gather(
            self.services.synced.wait(), self.pods.synced.wait(), self.slices.synced.wait()
        )
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._dirty = self._dirty, set()
            retry = False
            for namespace, name in sorted(batch):
                try:
                    await self._reconcile(namespace, name)
                except ApiError as exc:
                    if exc.status in GIVE_UP:  # e.g. the namespace is terminating
                        log.info("endpointslices of %s/%s: %s", namespace, name, exc)
                        continue
                    log.info("endpointslices of %s/%s: %s (will retry)", namespace, name, exc)
                    self._dirty.add((namespace, name))
                    retry = True
                except httpx.HTTPError as exc:
                    log.info("endpointslices of %s/%s: %s (will retry)", namespace, name, exc)
                    self._dirty.add((namespace, name))
                    retry = True
            if retry:
                await asyncio.sleep(0.2)
                self._wake.set()

    async def _reconcile(self, namespace: str, name: str) -> None:
        service = self.services.cache.get(f"{namespace}/{name}")
        current = {
            s["metadata"]["name"]: s
            for s in self.slices.cache.values()
            if s["metadata"].get("namespace") == namespace
            and (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        }
        desired: list[Obj] = []
        if service is not None and not service["metadata"].get("deletionTimestamp"):
            pods = [
                p for p in self.pods.cache.values() if p["metadata"].get("namespace") == namespace
            ]
            desired = desired_slices(service, pods)
        base = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
        wanted = {s["metadata"]["name"] for s in desired}
        for slc in desired:
            slice_name = slc["metadata"]["name"]
            existing = current.get(slice_name)
            if existing is None:
                try:
                    stored = await self.api.create(base, slc)
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                    continue  # created meanwhile; its watch event brings us back here
            elif existing.get("addressType") != slc["addressType"]:
                await self.api.delete(f"{base}/{slice_name}")
                stored = await self.api.create(base, slc)
            elif slice_differs(existing, slc):
                slc["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
                stored = await self.api.replace(f"{base}/{slice_name}", slc)
            else:
                continue
            self.slices.cache[object_key(stored)] = stored
        for slice_name in current.keys() - wanted:
            try:
                await self.api.delete(f"{base}/{slice_name}")
            except ApiError as exc:
                if exc.status != 404:
                    raise
            self.slices.cache.pop(f"{namespace}/{slice_name}", None)
