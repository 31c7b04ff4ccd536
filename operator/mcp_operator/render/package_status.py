"""MCPPackage status as pure functions of the spec, the old status and a registry answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mcp_operator.models import (
    Entrypoint,
    MCPPackageSpec,
    MCPPackageStatus,
    PackagePhase,
    Source,
)
from mcp_operator.render.status import (
    conditions_dump,
    newer,
    not_ready_status,
    now,
    push_history,
    set_condition,
)


def source_key(source: Source) -> str:
    """What a pin was made for: a change of any of these re-resolves; anything else keeps the pin."""
    fields = {"type": source.type, "package": source.package, "version": source.version}
    fields["registry"] = source.registry or ""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def pinned_spec(spec: MCPPackageSpec, status: MCPPackageStatus) -> MCPPackageSpec:
    """The spec as it was when the pin in status was made.

    While a changed source is being resolved (or fails to resolve), servers keep running the
    pinned package from its pinned source: the new source must never be paired with the old
    version and integrity.
    """
    if not status.resolved_spec or status.resolved_spec == source_key(spec.source):
        return spec
    pinned = json.loads(status.resolved_spec)
    source = Source(
        type=pinned["type"],
        package=pinned["package"],
        version=pinned["version"],
        registry=pinned.get("registry") or None,
        registry_auth_secret=spec.source.registry_auth_secret,
    )
    return spec.model_copy(update={"source": source})


def entrypoint_of(spec: MCPPackageSpec, detected: Sequence[str]) -> Entrypoint:
    """The spec's override when it names a command, else what the registry metadata declares."""
    if spec.entrypoint and spec.entrypoint.command:
        return spec.entrypoint
    return Entrypoint(command=list(detected), args=spec.entrypoint.args if spec.entrypoint else [])


def resolved(
    spec: MCPPackageSpec,
    old: MCPPackageStatus,
    generation: int | None,
    *,
    version: str,
    latest: str | None,
    integrity: str,
    artifact_url: str,
    command: Sequence[str],
) -> dict[str, Any]:
    history = old.history
    if not history or history[0].version != version:
        history = push_history(history, version, "resolved")
    message = f"{spec.source.package} {spec.source.version} resolved to {version}"
    conditions = set_condition(old.conditions, "Ready", True, "Resolved", message, generation)
    return {
        "phase": str(PackagePhase.READY),
        "message": message,
        "resolvedVersion": version,
        "latestVersion": latest,
        "updateAvailable": newer(latest, version),
        "lastChecked": now(),
        "integrity": integrity,
        "artifactUrl": artifact_url,
        "entrypoint": entrypoint_of(spec, command).dump(),
        "detectedCommand": list(command),
        "resolvedSpec": source_key(spec.source),
        "history": [h.dump() for h in history],
        "conditions": conditions_dump(conditions),
        "observedGeneration": generation,
    }


def kept(spec: MCPPackageSpec, old: MCPPackageStatus, generation: int | None) -> dict[str, Any]:
    """The source did not change: keep the pin, refresh what depends on the rest of the spec."""
    detected = old.detected_command
    message = f"{spec.source.package} pinned at {old.resolved_version}"
    conditions = set_condition(old.conditions, "Ready", True, "Resolved", message, generation)
    return {
        "phase": str(PackagePhase.READY),
        "message": message,
        "entrypoint": entrypoint_of(spec, detected).dump(),
        "conditions": conditions_dump(conditions),
        "observedGeneration": generation,
    }


def failed(
    old: MCPPackageStatus,
    generation: int | None,
    *,
    reason: str,
    message: str,
    transient: bool,
) -> dict[str, Any]:
    """Resolution failed. A pin made earlier stays: running servers keep their version."""
    phase = PackagePhase.PENDING if transient else PackagePhase.FAILED
    status = not_ready_status(old.conditions, generation, phase, reason, message)
    if transient:
        status["message"] = f"{message} (retrying)"
    return status


def runtime_fingerprint(spec: dict[str, Any], status: dict[str, Any]) -> str:
    """What a server's pods depend on: when this changes, the server's Deployment is re-rendered."""
    keys = ("resolvedVersion", "integrity", "entrypoint", "resolvedSpec")
    return json.dumps([spec, {k: status.get(k) for k in keys}], sort_keys=True, default=str)
