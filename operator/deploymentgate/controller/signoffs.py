"""Sign-offs as the gates need them: GateApprovals summarized for kopf's index,
and whether the admission policy that checks them is in force.

The rule of what counts is in `deploymentgate.core.signoff`; this module only
reads. The policy is the one the chart installs,
gateapprovals.rollout.deploymentgate.dev (the chart's RBAC lets the operator
read that name only).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from typing import Any

from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from deploymentgate.core.inputs import ObservedSignOff
from deploymentgate.core.policy_state import PolicyState, assess
from deploymentgate.k8s.api import KubeApi
from deploymentgate.manifests.approval_policy import POLICY_NAME
from deploymentgate.timestamps import read_timestamp

log = logging.getLogger(__name__)

POLICY_TTL = 5.0  # seconds a reading of the policy is reused by every gate
KEEP_GOOD = 60.0  # seconds of refused reads the last good reading stands in for


def summarize_approval(body: Mapping[str, Any]) -> tuple[str, ObservedSignOff] | None:
    """(gate name, sign-off) of a GateApproval; None for one the schema would not admit."""
    spec = body.get("spec") or {}
    meta = body.get("metadata") or {}
    created = read_timestamp(meta.get("creationTimestamp"))
    fields = [spec.get(k) for k in ("gate", "revision", "role", "approver")]
    if created is None or not all(isinstance(f, str) and f for f in fields):
        return None
    gate, revision, role, approver = (str(f) for f in fields)
    groups = spec.get("groups") or []
    return gate, ObservedSignOff(
        name=str(meta.get("name", "")),
        revision=revision,
        role=role,
        approver=approver,
        groups=frozenset(g for g in groups if isinstance(g, str)),
        created=created,
    )


class PolicyReader:
    """Reads the ValidatingAdmissionPolicy and its binding (get by name), at most
    once per POLICY_TTL for all gates together.

    A read the API server refuses (403 while a restarted API server loads its
    RBAC caches, 5xx, 429) keeps the last good reading, for refusals up to
    KEEP_GOOD long: the policy did not change because the API server restarted. No answer at
    all raises, and the pass waits for the API server with the rest.
    """

    def __init__(self, api: KubeApi, name: str | None = None) -> None:
        self.objects = kclient.CustomObjectsApi(api.api_client)
        self.name = name or POLICY_NAME
        self._state: PolicyState | None = None
        self._good: PolicyState | None = None  # the last reading the API server answered
        self._refused_since: float | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def state(self) -> PolicyState:
        async with self._lock:
            if self._state is None or time.monotonic() - self._read_at >= POLICY_TTL:
                self._state = await self._read()
                self._read_at = time.monotonic()
            return self._state

    async def _read(self) -> PolicyState:
        try:
            policy = await self._get("validatingadmissionpolicies")
            binding = await self._get("validatingadmissionpolicybindings")
        except ApiException as exc:
            now = time.monotonic()
            self._refused_since = self._refused_since if self._refused_since is not None else now
            if self._good is not None and now - self._refused_since < KEEP_GOOD:
                log.debug(
                    "admission policy %s: %s %s; keeping the last reading",
                    self.name,
                    exc.status,
                    exc.reason,
                )
                return self._good
            log.warning("cannot read admission policy %s: %s %s", self.name, exc.status, exc.reason)
            return PolicyState(
                False,
                f"the operator cannot read the admission policy {self.name}"
                f" ({exc.status} {exc.reason})",
            )
        self._good, self._refused_since = assess(policy, binding, self.name), None
        return self._good

    async def _get(self, plural: str) -> dict[str, Any] | None:
        try:
            found = await self.objects.get_cluster_custom_object(
                "admissionregistration.k8s.io", "v1", plural, self.name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found if isinstance(found, dict) else None


@functools.cache
def policy_reader(api: KubeApi) -> PolicyReader:
    """One reader per API connection, shared by every gate."""
    return PolicyReader(api)
