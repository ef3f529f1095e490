"""The kopf internals that controller/kopf_workarounds relies on, as kopf 1.45
has them. Each test names the internal it checks: when one fails after a kopf
upgrade, re-read that workaround against the new kopf before changing the pin.

No cluster: kopf's own code is read (its source, its signatures) or run alone.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import aiohttp
import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import auth as kopf_auth
from kopf._core.actions import execution as kopf_execution
from kopf._core.actions import loggers as kopf_loggers
from kopf._core.reactor import inventory as kopf_inventory
from kopf._core.reactor import processing as kopf_processing
from kopf._core.reactor import queueing as kopf_queueing

from deploymentgate.controller import handlers, kopf_workarounds
from deploymentgate.controller.apihealth import NO_ANSWER_NAMES
from deploymentgate.controller.kopf_workarounds import session, toggles
from deploymentgate.controller.kopf_workarounds.diffbase import NoDiffBase
from deploymentgate.controller.kopf_workarounds.log_filters import (
    KOPF_OBJECTS_LOGGER,
    KOPF_RETRY,
    KOPF_SUCCEEDED,
)
from deploymentgate.controller.kopf_workarounds.memo import SharedMemo

ROOT = Path(__file__).resolve().parents[2]


def shape(function: Callable[..., Any]) -> str:
    """A function's code, formatting and comments aside."""
    return ast.dump(ast.parse(textwrap.dedent(inspect.getsource(function))))


def keywords_of_calls(function: Callable[..., Any], callee: str) -> list[set[str]]:
    """The keyword names of each call to `callee` (a name or attribute) in `function`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name == callee:
                found.append({k.arg for k in node.keywords if k.arg is not None})
    return found


# -- the version ----------------------------------------------------------------


def test_the_installed_kopf_is_the_series_the_workarounds_were_written_for() -> None:
    version = metadata.version("kopf")
    assert version.startswith(f"{kopf_workarounds.KOPF_SERIES}."), (
        f"kopf {version} is installed; controller/kopf_workarounds was written for"
        f" kopf {kopf_workarounds.KOPF_SERIES}: re-check every workaround, then its KOPF_SERIES"
    )


def test_pyproject_allows_only_that_series() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    kopf_pins = [d for d in project["dependencies"] if d.startswith("kopf")]
    major, minor = kopf_workarounds.KOPF_SERIES.split(".")
    assert len(kopf_pins) == 1 and kopf_pins[0].endswith(f",<{major}.{int(minor) + 1}")
    assert kopf_pins[0].startswith(f"kopf>={kopf_workarounds.KOPF_SERIES}")


# -- toggles: kopf._cogs.aiokits.aiotoggles.ToggleSet (private) --------------------

# kopf 1.45's own ToggleSet.make_toggle and drop_toggle, which toggles.py replaces
# by the same code that notifies only when the set's aggregate state flips.
KOPF_MAKE_TOGGLE = """
async def make_toggle(
        self,
        __val: bool = False,
        *,
        name: str | None = None,
) -> Toggle:
    toggle = Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        self._toggles.add(toggle)
        self._condition.notify_all()
    return toggle
"""
KOPF_DROP_TOGGLE = """
async def drop_toggle(self, toggle: Toggle) -> None:
    async with self._condition:
        self._toggles.discard(toggle)
        self._condition.notify_all()
"""


@pytest.mark.parametrize(
    ("name", "expected"), [("make_toggle", KOPF_MAKE_TOGGLE), ("drop_toggle", KOPF_DROP_TOGGLE)]
)
def test_kopfs_toggleset_methods_are_the_ones_the_fix_replaces(name: str, expected: str) -> None:
    original = toggles.ORIGINALS[name]
    assert original is not None, f"kopf._cogs.aiokits.aiotoggles.ToggleSet.{name} is gone"
    assert shape(original) == ast.dump(ast.parse(expected)), (
        f"kopf._cogs.aiokits.aiotoggles.ToggleSet.{name} changed: kopf_workarounds/toggles.py"
        " replaces it with a copy of the old code"
    )
    replacement = {"make_toggle": toggles._make_toggle, "drop_toggle": toggles._drop_toggle}[name]
    assert parameters(replacement) == parameters(original), (  # type: ignore[arg-type]
        f"kopf._cogs.aiokits.aiotoggles.ToggleSet.{name}'s parameters changed"
    )


def parameters(function: Callable[..., Any]) -> list[tuple[str, object, object]]:
    """Name (without the class's private-name prefix), kind and default of each."""
    return [
        (p.name.removeprefix("_ToggleSet"), p.kind, p.default)
        for p in inspect.signature(function).parameters.values()
    ]


async def test_kopfs_toggleset_keeps_the_private_fields_the_fix_reads() -> None:
    toggleset = aiotoggles.ToggleSet(all)
    assert isinstance(getattr(toggleset, "_condition", None), asyncio.Condition), (
        "kopf._cogs.aiokits.aiotoggles.ToggleSet._condition is no longer an asyncio.Condition"
    )
    assert isinstance(getattr(toggleset, "_toggles", None), set), (
        "kopf._cogs.aiokits.aiotoggles.ToggleSet._toggles is no longer a set"
    )
    assert callable(getattr(toggleset, "is_on", None)), "ToggleSet.is_on is gone"
    toggle = aiotoggles.Toggle(False, name="x", condition=toggleset._condition)
    assert toggle._condition is toggleset._condition, "Toggle(condition=...) is not shared"


def test_kopf_still_waits_for_its_indexes_with_toggles() -> None:
    """The fix is aimed at kopf's start-up barrier: one toggle per indexed object."""
    assert "operator_indexed.make_toggle(" in inspect.getsource(kopf_queueing), (
        "kopf._core.reactor.queueing no longer makes a toggle per object: the start-up"
        " fix in kopf_workarounds/toggles.py may no longer be needed, or not enough"
    )
    assert "operator_indexed.drop_toggle(" in inspect.getsource(kopf_processing), (
        "kopf._core.reactor.processing no longer drops a toggle per indexed object"
    )


# -- log_filters: the text of kopf's log lines -----------------------------------


@pytest.mark.parametrize("how", ["will retry", "escalating"])
def test_kopfs_retry_lines_are_still_recognised(how: str) -> None:
    source = inspect.getsource(kopf_api.request)
    template = f"Request attempt {{idx}} failed; {how}: {{what}} -> {{e!r}}"
    assert template in source, f"kopf._cogs.clients.api.request no longer logs {template!r}"
    assert 'idx = f"#{retry}/{count}"' in source, "kopf's attempt counter changed its format"
    key = type("Key", (), {"ssl": None, "host": "127.0.0.1", "port": 6443})()
    e = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))
    line = template.replace("{e!r}", repr(e)).format(idx="#2/9", what="GET https://x/api")
    found = KOPF_RETRY.search(line)
    assert found is not None and found.group(1) in NO_ANSWER_NAMES, line


def test_kopfs_success_lines_are_still_recognised() -> None:
    source = inspect.getsource(kopf_execution)
    assert 'logger.info(f"{handler} succeeded.")' in source, (
        "kopf._core.actions.execution no longer logs '<handler> succeeded.'"
    )
    assert kopf_loggers.logger.name == KOPF_OBJECTS_LOGGER, (
        "kopf._core.actions.loggers' per-object logger changed its name"
    )
    for kind in (handlers.registry._spawning, handlers.registry._changing):
        for handler in kind.get_all_handlers():
            line = f"{handler} succeeded."
            assert KOPF_SUCCEEDED.fullmatch(line), f"a handler's str() changed: {line!r}"


# -- memo: kopf._core.reactor.inventory copies the memo per object ----------------


class Memo(SharedMemo):
    def __init__(self) -> None:
        self.seen: list[str] = []


async def test_kopfs_per_object_memo_is_the_shared_memo_itself() -> None:
    memories = kopf_inventory.ResourceMemories()
    body = {"metadata": {"uid": "u-1", "name": "a", "namespace": "ns"}}
    shared = Memo()
    memory = await memories.recall(body, memobase=shared)  # type: ignore[arg-type]
    assert memory.memo is cast(object, shared), (
        "kopf._core.reactor.inventory no longer copy.copy()s the memo"
    )
    plain = kopf.Memo()
    other = await kopf_inventory.ResourceMemories().recall(body, memobase=plain)  # type: ignore[arg-type]
    assert other.memo is not cast(object, plain), (
        "kopf._core.reactor.inventory no longer copies the memo per object:"
        " kopf_workarounds/memo.py (SharedMemo) may go"
    )


# -- diffbase: kopf.DiffBaseStorage ----------------------------------------------


@pytest.mark.parametrize("method", ["build", "fetch", "store"])
def test_no_diff_base_implements_kopfs_storage_interface(method: str) -> None:
    ours = inspect.signature(getattr(NoDiffBase, method))
    kopfs = inspect.signature(getattr(kopf.DiffBaseStorage, method))
    assert list(ours.parameters) == list(kopfs.parameters), (
        f"kopf.DiffBaseStorage.{method}'s parameters changed: {kopfs}"
    )
    NoDiffBase()  # kopf added no abstract method


# -- session: kopf._cogs.clients.auth.APIContext builds kopf's own session --------


def test_the_bounded_session_is_built_as_kopf_builds_its_own() -> None:
    kopfs = kopf_auth.APIContext.__init__
    assert keywords_of_calls(kopfs, "ClientSession") == keywords_of_calls(
        session.bounded, "ClientSession"
    ), "kopf._cogs.clients.auth.APIContext builds its aiohttp session differently now"
    assert keywords_of_calls(kopfs, "TCPConnector") == [{"limit", "ssl"}], (
        "kopf._cogs.clients.auth.APIContext's TCPConnector takes other arguments now"
    )
    assert "self.session = info.aiohttp_session" in inspect.getsource(kopfs), (
        "kopf._cogs.clients.auth.APIContext no longer uses a login's AiohttpSession as is"
    )
    fields = set(kopf.AiohttpSession.__dataclass_fields__)
    assert keywords_of_calls(session.bounded, "AiohttpSession") == [fields], (
        f"kopf.AiohttpSession's fields changed: {sorted(fields)}"
    )
