"""Filling a gate's PromQL template with the rollout's facts.

Placeholders, replaced wherever they appear in `errorRate.query` (the metric
checks' queries take the same but {window}, each writes its own range, and
{stable_revision} and {stable_pod_regex}, the same of the stable revision):

    {namespace}  the gate's namespace
    {service}    spec.service
    {revision}   pod-template hash of the revision under test
    {pod_regex}  a regular expression matching the pods of that revision
    {window}     errorRate.window as a PromQL duration (e.g. 1m, 90s)

Values are escaped for a double-quoted PromQL string, so the template writes
them inside quotes: ``http_requests_total{namespace="{namespace}",
pod=~"{pod_regex}"}``. Other braces (label matchers) are left alone, which is
why this is not `str.format`. An unknown ``{name}`` is an error, not a silent
literal, because a typo would otherwise query the wrong series.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta

PLACEHOLDERS = ("namespace", "service", "revision", "pod_regex", "window")

# `{name}` where name is an identifier and the braces hold nothing else: a
# label matcher such as `{job="x"}` never matches this.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REGEX_SPECIAL = re.compile(r"([^A-Za-z0-9-])")


class QueryTemplateError(ValueError):
    """The template names a placeholder that does not exist."""


def promql_string(value: str) -> str:
    """Escape for the inside of a double-quoted PromQL string literal."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    return out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def promql_duration(value: timedelta) -> str:
    ms = round(value.total_seconds() * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def pod_regex(names: Iterable[str]) -> str:
    """A regular expression matching exactly these pods (PromQL anchors it); a
    pod name's dots (and anything but letters, digits and dashes) are escaped."""
    return "|".join(sorted(_REGEX_SPECIAL.sub(r"\\\1", n) for n in names if n))


def render_query(template: str, values: Mapping[str, str | None]) -> str:
    """Fill the template; its placeholders are the keys of `values` (each caller's own).

    A value None has no value now (e.g. no stable pods): a query naming it is an
    error, never one with an empty string in its place (which would match other series).
    """
    used = set(_PLACEHOLDER.findall(template))
    unknown = sorted(m for m in used if m not in values)
    if unknown:
        raise QueryTemplateError(
            f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} in query; "
            f"available: {', '.join('{' + p + '}' for p in values)}"
        )
    empty = sorted(m for m in used if values[m] is None)
    if empty:
        raise QueryTemplateError(
            f"{', '.join('{' + e + '}' for e in empty)} has no value now (no such pods yet)"
        )

    def substitute(match: re.Match[str]) -> str:
        return promql_string(values[match.group(1)] or "")

    return _PLACEHOLDER.sub(substitute, template)
