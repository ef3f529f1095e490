"""Notifications: a message to Slack-compatible or generic JSON webhooks when a
gate enters AwaitingApproval, Promoted, RolledBack or Blocked.

`payloads` is pure (what a message says), `targets` reads the configuration,
`sender` posts in the background with bounded retries, and `Notifier` is the
one call the reconcile makes after its status write.
"""

from deploymentgate.notify.notifier import Notifier
from deploymentgate.notify.payloads import (
    NOTIFY_PHASES,
    Step,
    Transition,
    changes,
    json_payload,
    notifications,
    slack_payload,
)
from deploymentgate.notify.sender import RetryPolicy, WebhookSender
from deploymentgate.notify.targets import (
    SecretRef,
    WebhookConfigError,
    WebhookTarget,
    gate_webhooks,
    operator_webhooks,
)

__all__ = [
    "NOTIFY_PHASES",
    "Notifier",
    "RetryPolicy",
    "SecretRef",
    "Step",
    "Transition",
    "WebhookConfigError",
    "WebhookSender",
    "WebhookTarget",
    "changes",
    "gate_webhooks",
    "json_payload",
    "notifications",
    "operator_webhooks",
    "slack_payload",
]
