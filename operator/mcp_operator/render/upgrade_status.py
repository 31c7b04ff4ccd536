"""MCPPackage status of the update-check and upgrade flows, as pure functions (docs/upgrades.md).

Each returns the merge patch for status: a field set to None is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp_operator.models import (
    HISTORY_LIMIT,
    FailedVersion,
    HistoryEntry,
    MCPPackageSpec,
    MCPPackageStatus,
    PackagePhase,
    Pin,
    Rollout,
)
from mcp_operator.reasons import Reason
from mcp_operator.render.package_status import entrypoint_of, source_key
from mcp_operator.render.status import conditions_dump, now, set_condition

UPGRADE = "Upgrade"
UPDATE_CHECK = "UpdateCheck"


def pin_of(status: MCPPackageStatus) -> Pin:
    assert status.resolved_version is not None
    return Pin(
        version=status.resolved_version,
        integrity=status.integrity,
        artifact_url=status.artifact_url,
        detected_command=list(status.detected_command),
        resolved_spec=status.resolved_spec,
    )


def _pin_fields(spec: MCPPackageSpec, pin: Pin) -> dict[str, Any]:
    return {
        "resolvedVersion": pin.version,
        "integrity": pin.integrity,
        "artifactUrl": pin.artifact_url,
        "detectedCommand": list(pin.detected_command),
        "entrypoint": entrypoint_of(spec, pin.detected_command).dump(),
        "resolvedSpec": pin.resolved_spec,
    }


def _history(old: Sequence[HistoryEntry], version: str, outcome: str, message: str) -> list[dict[str, Any]]:
    entry = HistoryEntry(version=version, at=now(), outcome=outcome, message=message or None)
    return [h.dump() for h in [entry, *old][:HISTORY_LIMIT]]


def rollout_started(
    spec: MCPPackageSpec,
    old: MCPPackageStatus,
    generation: int | None,
    new: Pin,
    *,
    requested: str,
    started_at: str,
    deadline: str,
) -> dict[str, Any]:
    """Move the pin to `new`; keep the old pin whole in status.rollout.from."""
    previous = pin_of(old)
    rollout = Rollout.model_validate(
        {
            "from": previous.dump(),
            "to": new.version,
            "startedAt": started_at,
            "deadline": deadline,
            "requested": requested,
        }
    )
    message = f"rolling out {new.version} (from {previous.version}; asked by {requested})"
    conditions = set_condition(old.conditions, "Ready", True, Reason.RESOLVED, message, generation)
    failed = [f.dump() for f in old.failed_versions if f.version != new.version]
    return {
        **_pin_fields(spec, new),
        "phase": str(PackagePhase.READY),
        "message": message,
        "rollout": rollout.dump(),
        "failedVersions": failed,
        "conditions": conditions_dump(conditions),
        "observedGeneration": generation,
    }


def rollout_done(spec: MCPPackageSpec, old: MCPPackageStatus, generation: int | None) -> dict[str, Any]:
    assert old.rollout is not None
    version, previous = old.rollout.to, old.rollout.from_.version
    message = f"{spec.source.package} upgraded from {previous} to {version}"
    history = _history(old.history, version, "upgraded", f"from {previous}")
    return _ended(old, generation, True, Reason.UPGRADED, message, history)


def rolled_back(
    name: str, spec: MCPPackageSpec, old: MCPPackageStatus, generation: int | None, reason: str, why: str
) -> dict[str, Any]:
    """Restore the previous pin; the failed version is not tried again unless asked for by name."""
    assert old.rollout is not None
    version, previous = old.rollout.to, old.rollout.from_
    message = (
        f"{why}; rolled back to {previous.version}. {version} is not tried again unless asked for by "
        f"name: kubectl annotate mcppackage {name} mcp-operator.dev/upgrade={version}"
    )
    failed = [f for f in old.failed_versions if f.version != version]
    entry = FailedVersion(version=version, reason=reason, message=why[:1024], at=now())
    history = _history(old.history, version, "rolledBack", why[:1024])
    return {
        **_pin_fields(spec, previous),
        **_ended(old, generation, False, Reason.ROLLED_BACK, message, history),
        "failedVersions": [f.dump() for f in [entry, *failed][:HISTORY_LIMIT]],
    }


def _ended(
    old: MCPPackageStatus,
    generation: int | None,
    ok: bool,
    reason: str,
    message: str,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """A rollout's end, either way: the Upgrade condition says how, the package stays Ready."""
    conditions = set_condition(old.conditions, UPGRADE, ok, reason, message, generation)
    conditions = set_condition(conditions, "Ready", True, Reason.RESOLVED, message, generation)
    return {
        "phase": str(PackagePhase.READY),
        "message": message,
        "rollout": None,
        "history": history,
        "conditions": conditions_dump(conditions),
        "observedGeneration": generation,
    }


def upgrade_condition(
    old: MCPPackageStatus, generation: int | None, reason: str, message: str, *, ok: bool = False
) -> dict[str, Any]:
    """The Upgrade condition alone: a request refused or not possible (False), or nothing to do."""
    conditions = set_condition(old.conditions, UPGRADE, ok, reason, message, generation)
    return {"conditions": conditions_dump(conditions), "observedGeneration": generation}


def checked(
    old: MCPPackageStatus,
    generation: int | None,
    *,
    latest: str | None,
    allowed: str | None,
    update_available: bool,
) -> dict[str, Any]:
    message = f"latest {latest or 'unknown'}; an upgrade would take {allowed or 'nothing newer'}"
    conditions = set_condition(old.conditions, UPDATE_CHECK, True, Reason.CHECKED, message, generation)
    return {
        "latestVersion": latest,
        "allowedVersion": allowed,
        "updateAvailable": update_available,
        "lastChecked": now(),
        "conditions": conditions_dump(conditions),
    }


def check_failed(old: MCPPackageStatus, generation: int | None, reason: str, message: str) -> dict[str, Any]:
    """The last answer stays; the condition says since when it is stale."""
    since = old.last_checked or "never"
    text = f"{message} (versions in status are from the last successful check: {since})"
    conditions = set_condition(old.conditions, UPDATE_CHECK, False, reason, text, generation)
    return {"conditions": conditions_dump(conditions)}


def kept_source(spec: MCPPackageSpec, old: MCPPackageStatus, generation: int | None) -> dict[str, Any]:
    """spec.source changed but selects the pinned version: the pin now stands for the new source."""
    return {"resolvedSpec": source_key(spec.source), "observedGeneration": generation}


def refreshed(spec: MCPPackageSpec, pin: Pin, generation: int | None) -> dict[str, Any]:
    """The same version, with the metadata the registry gives for it now (self-healing)."""
    return {**_pin_fields(spec, pin), "observedGeneration": generation}


def admitted(rollout: Rollout, server: str, deadline: str) -> dict[str, Any]:
    """The next server moves to the new version; the deadline starts again for it."""
    moved = rollout.model_copy(update={"servers": [*rollout.servers, server], "deadline": deadline})
    return {"rollout": moved.dump()}
