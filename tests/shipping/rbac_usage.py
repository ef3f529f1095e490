"""Recorded API calls against the chart's RBAC rules: what was used, what was not."""

from __future__ import annotations

import re
from collections.abc import Iterable

from api_recorder import ApiCall
from chart_install import Rule

# Lines of the operator's log that mean the API server refused it something
# (kopf says "Not enough permissions" when it falls back after a 403).
REFUSAL = re.compile(r"\b403\b|forbidden|not enough permissions", re.IGNORECASE)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+ ")

# Resources only the operator touches in these tests, so their 403 count on
# the API server's own metrics is the operator's (the controller manager's
# writes into terminating namespaces also count as 403s, elsewhere).
OPERATOR_ONLY = ('group="rollout.deploymentgate.dev"', 'group="kopf.dev"', 'subresource="scale"')


# Not an RBAC answer: nothing may be created in a namespace being deleted (an
# all-namespaces operator may meet one left by another test).
TERMINATING = "because it is being terminated"


def refusals_in_log(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if REFUSAL.search(TIMESTAMP.sub("", line)) and TERMINATING not in line
    ]


def refused_calls(calls: Iterable[ApiCall]) -> list[ApiCall]:
    """Calls the API server denied for lack of permission."""
    return [c for c in calls if c.status in (401, 403) and TERMINATING not in c.detail]


def authorized_uses(calls: Iterable[ApiCall]) -> set[tuple[str | None, str, str, str]]:
    """(namespace, group, resource, verb) of every call the API server let through.

    Any answer but 401/403 means authorization passed (a 404 or 409 comes after it).
    """
    used: set[tuple[str | None, str, str, str]] = set()
    for call in calls:
        target = call.target
        if target is None or call.status in (401, 403):
            continue
        for verb in call.verbs:
            used.add((target.namespace, target.group, target.resource, verb))
    return used


def unused_grants(rules: Iterable[Rule], calls: Iterable[ApiCall]) -> list[str]:
    """Every (rule, verb) no authorized call needed, as readable lines."""
    used = authorized_uses(calls)
    unused = []
    for rule in rules:
        for verb in sorted(rule.verbs):
            if not any(
                group == rule.group
                and resource == rule.resource
                and v == verb
                and (rule.scope == "*" or namespace == rule.scope)
                for namespace, group, resource, v in used
            ):
                where = "cluster-wide" if rule.scope == "*" else f"in {rule.scope}"
                unused.append(f"{verb} {rule.resource}.{rule.group or 'core'} ({where})")
    return unused


def operator_only_403s(metrics_text: str) -> float:
    """Sum of apiserver_request_total{code="403"} over OPERATOR_ONLY resources."""
    total = 0.0
    for line in metrics_text.splitlines():
        if not line.startswith("apiserver_request_total{") or 'code="403"' not in line:
            continue
        if any(marker in line for marker in OPERATOR_ONLY):
            total += float(line.rsplit(" ", 1)[1])
    return total
