"""The uninstalled mark of predefined packages (docs/predefined.md), level-triggered.

- An MCPPackage that is being deleted and carries our finalizer: the mark is written to the state
  ConfigMap first, the finalizer removed after. An operator that dies in between finds the object
  still there on its next reconcile, writes the same mark again (a no-op) and releases it.
- An MCPPackage that is not being deleted and whose namespace/name is marked: someone installed it
  again (the start never creates a marked one). It gets our finalizer, so that deleting it again is
  recorded too, then its mark is cleared.

An API failure raises KubeError; the controller retries the key with backoff and says so on the
object (an Event and the Ready condition).
"""

from __future__ import annotations

import logging

from mcp_operator import predefined
from mcp_operator.handlers import state
from mcp_operator.handlers.cache import Key
from mcp_operator.k8s import Kube, KubeError
from mcp_operator.models import API_VERSION

log = logging.getLogger(__name__)
CONFIGMAP = ("v1", "ConfigMap")


def _explained(exc: KubeError, namespace: str) -> KubeError:
    if exc.status != 403:
        return exc
    return KubeError(
        f"{exc}: grant the operator get, create and patch on the ConfigMap "
        f"{predefined.STATE_CONFIGMAP} in namespace {namespace} (see docs/predefined.md, RBAC)",
        status=403,
    )


async def read_marks(kube: Kube, namespace: str) -> set[Key]:
    try:
        obj = await kube.get(*CONFIGMAP, namespace, predefined.STATE_CONFIGMAP)
    except KubeError as exc:
        raise _explained(exc, namespace) from exc
    return predefined.marks_in((obj or {}).get("data"))


async def write_mark(kube: Kube, namespace: str, key: Key, marked: bool) -> None:
    """Write or clear one mark; the ConfigMap is created with the first mark."""
    try:
        await _write_mark(kube, namespace, key, marked)
    except KubeError as exc:
        raise _explained(exc, namespace) from exc


async def _write_mark(kube: Kube, namespace: str, key: Key, marked: bool) -> None:
    patch = predefined.mark_patch(key, marked)
    name = predefined.STATE_CONFIGMAP
    if await kube.merge_patch(*CONFIGMAP, namespace, name, patch) is not None or not marked:
        return
    data = {k: val for k, val in patch["data"].items() if val is not None}
    if await kube.create(predefined.state_configmap(namespace, data)) is not None:
        return
    # Created by someone else between the two calls: patch it now.
    if await kube.merge_patch(*CONFIGMAP, namespace, name, patch) is None:
        raise KubeError(f"ConfigMap {namespace}/{name} was deleted while the operator wrote to it")


async def settle(key: Key) -> bool:
    """Handle the marks of one MCPPackage; True when it is being deleted (nothing else to do)."""
    ctx = state.get()
    body = ctx.cache.packages.get(key)
    if body is None:
        return False
    if predefined.deleting(body):
        await _release(key)
        return True
    if key in ctx.uninstalled.marks:
        await _reinstalled(key)
    return False


async def _release(key: Key) -> None:
    ctx = state.get()
    marks = ctx.uninstalled
    async with marks.lock:
        fresh = await ctx.kube.get(API_VERSION, "MCPPackage", *key)
        if fresh is None or not predefined.deleting(fresh):
            return  # gone, or replaced by a new object meanwhile
        patch = predefined.finalizers_patch(fresh, present=False)
        if patch is None:
            return  # not ours to release
        await write_mark(ctx.kube, marks.namespace, key, marked=True)
        marks.marks.add(key)
        await ctx.kube.merge_patch(API_VERSION, "MCPPackage", *key, patch)
    log.info(
        "MCPPackage %s/%s deleted: recorded as uninstalled in ConfigMap %s/%s, it is not installed "
        "again on start",
        *key,
        marks.namespace,
        predefined.STATE_CONFIGMAP,
    )


async def _reinstalled(key: Key) -> None:
    ctx = state.get()
    marks = ctx.uninstalled
    async with marks.lock:
        fresh = await ctx.kube.get(API_VERSION, "MCPPackage", *key)
        if fresh is None or predefined.deleting(fresh) or key not in marks.marks:
            return  # an old copy of an object on its way out: the mark stays
        patch = predefined.finalizers_patch(fresh, present=True)
        if patch is not None:
            await ctx.kube.merge_patch(API_VERSION, "MCPPackage", *key, patch)
        await write_mark(ctx.kube, marks.namespace, key, marked=False)
        marks.marks.discard(key)
    log.info("MCPPackage %s/%s was installed again: its uninstalled mark is cleared", *key)
