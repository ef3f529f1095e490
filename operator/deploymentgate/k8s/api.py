"""The few Kubernetes calls the operator makes, async, returning plain dicts.

One convention for errors: every call raises, and only the exceptions below
(`NotFound`, `Conflict`, or `ApiError` for anything else the API server
answers); nothing returns None for "absent". Callers that find "already gone"
fine say so where they call.

Calls on the objects the gate owns carry that ownership as a precondition
checked by the API server in the same request (a JSON patch whose first ops
`test` the object's uid and its controller reference, or a delete with a uid
precondition), so an object replaced since it was observed is never touched.
Nothing is server-side applied: an owned object is created when absent and
converged by that guarded patch, and an object the gate does not own is never
written.

The RBAC this needs is easy to read off here: deployments list/create/patch/
delete and deployments/scale patch, services list/patch, deploymentgates get
and deploymentgates/status patch (plus the watches of the indexes); with
a router's adapter also what that router reads and writes (see
deploymentgate.controller.routers and the chart's RBAC); for smoke tests jobs
list/watch/create/delete, and pods/log get (the log tail of a finished one).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes.aio import client as kclient
from kubernetes.aio import config as kconfig
from kubernetes.aio.client.exceptions import ApiException

from deploymentgate.models import API_GROUP, API_VERSION, PLURAL

_MERGE = "application/merge-patch+json"
_HPAS = "horizontalpodautoscalers"
_JSON_PATCH = "application/json-patch+json"


class ApiError(Exception):
    """The API server refused a call; `status` is its HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    """The object changed since it was read (or was replaced); re-read and decide again."""


class NotOwned(Exception):
    """An object at one of the gate's names is not the gate's: it is never written."""


def _status(exc: ApiException) -> dict[str, Any]:
    try:
        status = json.loads(exc.body or "")
    except (ValueError, TypeError):
        return {}
    return status if isinstance(status, dict) else {}


def translate(exc: ApiException) -> ApiError:
    """The one translation of the client's exceptions."""
    body = _status(exc)
    status, message = int(exc.status or 0), str(body.get("message") or exc.reason or "")
    if status == 404:
        return NotFound(status, message)
    if status == 409:
        return Conflict(status, message)
    if status == 422 and not body.get("details"):
        # A JSON patch that could not be applied (no validation causes): our
        # patches fail so only when a `test` op failed, i.e. the object is not
        # the one observed (another uid, or no longer controlled by the gate).
        return Conflict(status, f"{message} (the object changed since it was observed)")
    return ApiError(status, message)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        raise translate(exc) from exc


def _as_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object from the API, got {type(value).__name__}")
    return value


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


def _session_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """The client would look up proxy variables and parse ~/.netrc on every
    request, each in a worker thread (profiled while 10,000 gates were adopted:
    2% of the operator's time in netrc alone, plus two thread hand-offs per
    request). Only a configured proxy needs it."""
    return {"trust_env": any(environ.get(name) for name in PROXY_VARIABLES)}


async def load_client(kubeconfig: str | None = None) -> kclient.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig."""
    configuration = kclient.Configuration()
    configuration.client_session_kwargs = _session_options(os.environ)
    if kubeconfig is None:
        try:
            kconfig.load_incluster_config(client_configuration=configuration)
            return kclient.ApiClient(configuration)
        except kconfig.ConfigException:
            pass
    await kconfig.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return kclient.ApiClient(configuration)


def ownership_tests(uid: str, gate_uid: str) -> list[dict[str, Any]]:
    """JSON patch ops that make a patch apply only to the object `uid`, still
    controlled by the gate `gate_uid` (the builders write exactly one ownerReference)."""
    return [
        {"op": "test", "path": "/metadata/uid", "value": uid},
        {"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": gate_uid},
        {"op": "test", "path": "/metadata/ownerReferences/0/controller", "value": True},
    ]


class KubeApi:
    def __init__(self, api_client: kclient.ApiClient) -> None:
        self.api_client = api_client
        self.objects = kclient.CustomObjectsApi(api_client)
        self.core = kclient.CoreV1Api(api_client)

    async def close(self) -> None:
        await self.api_client.close()

    async def ready(self, timeout: float = 5.0) -> None:
        """GET /readyz: returns once the API server says it is ready to serve (RBAC
        loaded, etcd reachable); raises ApiError when it answers otherwise."""
        method, url, headers, body, post = await self.api_client.param_serialize(
            method="GET",
            resource_path="/readyz",
            header_params={"Accept": "text/plain"},
            auth_settings=["BearerToken"],
        )
        response = await self.api_client.call_api(
            method, url, headers, body, post, _request_timeout=timeout
        )
        text = (await response.read() or b"").decode(errors="replace")
        if response.status != 200:
            raise ApiError(response.status, text.strip()[-200:] or "not ready")

    # -- gates ---------------------------------------------------------------

    async def get_gate(self, namespace: str, name: str) -> dict[str, Any]:
        with _translated():
            return _as_dict(
                await self.objects.get_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, PLURAL, name
                )
            )

    async def patch_gate_status(
        self, namespace: str, name: str, resource_version: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch status, only if nobody wrote the gate since `resource_version`.

        A resourceVersion in a patch is a precondition: the API server answers
        409 Conflict when the object has moved on, and the caller re-reads.
        """
        body = {"metadata": {"resourceVersion": resource_version}, "status": patch}
        with _translated():
            return _as_dict(
                await self.objects.patch_namespaced_custom_object_status(
                    API_GROUP, API_VERSION, namespace, PLURAL, name, body, _content_type=_MERGE
                )
            )

    # -- deployments ---------------------------------------------------------

    async def read_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        """A live read through `list` (the verb the watch already needs)."""
        found = await self._read_by_list("apps", "deployments", namespace, name)
        return {"apiVersion": "apps/v1", "kind": "Deployment", **found}

    async def _read_by_list(
        self, group: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any]:
        """One object by name, through `list`; NotFound when there is none."""
        with _translated():
            found = _as_dict(
                await self.objects.list_namespaced_custom_object(
                    group, "v1", namespace, plural, field_selector=f"metadata.name={name}"
                )
            )
        items = found.get("items") or []
        if not items:
            raise NotFound(404, f"{plural}.{group} {name!r} not found")
        return dict(items[0])

    async def list_deployments(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """A live read of the Deployments carrying these labels."""
        with _translated():
            found = _as_dict(
                await self.objects.list_namespaced_custom_object(
                    "apps", "v1", namespace, "deployments", label_selector=label_selector
                )
            )
        return [
            {"apiVersion": "apps/v1", "kind": "Deployment", **dict(item)}
            for item in found.get("items") or []
        ]

    async def create_deployment(self, body: Mapping[str, Any]) -> None:
        """Create; Conflict when the name is taken (observed too late: decide again)."""
        with _translated():
            await self.objects.create_namespaced_custom_object(
                "apps", "v1", body["metadata"]["namespace"], "deployments", dict(body)
            )

    async def converge_owned_deployment(
        self, body: Mapping[str, Any], *, uid: str, gate_uid: str
    ) -> None:
        """Bring an owned Deployment's labels, replicas and template to `body`.

        Conflict if the object at that name is no longer `uid` controlled by
        the gate. The selector is immutable and was built alike.
        """
        meta, spec = body["metadata"], body["spec"]
        # `add` sets a member whether or not it is there (`replace` needs it there).
        ops = [
            *ownership_tests(uid, gate_uid),
            {"op": "add", "path": "/metadata/labels", "value": meta["labels"]},
            {"op": "add", "path": "/spec/replicas", "value": spec["replicas"]},
            {"op": "add", "path": "/spec/template", "value": spec["template"]},
        ]
        await self._json_patch(meta["namespace"], meta["name"], ops)

    async def scale_owned_deployment(
        self, namespace: str, name: str, replicas: int, *, uid: str, gate_uid: str
    ) -> None:
        ops = [
            *ownership_tests(uid, gate_uid),
            {"op": "add", "path": "/spec/replicas", "value": replicas},
        ]
        await self._json_patch(namespace, name, ops)

    async def delete_owned_deployment(self, namespace: str, name: str, *, uid: str) -> None:
        """Delete exactly the object `uid` (Conflict if the name now holds another)."""
        await self._delete_exactly("apps", "deployments", namespace, name, uid)

    async def _delete_exactly(
        self, group: str, plural: str, namespace: str, name: str, uid: str
    ) -> None:
        """Delete the object `uid` at that name, its dependents in the background."""
        options = kclient.V1DeleteOptions(
            propagation_policy="Background", preconditions=kclient.V1Preconditions(uid=uid)
        )
        with _translated():
            await self.objects.delete_namespaced_custom_object(
                group, "v1", namespace, plural, name, body=options
            )

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """Scale through /scale (the team's Deployment: its template stays as written)."""
        with _translated():
            await self.objects.patch_namespaced_custom_object_scale(
                "apps",
                "v1",
                namespace,
                "deployments",
                name,
                {"spec": {"replicas": replicas}},
                _content_type=_MERGE,
            )

    async def set_deployment_template(
        self, namespace: str, name: str, template: dict[str, Any]
    ) -> None:
        """Restore a template, as `kubectl rollout undo` would."""
        await self._json_patch(
            namespace, name, [{"op": "replace", "path": "/spec/template", "value": template}]
        )

    async def set_pod_label(
        self, namespace: str, name: str, key: str, value: str | None, *, uid: str
    ) -> None:
        """Set (or, with None, remove) one label of exactly the pod `uid`: a merge
        patch naming the uid, which the API server refuses for another pod."""
        body = {"metadata": {"uid": uid, "labels": {key: value}}}
        with _translated():
            await self.core.patch_namespaced_pod(name, namespace, body, _content_type=_MERGE)

    async def _json_patch(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        with _translated():
            await self.objects.patch_namespaced_custom_object(
                "apps", "v1", namespace, "deployments", name, ops, _content_type=_JSON_PATCH
            )

    # -- autoscalers ---------------------------------------------------------

    async def create_autoscaler(self, body: Mapping[str, Any]) -> None:
        """Create; Conflict when the name is taken (observed too late: decide again)."""
        with _translated():
            await self.objects.create_namespaced_custom_object(
                "autoscaling", "v2", body["metadata"]["namespace"], _HPAS, dict(body)
            )

    async def converge_owned_autoscaler(
        self, body: Mapping[str, Any], *, uid: str, gate_uid: str
    ) -> None:
        """Bring an owned HPA's spec to `body` (Conflict if the object at that name
        is no longer `uid` controlled by the gate)."""
        meta = body["metadata"]
        ops = [
            *ownership_tests(uid, gate_uid),
            {"op": "add", "path": "/spec", "value": body["spec"]},
        ]
        with _translated():
            await self.objects.patch_namespaced_custom_object(
                "autoscaling", "v2", meta["namespace"], _HPAS, meta["name"], ops,
                _content_type=_JSON_PATCH,
            )  # fmt: skip

    async def delete_owned_autoscaler(self, namespace: str, name: str, *, uid: str) -> None:
        options = kclient.V1DeleteOptions(preconditions=kclient.V1Preconditions(uid=uid))
        with _translated():
            await self.objects.delete_namespaced_custom_object(
                "autoscaling", "v2", namespace, _HPAS, name, body=options
            )

    # -- services ------------------------------------------------------------

    async def read_service(self, namespace: str, name: str) -> dict[str, Any]:
        """A live read through `list` (the verb the watch already needs)."""
        with _translated():
            found = await self.core.list_namespaced_service(
                namespace, field_selector=f"metadata.name={name}"
            )
        items = self.api_client.sanitize_for_serialization(found).get("items") or []
        if not items:
            raise NotFound(404, f"services {name!r} not found")
        return {"apiVersion": "v1", "kind": "Service", **dict(items[0])}

    async def set_service_selector_key(
        self, namespace: str, name: str, key: str, value: str | None
    ) -> None:
        """Add (`value`) or remove (None) one key of a Service's selector.

        A merge patch touches that key only: the rest of the selector, and of
        the Service, stays exactly as the team wrote it.
        """
        with _translated():
            await self.core.patch_namespaced_service(
                name, namespace, {"spec": {"selector": {key: value}}}, _content_type=_MERGE
            )

    async def create_service(self, body: Mapping[str, Any]) -> None:
        """Create one of the gate's own Services; Conflict when the name is taken."""
        with _translated():
            # The client serializes a plain dict as it is (typed as V1Service only).
            service: Any = dict(body)
            await self.core.create_namespaced_service(body["metadata"]["namespace"], service)

    async def set_owned_service_selector(
        self, namespace: str, name: str, selector: Mapping[str, str], *, uid: str, gate_uid: str
    ) -> None:
        """Point one of the gate's own Services at other pods (ownership tested first)."""
        ops = [
            *ownership_tests(uid, gate_uid),
            {"op": "replace", "path": "/spec/selector", "value": dict(selector)},
        ]
        with _translated():
            await self.core.patch_namespaced_service(
                name, namespace, ops, _content_type=_JSON_PATCH
            )

    async def delete_owned_service(self, namespace: str, name: str, *, uid: str) -> None:
        """Delete exactly the Service `uid` (Conflict if the name now holds another)."""
        options = kclient.V1DeleteOptions(preconditions=kclient.V1Preconditions(uid=uid))
        with _translated():
            await self.core.delete_namespaced_service(name, namespace, body=options)

    # -- objects of a router's adapter (e.g. routes) ---------------------------

    async def list_custom_objects(
        self, group: str, version: str, namespace: str, plural: str
    ) -> list[dict[str, Any]]:
        """The objects of a custom resource in a namespace, read live (the caller filters)."""
        with _translated():
            found = _as_dict(
                await self.objects.list_namespaced_custom_object(group, version, namespace, plural)
            )
        return [dict(item) for item in found.get("items") or []]

    async def list_endpointslices(self, namespace: str, service: str) -> list[dict[str, Any]]:
        """The EndpointSlices of a Service, read live (what the gateway balances over)."""
        with _translated():
            found = _as_dict(
                await self.objects.list_namespaced_custom_object(
                    "discovery.k8s.io", "v1", namespace, "endpointslices",
                    label_selector=f"kubernetes.io/service-name={service}",
                )
            )  # fmt: skip
        return [dict(item) for item in found.get("items") or []]

    async def patch_custom_object(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        ops: list[dict[str, Any]],
    ) -> None:
        """A JSON patch of a custom object; its first op tests the resourceVersion
        read (Conflict if it moved)."""
        with _translated():
            await self.objects.patch_namespaced_custom_object(
                group, version, namespace, plural, name, ops, _content_type=_JSON_PATCH
            )

    # -- smoke-test Jobs ------------------------------------------------------

    async def create_job(self, body: Mapping[str, Any]) -> None:
        """Create; Conflict when the name is taken (observed too late: decide again)."""
        with _translated():
            await self.objects.create_namespaced_custom_object(
                "batch", "v1", body["metadata"]["namespace"], "jobs", dict(body)
            )

    async def read_job(self, namespace: str, name: str) -> dict[str, Any]:
        """A live read through `list` (the verb the watch already needs)."""
        return await self._read_by_list("batch", "jobs", namespace, name)

    async def delete_owned_job(self, namespace: str, name: str, *, uid: str) -> None:
        """Delete exactly the Job `uid`, its pods with it (a Job's default would orphan them)."""
        await self._delete_exactly("batch", "jobs", namespace, name, uid)

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """A live read of the pods carrying these labels (a finished Job's pod)."""
        with _translated():
            found = await self.core.list_namespaced_pod(namespace, label_selector=label_selector)
        plain = _as_dict(self.api_client.sanitize_for_serialization(found))
        return [dict(item) for item in plain.get("items") or []]

    async def read_pod_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int, limit_bytes: int
    ) -> str:
        """The last lines of one container's log (pods/log)."""
        with _translated():
            text = await self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=tail_lines,
                limit_bytes=limit_bytes,
            )
        return text if isinstance(text, str) else str(text or "")
