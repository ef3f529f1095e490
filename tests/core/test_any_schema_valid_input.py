"""No input the API server would store crashes the operator (issue 9, item 4).

Specs and stored statuses are generated from the CRD itself (both are
user-writable: the status through the status subresource) and run through
what every reconcile does: read the spec, read the status, `decide`. Zero
exceptions; a spec the models cannot use is Invalid naming a field; the status
the core writes back is one the API server would accept.

Only the public core API is used (read_spec, parse_status, decide,
Observations with defaults), so the test outlives rewrites of the phases.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_check import errors
from schema_strategies import from_schema

from deploymentgate.core import Observations, ServiceState, decide, read_spec
from deploymentgate.core.inputs import Conflict, ConflictCause, Holder
from deploymentgate.manifests import crdgen
from deploymentgate.models import Phase, dump, parse_status
from deploymentgate.observations import WorkloadState

ROOT = crdgen.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
SPEC_SCHEMA = ROOT["properties"]["spec"]
STATUS_SCHEMA = ROOT["properties"]["status"]
EXAMPLES = 1000
BUDGET_SECONDS = 60.0
CONFLICT = Conflict(ConflictCause.NOT_OWNED, "Deployment", "default", "x", "gate")

specs = from_schema(SPEC_SCHEMA)
statuses = from_schema(STATUS_SCHEMA)
nows = st.datetimes(datetime(2026, 2, 28), datetime(2026, 3, 3), timezones=st.just(UTC))


@st.composite
def worlds(draw: st.DrawFn, status: dict[str, Any]) -> dict[str, Any]:
    """The team's Deployment, the gate's serving Deployments, its verification
    Deployment and Service, with revisions the status talks about, often."""
    revisions = st.sampled_from(
        [status.get("revision"), status.get("stableRevision"), "rev-new", None]
    )
    counts = st.integers(0, 12)

    def workload(exists: st.SearchStrategy[bool]) -> WorkloadState:
        return WorkloadState(
            exists=draw(exists),
            revision=draw(revisions),
            replicas=draw(counts),
            ready=draw(counts),
            updated=draw(counts),
            observed=draw(st.booleans()),
        )

    serving = {}
    for _ in range(draw(st.integers(0, 3))):
        found = workload(st.just(True))
        if found.revision is not None:
            serving[found.revision] = found
    return {
        "target": workload(st.booleans() | st.just(True)),
        "serving": serving,
        "verification": workload(st.booleans()),
        "service": ServiceState(exists=draw(st.booleans()), gated=draw(st.booleans())),
        "conflicts": draw(st.sampled_from([(), (CONFLICT,)])),
        "held_by": draw(st.sampled_from([None, None, Holder("default", "other")])),
        "deleting": draw(st.sampled_from([False, False, False, True])),
    }


def test_the_strategies_generate_what_the_schema_admits() -> None:
    # The strategies are derived from the schema; here the schema checks them back.
    @settings(
        max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(specs, statuses)
    def check(raw_spec: dict[str, Any], raw_status: dict[str, Any]) -> None:
        assert errors(SPEC_SCHEMA, raw_spec, "spec") == []
        assert errors(STATUS_SCHEMA, raw_status, "status") == []

    check()


@pytest.mark.timeout(300)  # wall clock, on a loaded machine; CPU is bounded below
def test_any_schema_valid_spec_and_status_decide_without_an_exception() -> None:
    seen: dict[str, Any] = {"runs": 0, "valid": 0, "invalid": 0, "phases": set()}
    started = time.process_time()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,  # the whole run is bounded below instead
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(specs, statuses, nows, st.data())
    def run(raw_spec: dict[str, Any], raw_status: dict[str, Any], now: datetime, data: Any) -> None:
        spec, error = read_spec(raw_spec)
        assert (spec is None) == (error is not None)
        if error is not None:
            assert error.startswith("spec"), error  # names the field
        status = parse_status(raw_status)  # what the schema admits, the models read
        world = data.draw(worlds(raw_status))
        obs = Observations(**world, spec_error=error, generation=3)
        decision = decide(spec, status, obs, now)
        assert errors(STATUS_SCHEMA, dump(decision.status), "status") == []
        if spec is None and not obs.deleting:  # deleting: hand back, whatever the spec
            assert decision.status.phase is Phase.INVALID
        seen["runs"] += 1
        seen["valid" if spec is not None else "invalid"] += 1
        seen["phases"].add(decision.status.phase)

    run()
    elapsed = time.process_time() - started  # CPU: other agents share the machine
    assert seen["runs"] >= EXAMPLES
    # Both sides exercised: specs the core acts on, and specs it refuses.
    assert seen["valid"] >= EXAMPLES // 10 and seen["invalid"] >= 1, seen
    assert len(seen["phases"]) >= 4, seen
    assert elapsed < BUDGET_SECONDS, f"{EXAMPLES} examples took {elapsed:.0f}s of CPU"


def test_a_far_future_stored_time_is_refused_by_schema_and_models() -> None:
    raw = {"phase": "Verifying", "phaseSince": "9999-12-31T23:59:59Z"}
    assert errors(STATUS_SCHEMA, raw, "status") == []  # the pattern alone admits it ...
    rules = STATUS_SCHEMA["properties"]["phaseSince"]["x-kubernetes-validations"]
    assert "timestamp('2200-01-01T00:00:00Z')" in rules[0]["rule"]  # ... the CEL rule does not
    try:
        parse_status(raw)
    except ValueError as exc:
        assert "phaseSince" in str(exc)
    else:
        raise AssertionError("a year-9999 phaseSince was accepted by the models")


def test_a_naive_stored_time_is_read_as_utc() -> None:
    status = parse_status({"phase": "Verifying", "phaseSince": "2026-03-01T12:00:00"})
    assert status.phase_since == datetime(2026, 3, 1, 12, tzinfo=UTC)
    now = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    decide(None, status, Observations(target=WorkloadState(exists=True)), now + timedelta(0))
