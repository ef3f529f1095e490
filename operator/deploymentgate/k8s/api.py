"""The few Kubernetes calls the operator makes, async, returning plain dicts.

Everything goes through the generic object API of `kubernetes.aio`, so the
operator needs no typed models and the RBAC it uses is easy to read off here:
deployments get/create/patch/delete and deployments/scale patch in the gate's
namespace, deploymentgates get, deploymentgates/status patch.
"""

from __future__ import annotations

from typing import Any

from kubernetes.aio import client as kclient
from kubernetes.aio import config as kconfig
from kubernetes.aio.client.exceptions import ApiException

from deploymentgate.models import API_GROUP, API_VERSION, PLURAL

FIELD_MANAGER = "deploymentgate"
_APPLY = "application/apply-patch+yaml"
_MERGE = "application/merge-patch+json"


class Conflict(Exception):
    """The object changed since it was read; re-read and decide again."""


class NotFound(Exception):
    pass


def _as_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object from the API, got {type(value).__name__}")
    return value


def _translate(exc: ApiException) -> Exception:
    if exc.status == 409:
        return Conflict(str(exc.reason))
    if exc.status == 404:
        return NotFound(str(exc.reason))
    return exc


async def load_client(kubeconfig: str | None = None) -> kclient.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig."""
    configuration = kclient.Configuration()
    if kubeconfig is None:
        try:
            kconfig.load_incluster_config(client_configuration=configuration)
            return kclient.ApiClient(configuration)
        except kconfig.ConfigException:
            pass
    await kconfig.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return kclient.ApiClient(configuration)


class KubeApi:
    def __init__(self, api_client: kclient.ApiClient) -> None:
        self.api_client = api_client
        self.objects = kclient.CustomObjectsApi(api_client)

    async def close(self) -> None:
        await self.api_client.close()

    # -- gates ---------------------------------------------------------------

    async def get_gate(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            return _as_dict(
                await self.objects.get_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, PLURAL, name
                )
            )
        except ApiException as exc:
            raise _translate(exc) from exc

    async def patch_gate_status(
        self, namespace: str, name: str, resource_version: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch status, only if nobody wrote the gate since `resource_version`.

        A resourceVersion in a patch is a precondition: the API server answers
        409 Conflict when the object has moved on, and the caller re-reads.
        """
        body = {"metadata": {"resourceVersion": resource_version}, "status": patch}
        try:
            return _as_dict(
                await self.objects.patch_namespaced_custom_object_status(
                    API_GROUP, API_VERSION, namespace, PLURAL, name, body, _content_type=_MERGE
                )
            )
        except ApiException as exc:
            raise _translate(exc) from exc

    # -- deployments ---------------------------------------------------------

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _as_dict(
                await self.objects.get_namespaced_custom_object(
                    "apps", "v1", namespace, "deployments", name
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def find_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A live read through `list` (the verb the watch already needs)."""
        try:
            found = _as_dict(
                await self.objects.list_namespaced_custom_object(
                    "apps", "v1", namespace, "deployments", field_selector=f"metadata.name={name}"
                )
            )
        except ApiException as exc:
            raise _translate(exc) from exc
        items = found.get("items") or []
        if not items:
            return None
        item = dict(items[0])
        item.setdefault("apiVersion", "apps/v1")
        item.setdefault("kind", "Deployment")
        return item

    async def apply_deployment(self, body: dict[str, Any]) -> None:
        """Server-side apply: create or converge the operator-owned fields."""
        meta = body["metadata"]
        try:
            await self.objects.patch_namespaced_custom_object(
                "apps",
                "v1",
                meta["namespace"],
                "deployments",
                meta["name"],
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=_APPLY,
            )
        except ApiException as exc:
            raise _translate(exc) from exc

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        try:
            await self.objects.patch_namespaced_custom_object_scale(
                "apps",
                "v1",
                namespace,
                "deployments",
                name,
                {"spec": {"replicas": replicas}},
                _content_type=_MERGE,
            )
        except ApiException as exc:
            raise _translate(exc) from exc

    async def set_deployment_template(
        self, namespace: str, name: str, template: dict[str, Any]
    ) -> None:
        """Restore a template, as `kubectl rollout undo` would."""
        try:
            await self.objects.patch_namespaced_custom_object(
                "apps",
                "v1",
                namespace,
                "deployments",
                name,
                [{"op": "replace", "path": "/spec/template", "value": template}],
                _content_type="application/json-patch+json",
            )
        except ApiException as exc:
            raise _translate(exc) from exc

    async def delete_deployment(self, namespace: str, name: str) -> None:
        try:
            await self.objects.delete_namespaced_custom_object(
                "apps", "v1", namespace, "deployments", name, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
