"""Self-healing in the server reconcile (render/self_heal.py decides): start the one clean
reinstall, record it and its failure in status, ask the package to re-read its metadata, and act
on a user's request to try again (mcp-operator.dev/retry)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mcp_operator.handlers import report, state
from mcp_operator.handlers.cache import Key
from mcp_operator.handlers.memory import Memory
from mcp_operator.handlers.state import PACKAGE, SERVER
from mcp_operator.models import API_VERSION, MCPPackageStatus, MCPServerStatus, Reinstall
from mcp_operator.reasons import Reason
from mcp_operator.render import self_heal
from mcp_operator.render.pod_problems import pod_problem
from mcp_operator.render.status import now
from mcp_operator.upgrade_plan import REFRESH_ANNOTATION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Healing:
    """Self-healing's verdict for one reconcile: the reinstall state the server should have now,
    whether it differs from the status of record, and the version it is about."""

    found: Reinstall | None
    changed: bool
    version: str | None

    def state(self) -> dict[str, Any] | None:
        return self.found.dump() if self.found is not None else None

    def overlay(self, status: dict[str, Any], name: str) -> None:
        """Write the verdict into a status about to be written (phase and Ready while it matters)."""
        if self.changed:
            status["reinstall"] = self.state()
        self_heal.overlay(status, self.found, name, self.version)


async def decide(key: Key, server: dict[str, Any], memory: Memory, old: MCPServerStatus) -> Healing:
    """Decide the reinstall state from the pods of the pinned version, before anything is applied:
    the caller renders it (a new template, or zero replicas) in its one apply, then writes it."""
    ctx = state.get()
    current = old.reinstall
    changed = False
    if await _retry_requested(key, server, memory):
        current, changed = None, True
    package_name = str((server.get("spec") or {}).get("package") or "")
    package = ctx.cache.packages.get((key[0], package_name)) or {}
    pinned = MCPPackageStatus.model_validate(package.get("status") or {})
    pods = self_heal.pods_of_version(ctx.cache.pods_of(key), pinned.resolved_version)
    found = self_heal.decide(
        current,
        version=pinned.resolved_version,
        problem=pod_problem(pods),
        reinstall_problem=pod_problem(self_heal.pods_of_token(pods, current.token)) if current else None,
        rolling_out=pinned.rollout is not None,
        suspend=ctx.settings.suspend_broken,
        now=now(),
        failing=[str(p.get("metadata", {}).get("name", "")) for p in pods],
    )
    if found != current:
        changed = True
        if found is not None and found.outcome == "pending":
            await _start(key, package_name, found, memory)
        elif found is not None and _first_time(memory, found):
            message = f"a clean reinstall of {found.version} did not help: {found.message}"
            await report.post_event(
                SERVER, *key, memory, "Warning", found.reason or Reason.INSTALL_FAILED, message
            )
    return Healing(found, changed, pinned.resolved_version)


async def _start(key: Key, package: str, found: Reinstall, memory: Memory) -> None:
    version = found.version
    message = (
        f"{found.reason or ''}: reinstalling {version} cleanly (new pods, empty install volume, "
        "metadata re-read)"
    )
    if _first_time(memory, found):
        log.warning("%s/%s: %s", *key, message)
        await report.post_event(SERVER, *key, memory, "Warning", Reason.REINSTALLING, message)
    patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: version}}}
    await state.get().kube.merge_patch(API_VERSION, PACKAGE, key[0], package, patch)


def _first_time(memory: Memory, found: Reinstall) -> bool:
    """Is this reinstall state (token and outcome) announced for the first time? Marks it so."""
    seen = f"{found.token}/{found.outcome}"
    if memory.announced == seen:
        return False
    memory.announced = seen
    return True


async def _retry_requested(key: Key, server: dict[str, Any], memory: Memory) -> bool:
    value = (server.get("metadata", {}).get("annotations") or {}).get(self_heal.RETRY_ANNOTATION)
    if value is None:
        memory.consumed.pop(self_heal.RETRY_ANNOTATION, None)
        return False
    if memory.consumed.get(self_heal.RETRY_ANNOTATION) == value:
        return False
    await state.get().kube.remove_annotation(SERVER, *key, self_heal.RETRY_ANNOTATION, value)
    memory.consumed[self_heal.RETRY_ANNOTATION] = value
    log.info("%s/%s: another reinstall asked for", *key)
    return True
