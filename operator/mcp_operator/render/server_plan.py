"""What an MCPServer should have, decided from its spec and its package's: a pure function.

The result is either the manifests of its children or a problem to report (with whether waiting
can fix it). Nothing here reads the API: the caller passes what it observed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mcp_operator import validation
from mcp_operator.models import (
    MCPPackageSpec,
    MCPPackageStatus,
    MCPServerSpec,
    Reinstall,
    ServerPhase,
)
from mcp_operator.reasons import Reason
from mcp_operator.render import deployment as render_deployment
from mcp_operator.render import network as render_network
from mcp_operator.render.inputs import ObjectRef, ServerInput, Settings
from mcp_operator.render.package_status import pinned_spec
from mcp_operator.render.validation_text import describe_validation


@dataclass(frozen=True)
class Problem:
    """Why the server cannot have its children now, for its Ready condition."""

    phase: ServerPhase
    reason: Reason
    message: str
    warn: bool = True  # post a Warning Event (not for states that are expected to pass)
    wait: bool = True  # another object may fix it: retry with backoff until then


@dataclass(frozen=True)
class Plan:
    spec: MCPServerSpec | None = None
    problem: Problem | None = None
    manifests: list[dict[str, Any]] = field(default_factory=list)  # Deployment, Service[, NetworkPolicy]
    wants_policy: bool = False


def plan_server(server: Mapping[str, Any], package: Mapping[str, Any] | None, settings: Settings) -> Plan:
    meta = server.get("metadata", {})
    name, namespace = meta["name"], meta["namespace"]
    try:
        # The CRD refuses such a name; an older CRD, or an API server without it, may not have.
        validation.check_server_name(name)
    except validation.InputError as exc:
        return Plan(problem=Problem(ServerPhase.FAILED, Reason.INVALID_SPEC, str(exc), wait=False))
    try:
        spec = MCPServerSpec.model_validate(server.get("spec") or {})
    except ValidationError as exc:
        message = describe_validation(exc, "MCPServer")
        return Plan(problem=Problem(ServerPhase.FAILED, Reason.INVALID_SPEC, message, wait=False))
    if package is None:
        message = (
            f"MCPPackage {spec.package!r} does not exist in namespace {namespace!r}: create it "
            "(or fix spec.package); the server starts as soon as it exists"
        )
        return Plan(spec, Problem(ServerPhase.PENDING, Reason.PACKAGE_MISSING, message))
    try:
        package_spec = MCPPackageSpec.model_validate(package.get("spec") or {})
    except ValidationError:
        message = f"MCPPackage {spec.package!r} has an invalid spec: see its status and fix it"
        return Plan(spec, Problem(ServerPhase.PENDING, Reason.PACKAGE_INVALID, message))
    pkg_status = waiting_view(MCPPackageStatus.model_validate(package.get("status") or {}), name)
    inp = ServerInput(
        server=ObjectRef("MCPServer", name, namespace, meta.get("uid", ""), meta.get("generation") or 0),
        spec=spec,
        package=ObjectRef("MCPPackage", spec.package, namespace, package.get("metadata", {}).get("uid", "")),
        package_spec=pinned_spec(package_spec, pkg_status),
        package_status=pkg_status,
        **_reinstall(server, pkg_status.resolved_version),
    )
    try:
        manifests = [render_deployment.deployment(inp, settings), render_network.service(inp, settings)]
    except render_deployment.RenderError as exc:
        reason = Reason(exc.reason)
        if reason == Reason.PACKAGE_NOT_READY:
            detail = f" The package says: {pkg_status.message}" if pkg_status.message else ""
            problem = Problem(ServerPhase.PENDING, reason, f"{exc}.{detail}", warn=False)
        else:
            # The package may change to fix it (entrypoint, install method): keep checking.
            wait = reason != Reason.TRANSPORT_UNSUPPORTED
            problem = Problem(ServerPhase.FAILED, reason, str(exc), wait=wait)
        return Plan(spec, problem)
    policy = render_network.network_policy(inp, settings)
    if policy is not None:
        manifests.append(policy)
    return Plan(spec, manifests=manifests, wants_policy=policy is not None)


def _reinstall(server: Mapping[str, Any], version: str | None) -> dict[str, Any]:
    """Self-healing's state for the pinned version (render/self_heal.py): its template token, and
    whether the server is suspended."""
    raw = (server.get("status") or {}).get("reinstall")
    if not raw:
        return {}
    found = Reinstall.model_validate(raw)
    if found.version != version:
        return {}
    return {"reinstall_token": found.token, "suspended": found.suspended}


def waiting_view(status: MCPPackageStatus, server: str) -> MCPPackageStatus:
    """The package as a server sees it: while a new pin rolls out, servers not yet admitted
    (status.rollout.servers) keep the previous pin, so servers roll one at a time."""
    rollout = status.rollout
    if rollout is None or server in rollout.servers:
        return status
    old = rollout.from_
    return status.model_copy(
        update={
            "resolved_version": old.version,
            "integrity": old.integrity,
            "artifact_url": old.artifact_url,
            "detected_command": list(old.detected_command),
            "resolved_spec": old.resolved_spec,
        }
    )
