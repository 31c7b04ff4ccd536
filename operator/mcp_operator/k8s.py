"""The one module that talks to the Kubernetes API (besides kopf's own watching and events).

Children are applied with server-side apply under one field manager, so re-applying unchanged
objects changes nothing, and fields another manager owns are taken back (force) as the operator is
the owner of what it renders. Status is written with merge patches to the status subresource.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, cast

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig, codecs
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Event, Secret, Service
from lightkube.resources.networking_v1 import NetworkPolicy
from lightkube.types import PatchType

from mcp_operator.models import GROUP, VERSION

FIELD_MANAGER = "mcp-operator"
log = logging.getLogger(__name__)

MCPPackageResource = create_namespaced_resource(GROUP, VERSION, "MCPPackage", "mcppackages")
MCPServerResource = create_namespaced_resource(GROUP, VERSION, "MCPServer", "mcpservers")

_RESOURCES: dict[tuple[str, str], type[NamespacedResource]] = {
    ("apps/v1", "Deployment"): Deployment,
    ("v1", "Service"): Service,
    ("networking.k8s.io/v1", "NetworkPolicy"): NetworkPolicy,
    ("v1", "Secret"): Secret,
    ("v1", "ConfigMap"): ConfigMap,
    (f"{GROUP}/{VERSION}", "MCPPackage"): MCPPackageResource,
    (f"{GROUP}/{VERSION}", "MCPServer"): MCPServerResource,
}


class KubeError(RuntimeError):
    """An API call failed; `status` is the HTTP status code when the API answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _resource(api_version: str, kind: str) -> type[NamespacedResource]:
    try:
        return _RESOURCES[(api_version, kind)]
    except KeyError:
        raise KubeError(f"the operator does not manage {kind} ({api_version})") from None


def _code(exc: httpx2.HTTPError) -> int | None:
    if isinstance(exc, httpx2.HTTPStatusError):
        return exc.response.status_code
    return None


def _wrap(exc: httpx2.HTTPError, what: str) -> KubeError:
    """lightkube raises ApiError for JSON Status bodies, plain HTTP errors otherwise."""
    if isinstance(exc, ApiError) and exc.status is not None:
        message = exc.status.message or str(exc)
    elif isinstance(exc, httpx2.HTTPStatusError):
        message = f"HTTP {exc.response.status_code}: {exc.response.text[:300]}"
    else:
        message = f"the Kubernetes API is unreachable ({exc}); the operator retries"
    return KubeError(f"{what}: {message}", status=_code(exc))


def _as_dict(stored: Any) -> dict[str, Any]:
    result: dict[str, Any] = stored.to_dict() if hasattr(stored, "to_dict") else dict(stored)
    return result


class Kube:
    """A thin async client over lightkube, shared by all handlers of one operator process."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @classmethod
    def from_env(cls, timeout: float = 10.0) -> Kube:
        """In-cluster service account, or $KUBECONFIG / ~/.kube/config; `timeout` per request."""
        config = KubeConfig.from_env()
        limits = httpx2.Timeout(timeout)
        return cls(AsyncClient(config=config, field_manager=FIELD_MANAGER, timeout=limits))

    @property
    def default_namespace(self) -> str:
        """The current context's namespace (or the service account's), as kubectl would use."""
        return str(self._client.namespace)

    async def close(self) -> None:
        await self._client.close()

    async def apply(self, obj: dict[str, Any], force: bool = True) -> dict[str, Any]:
        """Server-side apply; returns the object as stored.

        Without force, fields another manager owns make the API answer 409. An API that answers
        404 to apply (kmock's emulator) gets a create instead.
        """
        res = _resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        what = f"apply {obj['kind']} {meta['namespace']}/{meta['name']}"
        try:
            stored = await self._client.patch(
                res,
                meta["name"],
                obj,
                namespace=meta["namespace"],
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=force,
            )
        except httpx2.HTTPError as exc:
            if _code(exc) == 404:
                return await self._create(res, obj, what)
            raise _wrap(exc, what) from exc
        return _as_dict(stored)

    async def _create(self, res: type[NamespacedResource], obj: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            model: Any = res.from_dict(obj) if hasattr(res, "from_dict") else codecs.from_dict(obj)
            return _as_dict(await self._client.create(model))
        except httpx2.HTTPError as exc:
            raise _wrap(exc, what) from exc

    async def create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Create; None when an object of that name exists already (it is left as it is)."""
        meta = obj["metadata"]
        what = f"create {obj['kind']} {meta['namespace']}/{meta['name']}"
        try:
            return await self._create(_resource(obj["apiVersion"], obj["kind"]), obj, what)
        except KubeError as exc:
            if exc.status == 409:
                return None
            raise

    async def merge_patch(
        self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        """JSON merge patch (RFC 7386: null removes a key); None when the object does not exist."""
        try:
            stored = await self._client.patch(
                _resource(api_version, kind), name, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
        except httpx2.HTTPError as exc:
            if _code(exc) == 404:
                return None
            raise _wrap(exc, f"patch {kind} {namespace}/{name}") from exc
        return _as_dict(stored)

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete if present; False when there was nothing to delete."""
        try:
            await self._client.delete(_resource(api_version, kind), name, namespace=namespace)
        except httpx2.HTTPError as exc:
            if _code(exc) == 404:
                return False
            raise _wrap(exc, f"delete {kind} {namespace}/{name}") from exc
        return True

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = await self._client.get(_resource(api_version, kind), name, namespace=namespace)
        except httpx2.HTTPError as exc:
            if _code(exc) == 404:
                return None
            raise _wrap(exc, f"get {kind} {namespace}/{name}") from exc
        result: dict[str, Any] = cast(Any, obj).to_dict()
        return result

    async def list(self, api_version: str, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace, or in all namespaces (None)."""
        where = namespace if namespace is not None else "*"
        try:
            items = [
                _as_dict(obj)
                async for obj in self._client.list(_resource(api_version, kind), namespace=where)
            ]
        except httpx2.HTTPError as exc:
            raise _wrap(exc, f"list {kind} in {namespace or 'all namespaces'}") from exc
        return items

    async def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        res = _resource(f"{GROUP}/{VERSION}", kind)
        try:
            await self._client.patch(
                res.Status,  # type: ignore[attr-defined]
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except httpx2.HTTPError as exc:
            if _code(exc) == 404:
                return  # deleted meanwhile: nothing to report on
            raise _wrap(exc, f"write status of {kind} {namespace}/{name}") from exc

    async def remove_annotation(
        self, kind: str, namespace: str, name: str, annotation: str, value: str
    ) -> None:
        """Remove an annotation of ours, but only while it still has the value acted on: a request
        made again meanwhile (another value) stays for the next reconcile. Read fresh, then a merge
        patch guarded by that resourceVersion; a conflict reads again."""
        api_version = f"{GROUP}/{VERSION}"
        res = _resource(api_version, kind)
        for _ in range(3):
            live = await self.get(api_version, kind, namespace, name)
            meta = (live or {}).get("metadata") or {}
            if (meta.get("annotations") or {}).get(annotation) != value:
                return  # gone, or changed: a new request
            patch = {
                "metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "annotations": {annotation: None},
                }
            }
            try:
                await self._client.patch(res, name, patch, namespace=namespace, patch_type=PatchType.MERGE)
                return
            except httpx2.HTTPError as exc:
                if _code(exc) == 404:
                    return
                if _code(exc) != 409:
                    raise _wrap(exc, f"remove annotation {annotation} of {kind} {namespace}/{name}") from exc
        raise KubeError(
            f"remove annotation {annotation} of {kind} {namespace}/{name}: kept changing; retrying"
        )

    async def post_event(self, event: dict[str, Any]) -> None:
        """Create a core/v1 Event (rendered by the caller)."""
        namespace = event["metadata"]["namespace"]
        try:
            await self._client.create(cast(Any, Event).from_dict(event))
        except httpx2.HTTPError as exc:
            raise _wrap(exc, f"post Event {event['reason']} in {namespace}") from exc

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        obj = await self.get("v1", "Secret", namespace, name)
        if obj is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        data.update(obj.get("stringData") or {})
        return data
