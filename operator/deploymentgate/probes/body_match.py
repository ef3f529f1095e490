"""Does a JSON body contain what the gate expects? (subset match)

Teams write ``expectBody: {status: healthy}`` without repeating every field a
health endpoint returns, so extra fields are fine and nested objects match
the same way; lists and scalars must be equal.
"""

from __future__ import annotations

from typing import Any


def body_mismatches(expected: dict[str, Any], actual: Any, prefix: str = "") -> list[str]:
    """One line per expected field that is missing or different; empty when it matches."""
    if not isinstance(actual, dict):
        return [f"{prefix or 'body'} is not an object"]
    problems: list[str] = []
    for key, want in expected.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in actual:
            problems.append(f"{path} missing (expected {want!r})")
            continue
        got = actual[key]
        if isinstance(want, dict):
            problems.extend(body_mismatches(want, got, path))
        elif not _equal(want, got):
            problems.append(f"{path}={_short(got)} (expected {want!r})")
    return problems


def _equal(want: Any, got: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got  # True is not 1 here
    return bool(want == got)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
