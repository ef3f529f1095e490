"""The operator's one kopf registry, and the resource most handlers watch.

Each module of handlers registers into `registry` when it is imported;
`controller.handlers` imports them all, and is what the operator runs.
"""

from __future__ import annotations

import kopf

from deploymentgate.models import API_GROUP, API_VERSION, PLURAL

registry = kopf.OperatorRegistry()
GATES = (API_GROUP, API_VERSION, PLURAL)
