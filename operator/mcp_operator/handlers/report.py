"""The one path that writes status and posts Events, for both kinds.

A status is written only when it differs from the one last written for the same object, and an
Event only when its reason or message differs from the last one posted: retries that find the
same problem cost no requests.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from mcp_operator.handlers import state
from mcp_operator.handlers.memory import Memory
from mcp_operator.k8s import KubeError
from mcp_operator.models import API_VERSION
from mcp_operator.render.drift import contains
from mcp_operator.render.kstatus import with_kstatus
from mcp_operator.render.labels import event_name
from mcp_operator.render.status import now

log = logging.getLogger(__name__)
COMPONENT = "mcp-operator"


def current_status(body: dict[str, Any], memory: Memory) -> dict[str, Any]:
    """The status as it stands after our last merge patch, even before its watch event arrives."""
    return {**(body.get("status") or {}), **(memory.written or {})}


async def write_status(
    kind: str, namespace: str, name: str, body: dict[str, Any], memory: Memory, status: dict[str, Any]
) -> bool:
    """Merge-patch the status subresource unless the object already says all of it. Reconciling and
    Stalled (kstatus) are derived here for every status of both kinds."""
    status = with_kstatus(status, current_status(body, memory))
    if contains(current_status(body, memory), status):
        return False
    await state.get().kube.patch_status(kind, namespace, name, status)
    memory.written = status
    return True


def event_manifest(
    kind: str, namespace: str, name: str, uid: str, type_: str, reason: str, message: str
) -> dict[str, Any]:
    at = now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": namespace, "name": event_name(name, uuid.uuid4().hex[:16])},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    }


async def post_event(
    kind: str, namespace: str, name: str, memory: Memory, type_: str, reason: str, message: str
) -> None:
    """Post an Event unless it repeats the last one for this object. Failing to post is logged only:
    an Event is a courtesy, the condition is the record."""
    if memory.posted == (reason, message):
        return
    manifest = event_manifest(kind, namespace, name, memory.uid, type_, reason, message)
    try:
        await state.get().kube.post_event(manifest)
    except KubeError as exc:
        log.warning("could not post Event %s for %s %s/%s: %s", reason, kind, namespace, name, exc)
        return
    memory.posted = (reason, message)
