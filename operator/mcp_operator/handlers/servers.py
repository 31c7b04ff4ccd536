"""MCPServer: render and apply its Deployment, Service and NetworkPolicy; follow the Deployment.

Three triggers lead to the same reconcile: the server changed, its package's pin changed, or its
Deployment changed (then only the status is recomputed). Indexes keep the latest packages,
servers and Deployments in memory, so a reconcile costs no reads, only the writes it needs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import kopf
from pydantic import ValidationError

from mcp_operator.handlers import state
from mcp_operator.handlers.errors import describe_validation
from mcp_operator.k8s import KubeError
from mcp_operator.models import (
    API_VERSION,
    GROUP,
    VERSION,
    MCPPackageSpec,
    MCPPackageStatus,
    MCPServerSpec,
    MCPServerStatus,
    ServerPhase,
)
from mcp_operator.render import deployment as render_deployment
from mcp_operator.render import network as render_network
from mcp_operator.render.inputs import ObjectRef, ServerInput
from mcp_operator.render.labels import MANAGED_BY
from mcp_operator.render.package_status import pinned_spec, runtime_fingerprint
from mcp_operator.render.status import not_ready_status, server_status

PLURAL = "mcpservers"
Logger = logging.Logger | logging.LoggerAdapter[Any]
MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
Key = tuple[str, str]


class Indexes:
    """The in-memory indexes kopf passes to handlers as keyword arguments."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self.packages: kopf.Index[Key, dict[str, Any]] = kwargs["package_index"]
        self.servers: kopf.Index[Key, dict[str, Any]] = kwargs["server_index"]
        self.by_package: kopf.Index[Key, str] = kwargs["servers_by_package"]
        self.deployments: kopf.Index[Key, dict[str, Any]] = kwargs["deployment_index"]
        self.policies: kopf.Index[Key, bool] = kwargs["policy_index"]


def _first(index: kopf.Index[Key, dict[str, Any]], key: Key) -> dict[str, Any] | None:
    store = index.get(key)
    return next(iter(store), None) if store is not None else None


# ------------------------------------------------------------------------------------ indexes


def slim(body: Mapping[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    """A detached copy of just what the handlers read: indexes hold one per object, so no
    managedFields, annotations or anything else a thousand objects would pay memory for."""
    meta = body.get("metadata", {})
    result: dict[str, Any] = {
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "generation") if k in meta}
    }
    for path in paths:
        source: Any = body
        for part in path:
            source = source.get(part) if isinstance(source, Mapping) else None
        if source is None:
            continue
        target = result
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = json.loads(json.dumps(source, default=dict))
    return result


@kopf.index(GROUP, VERSION, "mcppackages")
def package_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, ("spec",), ("status",))}


@kopf.index(GROUP, VERSION, PLURAL)
def server_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, ("spec",), ("status",))}


@kopf.index(GROUP, VERSION, PLURAL)
def servers_by_package(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str]:
    return {(namespace or "", str(spec.get("package", ""))): name}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
def deployment_index(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    return {
        (namespace or "", name): slim(
            body, ("spec", "replicas"), ("spec", "template", "metadata", "annotations"), ("status",)
        )
    }


@kopf.index("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
def policy_index(namespace: str | None, name: str, **_: Any) -> dict[Key, bool]:
    """Which servers have a NetworkPolicy: deleting one that does not exist costs a request."""
    return {(namespace or "", name): True}


# ----------------------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class Outcome:
    """What a reconcile found: an error status to report (and warn about), or nothing (applied)."""

    error: dict[str, Any] | None = None
    warning: str | None = None


def _failure(
    old: MCPServerStatus,
    generation: int | None,
    phase: ServerPhase,
    reason: str,
    message: str,
    warn: bool = True,
) -> Outcome:
    status = not_ready_status(old.conditions, generation, phase, reason, message)
    return Outcome(error=status, warning=message if warn else None)


async def reconcile(server: Mapping[str, Any], idx: Indexes) -> Outcome:
    """Render and apply the server's children (skipped when nothing changed since the last apply)."""
    meta = server.get("metadata", {})
    name, namespace = meta["name"], meta["namespace"]
    generation = meta.get("generation")
    old = MCPServerStatus.model_validate(server.get("status") or {})
    try:
        spec = MCPServerSpec.model_validate(server.get("spec") or {})
    except ValidationError as exc:
        message = describe_validation(exc, "MCPServer")
        return _failure(old, generation, ServerPhase.FAILED, "InvalidSpec", message)

    package = _first(idx.packages, (namespace, spec.package))
    if package is None:
        message = (
            f"MCPPackage {spec.package!r} does not exist in namespace {namespace!r}: create it "
            "(or fix spec.package); the server starts as soon as it exists"
        )
        return _failure(old, generation, ServerPhase.PENDING, "PackageNotFound", message)
    try:
        package_spec = MCPPackageSpec.model_validate(package.get("spec") or {})
    except ValidationError:
        message = f"MCPPackage {spec.package!r} has an invalid spec: see its status and fix it"
        return _failure(old, generation, ServerPhase.PENDING, "PackageInvalid", message)
    pkg_status = MCPPackageStatus.model_validate(package.get("status") or {})
    package_spec = pinned_spec(package_spec, pkg_status)
    inp = ServerInput(
        server=ObjectRef("MCPServer", name, namespace, meta.get("uid", ""), generation or 0),
        spec=spec,
        package=ObjectRef("MCPPackage", spec.package, namespace, package.get("metadata", {}).get("uid", "")),
        package_spec=package_spec,
        package_status=pkg_status,
    )
    ctx = state.get()
    try:
        manifests = [
            render_deployment.deployment(inp, ctx.settings),
            render_network.service(inp, ctx.settings),
        ]
    except render_deployment.RenderError as exc:
        if exc.reason == "PackageNotReady":
            detail = f" The package says: {pkg_status.message}" if pkg_status.message else ""
            return _failure(old, generation, ServerPhase.PENDING, exc.reason, f"{exc}.{detail}", warn=False)
        return _failure(old, generation, ServerPhase.FAILED, exc.reason, str(exc))
    policy = render_network.network_policy(inp, ctx.settings)
    if policy is not None:
        manifests.append(policy)

    digest = hashlib.sha256(json.dumps(manifests, sort_keys=True).encode()).hexdigest()
    key = (namespace, name)
    async with ctx.apply_lock(key):  # two triggers at once must not both apply
        if ctx.applied.get(key) == digest:
            return Outcome()
        if key not in ctx.applied:  # first apply in this process: are these names ours?
            try:
                for manifest in manifests:
                    await check_owner(manifest, inp.server.uid)
            except NameConflict as exc:
                return _failure(old, generation, ServerPhase.FAILED, "NameConflict", str(exc))
        for manifest in manifests:
            stored = await ctx.kube.apply(manifest, force=True)
            if manifest["kind"] == "Deployment":
                ctx.generations[key] = stored.get("generation")
        if policy is None and key in idx.policies:
            await ctx.kube.delete("networking.k8s.io/v1", "NetworkPolicy", namespace, name)
        ctx.applied[key] = digest
    return Outcome()


class NameConflict(Exception):
    """An object with the child's name exists and belongs to someone else."""


async def check_owner(manifest: dict[str, Any], owner_uid: str) -> None:
    """A child that already exists must be controlled by this MCPServer.

    Server-side apply (with force, so the MCPServer's spec wins over anyone's edits) would
    otherwise merge into an unrelated object that happens to have the same name: map and list
    entries from both sides merge without any conflict.
    """
    meta = manifest["metadata"]
    live = await state.get().kube.get(
        manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]
    )
    owners = (live or {}).get("metadata", {}).get("ownerReferences") or []
    if live is not None and not any(o.get("uid") == owner_uid and o.get("controller") for o in owners):
        raise NameConflict(
            f"a {manifest['kind']} named {meta['name']!r} already exists in {meta['namespace']!r} and "
            "is not owned by this MCPServer: rename the MCPServer, or delete that object"
        )


async def publish(server: Mapping[str, Any], idx: Indexes, outcome: Outcome | None) -> None:
    """Write the server's status, one writer at a time, from the freshest Deployment known.

    Deployment events and spec changes race; computing under the lock from the index (which kopf
    updates before it calls any handler) means the last write always reflects the last event.
    """
    meta = server.get("metadata", {})
    key = (meta["namespace"], meta["name"])
    ctx = state.get()
    async with ctx.status_lock(key):
        previous = ctx.written.get(key) or dict(server.get("status") or {})
        # A problem found by a reconcile stands until a reconcile succeeds: Deployment events
        # alone (outcome None) must not paper over it with a rollout status.
        if outcome is None:
            outcome = ctx.failures.get(key)
        elif outcome.error is not None:
            ctx.failures[key] = outcome
        else:
            ctx.failures.pop(key, None)
        if outcome is not None and outcome.error is not None:
            status = outcome.error
        else:
            spec = MCPServerSpec.model_validate(server.get("spec") or {})
            old = MCPServerStatus.model_validate(previous)
            dep = _first(idx.deployments, key)
            status = server_status(spec, meta.get("generation"), dep, old.version, old.conditions)
            status["url"] = render_network.server_url(key[1], key[0], spec, ctx.settings)
        if ctx.written.get(key) == status:
            return  # nothing new to say
        await ctx.kube.patch_status("MCPServer", key[0], key[1], status)
        ctx.written[key] = status


# ------------------------------------------------------------------------------------ handlers


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def server_changed(body: kopf.Body, retry: int, **kwargs: Any) -> None:
    idx = Indexes(kwargs)
    server = slim(body, ("spec",), ("status",))
    try:
        outcome = await reconcile(server, idx)
        await publish(server, idx, outcome)
    except KubeError as exc:
        kopf.warn(body, reason="ApplyFailed", message=str(exc))
        raise kopf.TemporaryError(str(exc), delay=state.backoff(retry)) from exc
    _warn(body, outcome)


def _warn(server: Mapping[str, Any], outcome: Outcome) -> None:
    """A warning Event for a problem the user can fix, from whichever trigger found it."""
    if outcome.warning and outcome.error:
        reason = next(c["reason"] for c in outcome.error["conditions"] if c["type"] == "Ready")
        body = {"apiVersion": API_VERSION, "kind": "MCPServer", **server}
        kopf.warn(cast(kopf.Body, body), reason=reason, message=outcome.warning)


@kopf.on.event(GROUP, VERSION, "mcppackages")
async def package_event(
    event: kopf.RawEvent, namespace: str | None, name: str, logger: Logger, **kwargs: Any
) -> None:
    """A package's pin moved (or the package came or went): re-render the servers that use it."""
    idx, namespace = Indexes(kwargs), namespace or ""
    obj = event.get("object") or {}
    fingerprint = runtime_fingerprint(obj.get("spec") or {}, obj.get("status") or {})
    if event.get("type") == "DELETED":
        fingerprint = "deleted"
    ctx = state.get()
    for server_name in idx.by_package.get((namespace, name), []):
        server = _first(idx.servers, (namespace, server_name))
        memo = (namespace, f"package:{server_name}")
        if server is None or ctx.applied.get(memo) == fingerprint:
            continue
        try:
            outcome = await reconcile(server, idx)
            await publish(server, idx, outcome)
        except KubeError as exc:
            logger.warning("could not update MCPServer %s/%s: %s", namespace, server_name, exc)
            continue
        _warn(server, outcome)
        ctx.applied[memo] = fingerprint


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
async def deployment_event(
    event: kopf.RawEvent, namespace: str | None, name: str, logger: Logger, **kwargs: Any
) -> None:
    """The Deployment moved: recompute the server's status; re-create it if someone deleted it."""
    idx, namespace = Indexes(kwargs), namespace or ""
    server = _first(idx.servers, (namespace, name))
    if server is None:
        return
    ctx = state.get()
    try:
        outcome: Outcome | None = None
        live_generation = (event.get("object") or {}).get("metadata", {}).get("generation")
        drifted = (namespace, name) in ctx.generations and live_generation != ctx.generations[
            (namespace, name)
        ]
        if event.get("type") == "DELETED" or drifted:
            # Deleted, or its spec changed by someone else: render and apply it again.
            ctx.applied.pop((namespace, name), None)
            outcome = await reconcile(server, idx)
        await publish(server, idx, outcome)
    except (KubeError, ValidationError) as exc:
        logger.warning("could not update the status of MCPServer %s/%s: %s", namespace, name, exc)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
def server_deleted(namespace: str | None, name: str, **_: Any) -> None:
    """Children go by owner references; forget the memos."""
    ctx, namespace = state.get(), namespace or ""
    ctx.forget((namespace, name))
    ctx.forget((namespace, f"package:{name}"))
