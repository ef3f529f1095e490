"""The smoke test: a Job the operator runs (core.smoke), not a probe of the runner.

Its descriptor names its status field and how views show it; it has no runner.
"""

from __future__ import annotations

from deploymentgate.models import Trigger
from deploymentgate.observations import ProbeKind
from deploymentgate.probe_kinds.base import ProbeDescriptor

SMOKE = ProbeDescriptor(
    kind=ProbeKind.SMOKE,
    spec_path=("probes", "smoke"),
    field="smoke",
    title="Smoke test",
    label="smoke test",
    trigger=Trigger.SMOKE_TEST_FAILED,
    runs=False,
)
