"""Pure decisions of the upgrade flows (docs/upgrades.md): what a request asks for, whether a check
is due, and how a rollout stands, from the package's status and its servers as observed."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_operator import validation, versions
from mcp_operator.models import MCPPackageSpec, MCPPackageStatus, Rollout
from mcp_operator.reasons import Reason

UPGRADE_ANNOTATION = "mcp-operator.dev/upgrade"  # the request users (and the CLI) set
CHECK_ANNOTATION = "mcp-operator.dev/check"
REFRESH_ANNOTATION = "mcp-operator.dev/refresh"  # self-healing: re-read the pinned version's metadata

# What makes a rollout fail at once: the new version's pods cannot install or start.
FAILING = frozenset(
    {
        Reason.INSTALL_FAILED,
        Reason.CRASH_LOOP_BACK_OFF,
        Reason.IMAGE_UNAVAILABLE,
        Reason.CONTAINER_CONFIG_ERROR,
        Reason.PROGRESS_DEADLINE_EXCEEDED,
    }
)
LATEST_REQUESTS = frozenset({"", "latest", "true", "now"})


def parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def stamp(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_due(spec: MCPPackageSpec, status: MCPPackageStatus, now: datetime.datetime) -> float | None:
    """Seconds until the next periodic check (0: due now), or None when checks are off."""
    if not spec.updates.check or not status.resolved_version:
        return None
    last = parse_time(status.last_checked)
    if last is None or not any(c.type == "UpdateCheck" for c in status.conditions):
        return 0.0  # never checked (the first resolve does not count: it writes no check result)
    interval = validation.parse_duration(spec.updates.interval)
    return max(0.0, interval - (now - last).total_seconds())


@dataclass(frozen=True)
class Request:
    """An upgrade request read from the annotation: a version, or None for the newest allowed."""

    raw: str
    version: str | None


def read_request(value: str | None) -> Request | None:
    if value is None:
        return None
    text = value.strip()
    return Request(value, None if text.lower() in LATEST_REQUESTS else text)


def refusal(ecosystem: str, spec: MCPPackageSpec, version: str, latest: str | None) -> str | None:
    """Why a requested version cannot be taken, or None when the constraint allows it."""
    if versions.allows(ecosystem, spec.source.version, version, latest):
        return None
    return (
        f"upgrade to {version} refused: spec.source.version {spec.source.version!r} does not allow it; "
        f"change spec.source.version (for example to {version!r}) to run it"
    )


def _unverified(names: list[str]) -> str:
    return f"; Ready but not verified by an MCP handshake: {', '.join(names)}" if names else ""


class Progress(enum.Enum):
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class RolloutState:
    progress: Progress
    reason: str = ""
    message: str = ""
    admit: str | None = None  # WAITING: the next server to move to the new version now


@dataclass(frozen=True)
class ServerView:
    """What the package's rollout watch needs of one MCPServer, from the cache."""

    name: str
    enabled: bool
    version: str | None  # status.version: what its ready pods run
    phase: str | None
    reason: str | None  # the Ready condition's reason
    message: str
    template_version: str | None  # the version its Deployment's pod template runs now
    verified_version: str | None = None  # the version its pods answered the handshake as (Verified)
    verify_message: str = ""  # why not, while they have not


def server_view(server: Mapping[str, Any], template_version: str | None) -> ServerView:
    spec, status = server.get("spec") or {}, server.get("status") or {}
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    verified: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Verified"), {}
    )
    return ServerView(
        verified_version=status.get("verifiedVersion") if verified.get("status") == "True" else None,
        verify_message=str(verified.get("message") or ""),
        name=str(server.get("metadata", {}).get("name", "")),
        enabled=spec.get("enabled", True) is not False,
        version=status.get("version"),
        phase=status.get("phase"),
        reason=ready.get("reason"),
        message=str(ready.get("message") or ""),
        template_version=template_version,
    )


def rollout_state(rollout: Rollout, servers: Collection[ServerView], now: datetime.datetime) -> RolloutState:
    """Servers move to the new version one at a time, in name order (status.rollout.servers lists
    those admitted). Done when every enabled server runs it, Ready, and its pods answered the MCP
    handshake as it (Verified); failed when an admitted server cannot install or start it, or when
    the deadline (renewed at each admission) passes first."""
    enabled = sorted((s for s in servers if s.enabled), key=lambda s: s.name)
    waiting: list[str] = []
    unverified: list[str] = []
    for server in (s for s in enabled if s.name in rollout.servers):
        on_new = server.template_version == rollout.to
        if on_new and server.reason in FAILING:
            return RolloutState(
                Progress.FAILED,
                str(server.reason),
                f"{rollout.to} failed on MCPServer {server.name}: {server.reason}: {server.message}",
            )
        if not (on_new and server.version == rollout.to and server.phase == "Running"):
            waiting.append(server.name)
        elif server.verified_version != rollout.to:
            waiting.append(server.name)
            unverified.append(f"{server.name} ({server.verify_message or 'handshake pending'})")
    deadline = parse_time(rollout.deadline)
    if waiting and deadline is not None and now >= deadline:
        return RolloutState(
            Progress.FAILED,
            str(Reason.ROLLOUT_TIMED_OUT),
            f"{rollout.to} was not Ready on {', '.join(waiting)} by the rollout deadline "
            f"({rollout.deadline}){_unverified(unverified)}; spec.updates.rolloutDeadline sets it",
        )
    if waiting:
        return RolloutState(
            Progress.WAITING, message=f"rolling out {rollout.to}: waiting for {', '.join(waiting)}"
        )
    following = next((s.name for s in enabled if s.name not in rollout.servers), None)
    if following is not None:
        return RolloutState(
            Progress.WAITING, message=f"rolling out {rollout.to} to {following}", admit=following
        )
    return RolloutState(Progress.DONE)


@dataclass(frozen=True)
class Outcome:
    """How an upgrade request ended, read from the package once the operator has acted on it."""

    done: bool
    success: bool = False
    version: str | None = None
    error: str | None = None


def outcome(before: MCPPackageStatus, after: MCPPackageStatus, annotations: Mapping[str, str]) -> Outcome:
    """The operator removes the request annotation only after writing what it did to status, and a
    rollout it started stays in status.rollout until it is done or rolled back."""
    if UPGRADE_ANNOTATION in annotations or after.rollout is not None:
        return Outcome(done=False)
    top_before = before.history[0] if before.history else None
    top = after.history[0] if after.history else None
    if top is not None and top != top_before:
        if top.outcome == "upgraded":
            return Outcome(True, True, top.version)
        if top.outcome == "rolledBack":
            return Outcome(
                True, False, after.resolved_version, f"{top.version} was rolled back: {top.message or ''}"
            )
    condition = next((c for c in after.conditions if c.type == "Upgrade"), None)
    previous = next((c for c in before.conditions if c.type == "Upgrade"), None)
    if condition is not None and condition != previous and condition.status == "False":
        return Outcome(True, False, after.resolved_version, f"{condition.reason}: {condition.message}")
    return Outcome(True, True, after.resolved_version)
