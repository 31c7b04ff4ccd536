"""Status as pure functions: conditions in the Kubernetes shape, and server status from its Deployment."""

from __future__ import annotations

import datetime
from typing import Any

from packaging.version import InvalidVersion, Version

from mcp_operator.models import (
    HISTORY_LIMIT,
    Condition,
    ConditionStatus,
    HistoryEntry,
    MCPServerSpec,
    ServerPhase,
)
from mcp_operator.render.labels import VERSION_ANNOTATION
from mcp_operator.render.pod_problems import PodProblem


def now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool | ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    at: str | None = None,
) -> list[Condition]:
    """Replace the condition of this type; keep lastTransitionTime when the status did not change."""
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    old = next((c for c in conditions if c.type == type_), None)
    moment = old.last_transition_time if old and old.status == status else (at or now())
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=moment,
        observed_generation=generation,
    )
    return [new if c.type == type_ else c for c in conditions] if old else [*conditions, new]


def not_ready_status(
    conditions: list[Condition],
    generation: int | None,
    phase: ServerPhase | str,
    reason: str,
    message: str,
) -> dict[str, Any]:
    """Phase, message and a Ready=False condition: what every failure of a resource reports."""
    return {
        "phase": str(phase),
        "message": message,
        "conditions": conditions_dump(set_condition(conditions, "Ready", False, reason, message, generation)),
        "observedGeneration": generation,
    }


def conditions_dump(conditions: list[Condition]) -> list[dict[str, Any]]:
    return [c.dump() for c in conditions]


def push_history(history: list[HistoryEntry], version: str, outcome: str) -> list[HistoryEntry]:
    entry = HistoryEntry(version=version, at=now(), outcome=outcome)
    return [entry, *history][:HISTORY_LIMIT]


def newer(candidate: str | None, current: str | None) -> bool:
    """Is candidate a newer version than current? Unknown formats compare as not newer."""
    if not candidate or not current or candidate == current:
        return False
    try:
        return Version(candidate.lstrip("v")) > Version(current.lstrip("v"))
    except InvalidVersion:
        return False


def _deployment_condition(deployment: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in deployment.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def server_status(
    spec: MCPServerSpec,
    generation: int | None,
    deployment: dict[str, Any] | None,
    previous_version: str | None,
    conditions: list[Condition],
    problem: PodProblem | None = None,
) -> dict[str, Any]:
    """Phase, replicas, version and the Ready condition of an MCPServer, following its Deployment
    and, while it is not all ready, what its pods say is wrong (`problem`)."""
    desired = spec.replicas if spec.enabled else 0
    dep_status: dict[str, Any] = (deployment or {}).get("status", {}) or {}
    dep_meta: dict[str, Any] = (deployment or {}).get("metadata", {}) or {}
    template = (deployment or {}).get("spec", {}).get("template", {})
    target_version = template.get("metadata", {}).get("annotations", {}).get(VERSION_ANNOTATION)
    ready = int(dep_status.get("readyReplicas") or 0)
    updated = int(dep_status.get("updatedReplicas") or 0)
    total = int(dep_status.get("replicas") or 0)
    observed = dep_status.get("observedGeneration")
    caught_up = observed is not None and observed >= int(dep_meta.get("generation") or 0)
    progressing = _deployment_condition(deployment or {}, "Progressing")
    version = previous_version

    if deployment is None:
        phase, ok, reason, message = (
            ServerPhase.PENDING,
            False,
            "DeploymentMissing",
            "the Deployment does not exist yet",
        )
    elif spec.enabled and problem is not None and not (caught_up and ready >= desired and total == desired):
        phase = ServerPhase.DEGRADED if ready > 0 else ServerPhase.FAILED
        ok, reason, message = False, problem.reason, problem.message
    elif progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        phase, ok, reason = ServerPhase.FAILED, False, "ProgressDeadlineExceeded"
        message = (
            f"the rollout of version {target_version} did not finish in time: "
            f"{progressing.get('message', '')}; see `kubectl describe deployment {dep_meta.get('name')}` "
            "and the pods' logs"
        )
    elif not spec.enabled:
        ok = caught_up and total == 0
        phase = ServerPhase.DISABLED
        reason = "Disabled" if ok else "ScalingDown"
        message = "disabled: scaled to zero; set spec.enabled to true to start it again"
    elif caught_up and updated >= desired and ready >= desired and total == desired:
        phase, ok, reason = ServerPhase.RUNNING, True, "Running"
        message = f"{ready}/{desired} replicas ready, version {target_version}"
        version = target_version
    elif caught_up and total == desired and updated >= desired and ready > 0:
        # Only new pods exist and some are not ready: not a rollout any more, a degraded server.
        phase, ok, reason = ServerPhase.DEGRADED, False, "ReplicasNotReady"
        message = f"{ready}/{desired} replicas ready; see the pods' events and logs"
        version = target_version
    else:
        phase, ok, reason = ServerPhase.PROGRESSING, False, "RollingOut"
        message = f"rolling out version {target_version}: {updated}/{desired} updated, {ready} ready"

    new_conditions = set_condition(conditions, "Ready", ok, reason, message, generation)
    return {
        "phase": str(phase),
        "message": message,
        "replicas": desired,
        "readyReplicas": ready,
        "ready": f"{ready}/{desired}",
        "version": version,
        "conditions": conditions_dump(new_conditions),
        "observedGeneration": generation,
    }
