"""Seed §10 and §8: the sign-offs and required gates a verified revision waits for."""

from __future__ import annotations

from deploymentgate.core.inputs import APPROVED_BY_ANNOTATION, APPROVED_REVISION_ANNOTATION
from deploymentgate.core.run import Run
from deploymentgate.models import Phase


def sign_off_pending(run: Run) -> list[str]:
    """Approvals and required gates still missing before traffic may move."""
    st, spec, obs = run.status, run.gate_spec, run.obs
    out = []
    required = spec.approvals.required if spec.approvals else []
    approved = obs.approved_by if obs.approved_revision == st.revision else frozenset()
    missing = [name for name in required if name not in approved]
    if missing:
        out.append(
            f"approval by {', '.join(missing)} (annotate the gate"
            f" {APPROVED_BY_ANNOTATION}=<names> {APPROVED_REVISION_ANNOTATION}={st.revision})"
        )
    for req in spec.requires:
        other = obs.required_gates.get(req.gate)
        if other is None:
            out.append(f"gate {req.gate} (not found)")
        elif other.phase not in (Phase.IDLE, Phase.PROMOTED):
            out.append(f"gate {req.gate} (is {other.phase.value if other.phase else 'new'})")
        elif req.same_image and sorted(other.stable_images) != sorted(st.images):
            out.append(f"gate {req.gate} to promote {', '.join(st.images) or 'the same images'}")
    return out
