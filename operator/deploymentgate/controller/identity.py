"""The gate as its own objects know it: one type, parsed by controller.gate.

A module of its own, below everything that reads it (observe, the executor,
the router adapters), so no controller module reaches itself through another.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploymentgate.k8s.builders import OwnerRef, gate_label_value


@dataclass(frozen=True)
class GateIdentity:
    """The gate as its own objects know it."""

    namespace: str
    name: str
    uid: str
    target: str | None
    service: str | None
    router: str | None = None  # spec.traffic.router as written
    traffic: object = None  # what that router's adapter acts on (see controller.routers)

    @property
    def label(self) -> str:
        return gate_label_value(self.name)

    @property
    def owner(self) -> OwnerRef:
        """What the builders put in the ownerReference of each object the gate owns."""
        return OwnerRef(self.namespace, self.name, self.uid)


__all__ = ["GateIdentity"]
