"""kopf watch events: update the cache, queue the keys the change affects. Nothing else.

Every kind is watched with `on.event`, which kopf delivers without writing anything to the
objects (no finalizers, no progress annotations): the operator's only writes are its children,
the status and Events, and the finalizer of predefined packages, which the controller releases
(handlers/uninstall.py) when a queued package turns out to be deleting.
"""

from __future__ import annotations

from typing import Any

import kopf

from mcp_operator.handlers import state
from mcp_operator.handlers.cache import key_of
from mcp_operator.handlers.state import PACKAGE, SERVER
from mcp_operator.models import GROUP, VERSION
from mcp_operator.render.labels import MANAGED_BY

MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}


def _deleted(event: kopf.RawEvent) -> bool:
    return event.get("type") == "DELETED"


@kopf.on.event(GROUP, VERSION, "mcpservers")
async def server_event(event: kopf.RawEvent, **_: Any) -> None:
    ctx = state.get()
    body = event.get("object") or {}
    if _deleted(event):
        key = key_of(body)
        ctx.cache.drop_server(key)
        ctx.memories.forget((SERVER, *key))
        ctx.queue.forget((SERVER, *key))
        return
    key = ctx.cache.put_server(body)
    ctx.queue.add((SERVER, *key))


@kopf.on.event(GROUP, VERSION, "mcppackages")
async def package_event(event: kopf.RawEvent, **_: Any) -> None:
    ctx = state.get()
    body = event.get("object") or {}
    key = key_of(body)
    if _deleted(event):
        ctx.cache.drop_package(key)
        ctx.memories.forget((PACKAGE, *key))
        ctx.queue.forget((PACKAGE, *key))
    else:
        ctx.cache.put_package(body)
        ctx.queue.add((PACKAGE, *key))
    for server in ctx.cache.servers_of(*key):
        ctx.queue.add((SERVER, *server))


async def _child_event(kind: str, event: kopf.RawEvent) -> None:
    ctx = state.get()
    body = event.get("object") or {}
    key = key_of(body)
    if _deleted(event):
        ctx.cache.drop_child(kind, key)
        memory = ctx.memories.peek((SERVER, *key))
        if memory is not None:
            memory.children.pop(kind, None)
    else:
        ctx.cache.put_child(kind, body)
    if key in ctx.cache.servers:
        ctx.queue.add((SERVER, *key))


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
async def deployment_event(event: kopf.RawEvent, **_: Any) -> None:
    await _child_event("Deployment", event)


@kopf.on.event("", "v1", "services", labels=MANAGED)
async def service_event(event: kopf.RawEvent, **_: Any) -> None:
    await _child_event("Service", event)


@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
async def policy_event(event: kopf.RawEvent, **_: Any) -> None:
    await _child_event("NetworkPolicy", event)


@kopf.on.event("", "v1", "pods", labels=MANAGED)
async def pod_event(event: kopf.RawEvent, **_: Any) -> None:
    """A server's pod changed: its status may say why the server is not ready."""
    ctx = state.get()
    body = event.get("object") or {}
    key = ctx.cache.drop_pod(body) if _deleted(event) else ctx.cache.put_pod(body)
    if key is not None and key in ctx.cache.servers:
        ctx.queue.add((SERVER, *key))
