"""Every kopf handler of the operator, one module per job; importing this
module registers them all into `registry`, which the runner hands to kopf.

- `settings`: kopf's settings, at start-up;
- `login`: the credentials, over a bounded connection pool;
- `indexes`: the twelve indexes of what gates look at, and `world_of`;
- `scheduling`: one loop per gate (a daemon) and when it runs next;
- `deletion`: the hand-back of traffic before a gate goes away.

A new module that registers a handler must be imported here, or kopf never
sees it: tests/controller/test_controller_handlers.py lists what must be registered.
Every rule is in `deploymentgate.core`.
"""

from __future__ import annotations

# isort: off
# In this order: kopf keeps each kind's handlers in the order they registered.
from deploymentgate.controller import settings
from deploymentgate.controller import login
from deploymentgate.controller import indexes
from deploymentgate.controller import scheduling
from deploymentgate.controller import deletion

# isort: on
from deploymentgate.controller.registry import registry

MODULES = (settings, login, indexes, scheduling, deletion)

__all__ = ["MODULES", "registry"]
