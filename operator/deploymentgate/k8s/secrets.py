"""Reading one key of one Secret: the URL of a gate's notification webhook.

The only Secret access the operator has, and only when the chart grants it
(`notifications.secretNames`: `get` on those names, nothing else).
"""

from __future__ import annotations

import base64
import binascii

from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from deploymentgate.notify.targets import SecretRef


class SecretUnreadable(Exception):
    """Why a Secret's key could not be read; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class SecretReader:
    def __init__(self, api_client: kclient.ApiClient) -> None:
        self.core = kclient.CoreV1Api(api_client)

    async def __call__(self, ref: SecretRef) -> str:
        try:
            secret = await self.core.read_namespaced_secret(ref.name, ref.namespace)
        except ApiException as exc:
            if exc.status in (401, 403):
                raise SecretUnreadable(
                    "forbidden: the operator may read only the Secrets listed in the chart's"
                    " notifications.secretNames",
                    permanent=True,
                ) from None
            if exc.status == 404:
                raise SecretUnreadable("not found", permanent=False) from None
            raise SecretUnreadable(f"API error {exc.status}", permanent=False) from None
        data = secret.data or {}
        if ref.key not in data:
            raise SecretUnreadable(f"has no key {ref.key}", permanent=False)
        try:
            return base64.b64decode(data[ref.key]).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            raise SecretUnreadable("value is not text", permanent=True) from None
