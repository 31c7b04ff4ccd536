"""Self-healing, as a pure decision (docs/upgrades.md#self-healing): a server whose pods fail
because its package is missing or broken gets one clean reinstall; if that fails too it is Failed,
and scaled to zero where the operator is configured to (MCP_OPERATOR_SUSPEND_BROKEN).

The reinstall is a pod-template annotation (new pods: an empty install volume, the init container
runs again) plus a re-read of the package's metadata. Its state lives in MCPServer
status.reinstall, so it survives a restart of the operator; a user asks for another one with the
annotation mcp-operator.dev/retry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mcp_operator.models import Condition, Reinstall
from mcp_operator.reasons import Reason
from mcp_operator.render.labels import VERSION_ANNOTATION
from mcp_operator.render.pod_problems import PodProblem
from mcp_operator.render.status import set_condition

HEALABLE = frozenset({Reason.INSTALL_FAILED, Reason.ENTRYPOINT_NOT_FOUND})
REINSTALL_ANNOTATION = "mcp-operator.dev/reinstall"
RETRY_ANNOTATION = "mcp-operator.dev/retry"


def pods_of_version(pods: Iterable[Mapping[str, Any]], version: str | None) -> list[Mapping[str, Any]]:
    """The pods that run the pinned version: a version that failed and was rolled back leaves pods
    behind for a while, and their failure is not the pinned version's."""
    return [p for p in pods if _annotations(p).get(VERSION_ANNOTATION) == version]


def pods_of_token(pods: Iterable[Mapping[str, Any]], token: str) -> list[Mapping[str, Any]]:
    """The pods of the reinstall's template."""
    return [p for p in pods if _annotations(p).get(REINSTALL_ANNOTATION) == token]


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    return pod.get("metadata", {}).get("annotations") or {}


def decide(
    current: Reinstall | None,
    *,
    version: str | None,
    problem: PodProblem | None,
    reinstall_problem: PodProblem | None,
    rolling_out: bool,
    suspend: bool,
    now: str,
    failing: Sequence[str] = (),
) -> Reinstall | None:
    """The reinstall state the server should have now. `problem` is what any of its pods say;
    `reinstall_problem` what the pods of the reinstall's template say. A package being upgraded is
    left to the upgrade's rollback. The reinstall's token is derived from the pods that failed
    (`failing`, their names), so a reconcile retried after an API error, or after a restart,
    decides the same reinstall again instead of a second one."""
    if version is None or rolling_out:
        return current
    if current is not None and current.version == version:
        if (
            current.outcome == "pending"
            and reinstall_problem is not None
            and reinstall_problem.reason in HEALABLE
        ):
            return current.model_copy(
                update={
                    "outcome": "failed",
                    "reason": str(reinstall_problem.reason),
                    "message": reinstall_problem.message,
                    "suspended": suspend,
                }
            )
        return current
    if problem is not None and problem.reason in HEALABLE:
        seen = hashlib.sha256(",".join(sorted(failing)).encode()).hexdigest()[:10] if failing else now
        return Reinstall(version=version, token=f"{version}.{seen}", at=now, reason=str(problem.reason))
    return current


def overlay(status: dict[str, Any], reinstall: Reinstall | None, name: str, version: str | None) -> None:
    """What the server's status says while a reinstall runs, and after it failed."""
    if reinstall is None or reinstall.version != version:
        return
    retry = f"kubectl annotate mcpserver {name} {RETRY_ANNOTATION}=now"
    if reinstall.outcome == "pending" and status.get("phase") != "Running":
        _ready(
            status, "Progressing", Reason.REINSTALLING, f"reinstalling {version} cleanly ({reinstall.reason})"
        )
    elif reinstall.outcome == "failed":
        text = f"a clean reinstall of {version} at {reinstall.at} did not help: {reinstall.message}"
        if reinstall.suspended:
            text = f"suspended (scaled to zero by the operator) because {text}; to try again: {retry}"
        else:
            text = f"{text}; to try another reinstall: {retry}"
        _ready(status, "Failed", reinstall.reason or Reason.INSTALL_FAILED, text)


def _ready(status: dict[str, Any], phase: str, reason: str, message: str) -> None:
    conditions = [Condition.model_validate(c) for c in status.get("conditions") or []]
    generation = status.get("observedGeneration")
    conditions = set_condition(conditions, "Ready", False, str(reason), message, generation)
    status.update(phase=phase, message=message, conditions=[c.dump() for c in conditions])
