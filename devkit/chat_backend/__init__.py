"""Reference chat backend: the service DeploymentGate verifies.

It implements the seed checklist's contract (phased startup, /health, the
WebSocket agent events, metrics) and can misbehave on purpose, one way per
mode, so every probe and rollback trigger can be exercised against a real
server.
"""

from chat_backend.modes import Mode

__all__ = ["Mode"]
