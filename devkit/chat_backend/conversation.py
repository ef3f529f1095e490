"""What the backend sends over the WebSocket for one user message.

Kept free of I/O so each mode's event sequence can be checked directly; the
handler in `app` only sends what the plan says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chat_backend.modes import Knobs, Mode

AGENT_STARTED = "agent_started"
AGENT_THINKING = "agent_thinking"
TOOL_EXECUTING = "tool_executing"
TOOL_COMPLETED = "tool_completed"
AGENT_COMPLETED = "agent_completed"
ERROR = "error"
CONNECTION_ESTABLISHED = "connection_established"

# The seed §2 mandatory events, in the order an agent run produces them.
AGENT_EVENTS: tuple[str, ...] = (
    AGENT_STARTED,
    AGENT_THINKING,
    TOOL_EXECUTING,
    TOOL_COMPLETED,
    AGENT_COMPLETED,
)

FAIL_TOOL_TRIGGER = "fail tool"
TOOL_NAME = "search_knowledge_base"


@dataclass(frozen=True)
class ReplyPlan:
    events: tuple[str, ...]
    gap_seconds: float = 0.0  # wait before each event
    drop_after: str | None = None  # close the connection abnormally right after this event


def plan_reply(mode: Mode, knobs: Knobs, text: str) -> ReplyPlan:
    events = list(AGENT_EVENTS)
    if FAIL_TOOL_TRIGGER in text.lower():
        events[events.index(TOOL_COMPLETED)] = ERROR
    if mode is Mode.WS_MISSING_EVENT and TOOL_COMPLETED in events:
        events.remove(TOOL_COMPLETED)
    gap = knobs.ws_event_gap_seconds if mode is Mode.WS_SLOW_EVENTS else 0.0
    drop = AGENT_THINKING if mode is Mode.WS_DROPS else None
    return ReplyPlan(events=tuple(events), gap_seconds=gap, drop_after=drop)


def event_details(event: str, text: str) -> dict[str, Any]:
    """The event-specific fields a chat UI would render."""
    if event == AGENT_THINKING:
        return {"thought": "Looking up an answer"}
    if event == TOOL_EXECUTING:
        return {"tool": TOOL_NAME}
    if event == TOOL_COMPLETED:
        return {"tool": TOOL_NAME, "result": "1 document found"}
    if event == ERROR:
        return {"tool": TOOL_NAME, "error": "tool execution failed (simulated)"}
    if event == AGENT_COMPLETED:
        return {"text": reply_text(text)}
    return {}


def reply_text(text: str) -> str:
    return f"You said: {text}"


def parse_client_message(raw: str) -> tuple[str, str | None] | str:
    """Return (text, client message_id) for a user_message, else the error to report."""
    try:
        message = json.loads(raw)
    except ValueError:
        return "message is not valid JSON"
    if not isinstance(message, dict):
        return "message must be a JSON object"
    kind = message.get("type")
    if kind != "user_message":
        return f"unknown message type {kind!r}"
    text = message.get("text")
    if not isinstance(text, str):
        return "user_message needs a string 'text'"
    message_id = message.get("message_id")
    return text, message_id if isinstance(message_id, str) and message_id else None
