"""Hypothesis strategies derived from the CRD's openAPIV3Schema.

Walks the generated schema (types, enums, patterns, minimum/maximum,
min/maxLength, min/maxItems, maxProperties, nullable, required) so that the
values are what the API server would store. CEL rules the strategies know
how to satisfy are honoured too: duration bounds (`duration(self) <= ...`),
the strictly ascending steps rule and the timestamp range; other CEL rules
(cross-field ones) are left to chance, and the models must then answer
Invalid rather than raise.
"""

from __future__ import annotations

import re
import re._constants as _sre_constants
import re._parser as _sre
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from deploymentgate.durations import format_duration, parse_duration

# Long strings and lists cost time and find nothing new past a point; every
# cap still lies within the schema's bound, so values stay schema-valid.
TEXT_CAP = 80
ITEMS_CAP = 4

_DURATION_BOUND = re.compile(r"duration\(self\) (<=|>=|>) duration\('([^']+)'\)")
_TIME_BOUND = re.compile(r"timestamp\('([^']+)'\)")


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    strategy = _strategy(node)
    if node.get("nullable"):
        return st.one_of(st.none(), strategy)
    return strategy


def _rules(node: dict[str, Any]) -> list[str]:
    return [str(r["rule"]) for r in node.get("x-kubernetes-validations", [])]


def _strategy(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        return _object(node)
    if kind == "array":
        return _array(node)
    if kind == "string":
        return _string(node)
    if kind == "integer":
        return st.integers(node.get("minimum"), node.get("maximum"))
    if kind == "number":
        return st.floats(node.get("minimum"), node.get("maximum"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"the CRD has a node the strategies do not know: {node}")


def _object(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    props = node.get("properties")
    if props is not None:
        required = set(node.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    size = min(node.get("maxProperties", ITEMS_CAP), ITEMS_CAP)
    keys = st.text(min_size=1, max_size=20)
    if "additionalProperties" in node:
        return st.dictionaries(keys, from_schema(node["additionalProperties"]), max_size=size)
    # x-kubernetes-preserve-unknown-fields: any JSON, nested
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    json = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=6,
    )
    return st.dictionaries(keys, json, max_size=size)


def _array(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = node.get("minItems", 0)
    high = max(low, min(node.get("maxItems", ITEMS_CAP), ITEMS_CAP))
    items = from_schema(node["items"])
    if any("isSorted()" in rule for rule in _rules(node)):  # strictly ascending, unique
        return st.lists(items, min_size=low, max_size=high, unique=True).map(sorted)
    if node.get("x-kubernetes-list-type") == "set":
        return st.lists(items, min_size=low, max_size=high, unique=True)
    keys = node.get("x-kubernetes-list-map-keys")
    if keys:
        return st.lists(
            items, min_size=low, max_size=high, unique_by=lambda x: tuple(x.get(k) for k in keys)
        )
    return st.lists(items, min_size=low, max_size=high)


def _string(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = node.get("minLength", 0)
    high = node.get("maxLength", TEXT_CAP)
    if node.get("format") == "date-time":
        return _timestamp(node)
    if any("duration(self)" in rule for rule in _rules(node)):
        return _duration(node)
    if "pattern" in node:
        return _matching(node["pattern"]).filter(lambda s: low <= len(s) <= high)
    return st.text(min_size=low, max_size=max(low, min(high, TEXT_CAP)))


REPEAT_CAP = 12
_PRINTABLE = [chr(c) for c in range(0x21, 0x7F)]  # what \\S and negated sets draw from


def _matching(pattern: str) -> st.SearchStrategy[str]:
    """Strings of the pattern's language, with repeats capped at REPEAT_CAP.

    A subset of what the pattern admits, so still schema-valid. Compiled here
    from the parsed pattern because hypothesis' general regex strategy costs
    milliseconds a draw, too slow for a thousand specs of dozens of patterns.
    """
    try:
        return _compile(_sre.parse(pattern))
    except NotImplementedError:
        return st.from_regex(pattern, fullmatch=True)


def _compile(parsed: Any) -> st.SearchStrategy[str]:
    parts = [_node(op, arg) for op, arg in parsed]
    parts = [p for p in parts if p is not None]
    return st.tuples(*parts).map("".join) if parts else st.just("")


def _node(op: Any, arg: Any) -> st.SearchStrategy[str] | None:
    c = _sre_constants
    if op is c.AT:
        return None  # ^ and $: the whole string is generated anyway
    if op is c.LITERAL:
        return st.just(chr(arg))
    if op is c.IN:
        return st.sampled_from(_charset(arg))
    if op is c.CATEGORY:
        return st.sampled_from(_charset(_items((op, arg))))
    if op is c.SUBPATTERN:
        return _compile(arg[-1])
    if op is c.BRANCH:
        return st.one_of(*[_compile(branch) for branch in arg[1]])
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, body = arg
        high = max(low, min(REPEAT_CAP, high) if high is not c.MAXREPEAT else REPEAT_CAP)
        if len(body) == 1 and body[0][0] in (c.IN, c.LITERAL, c.CATEGORY):
            # one string choice instead of one choice per character: much faster
            (item,) = body
            alphabet = [chr(item[1])] if item[0] is c.LITERAL else _charset(_items(item))
            return st.text(alphabet=alphabet, min_size=low, max_size=high)
        return st.lists(_compile(body), min_size=low, max_size=high).map("".join)
    raise NotImplementedError(op)


def _items(node: Any) -> Any:
    op, arg = node
    return arg if op is _sre_constants.IN else [node]


def _charset(items: Any) -> list[str]:
    c = _sre_constants
    negate = any(op is c.NEGATE for op, _ in items)
    chars: set[str] = set()
    for op, arg in items:
        if op is c.LITERAL:
            chars.add(chr(arg))
        elif op is c.RANGE:
            chars.update(chr(x) for x in range(arg[0], arg[1] + 1))
        elif op is c.CATEGORY:
            chars.update(ch for ch in _PRINTABLE if re.fullmatch(_CATEGORIES[arg], ch))
        elif op is not c.NEGATE:
            raise NotImplementedError(op)
    if negate:
        chars = set(_PRINTABLE) - chars
    return sorted(chars)


_CATEGORIES = {
    _sre_constants.CATEGORY_DIGIT: r"\d",
    _sre_constants.CATEGORY_NOT_DIGIT: r"\D",
    _sre_constants.CATEGORY_SPACE: r"\s",
    _sre_constants.CATEGORY_NOT_SPACE: r"\S",
    _sre_constants.CATEGORY_WORD: r"\w",
    _sre_constants.CATEGORY_NOT_WORD: r"\W",
}


def _duration(node: dict[str, Any]) -> st.SearchStrategy[str]:
    """Mostly within the field's CEL bounds; some spelled any way the pattern allows."""
    low, high = timedelta(0), timedelta(days=3650)
    for rule in _rules(node):
        for op, text in _DURATION_BOUND.findall(rule):
            bound = parse_duration(text)
            if op == "<=":
                high = bound
            elif op == ">=":
                low = bound
            else:
                low = bound + timedelta(milliseconds=1)
    ms = st.integers(
        round(low / timedelta(milliseconds=1)), round(high / timedelta(milliseconds=1))
    )
    within = ms.map(lambda n: format_duration(timedelta(milliseconds=n)))
    spelled = _matching(node["pattern"]).filter(lambda s: len(s) <= node.get("maxLength", 32))
    # Boundary values: the bounds themselves, just past the maximum, and the
    # largest numbers the pattern and maxLength admit (past any timedelta).
    longest = node.get("maxLength", 32)
    edges = st.sampled_from(
        [
            format_duration(low),
            format_duration(high),
            format_duration(high + timedelta(milliseconds=1)),
            "9" * (longest - 1) + "h",
            "99999999999h",
            "0.000001ms",
        ]
    )
    return st.one_of(within, within, within, within, spelled, edges)


def _timestamp(node: dict[str, Any]) -> st.SearchStrategy[str]:
    bounds = [
        datetime.fromisoformat(t.replace("Z", "+00:00"))
        for rule in _rules(node)
        for t in _TIME_BOUND.findall(rule)
    ]
    earliest = min(bounds, default=datetime(1970, 1, 1, tzinfo=UTC))
    latest = max(bounds, default=datetime(2200, 1, 1, tzinfo=UTC)) - timedelta(days=1)
    # Near "now" most of the time, so that time-based rules come due.
    near = st.datetimes(datetime(2026, 2, 28), datetime(2026, 3, 2), timezones=st.just(UTC))
    anywhere = st.datetimes(  # a day inside the bounds: offsets move the instant
        (earliest + timedelta(days=1)).replace(tzinfo=None),
        latest.replace(tzinfo=None),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
    edges = st.sampled_from([earliest, latest])
    return st.one_of(near, near, anywhere, edges).map(
        lambda t: t.isoformat().replace("+00:00", "Z")
    )
