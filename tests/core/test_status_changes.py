"""`Run.set` is typed by `StatusChanges`: it must name every status field, typed as
the status declares it, or a field would be unsettable or mistyped for mypy."""

from __future__ import annotations

import typing

from deploymentgate.models import GateStatus, StatusChanges


def test_status_changes_name_every_status_field_with_its_type() -> None:
    changes = typing.get_type_hints(StatusChanges)
    status = typing.get_type_hints(GateStatus)
    assert set(changes) == set(GateStatus.model_fields)
    assert {name: changes[name] for name in changes} == {name: status[name] for name in changes}
    assert not StatusChanges.__required_keys__, "every change is optional"
