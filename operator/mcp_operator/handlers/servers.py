"""MCPServer reconcile: observe, decide (render/server_plan), apply what differs, write status.

Level-triggered: whatever queued the server (its own event, its package's, a child's, a retry or
the periodic resync), the reconcile starts from what the cache holds now and ends with the
children and the status that state calls for. A server that cannot progress yet is retried with
backoff; API errors propagate to the controller, which reports and retries them.
"""

from __future__ import annotations

import enum
import hashlib
import json
import time
from typing import Any

from mcp_operator.handlers import heal, report, state, verify
from mcp_operator.handlers.cache import Key, slim
from mcp_operator.handlers.memory import Memory
from mcp_operator.handlers.state import SERVER
from mcp_operator.models import MCPServerStatus, ServerPhase
from mcp_operator.reasons import Reason
from mcp_operator.render import network as render_network
from mcp_operator.render.cache_paths import CHILD_PATHS
from mcp_operator.render.drift import Applied, needs_apply
from mcp_operator.render.mcp_answers import Failure
from mcp_operator.render.pod_problems import PodProblem, pod_problem
from mcp_operator.render.server_plan import Plan, Problem, plan_server
from mcp_operator.render.status import not_ready_status, server_status

NETPOL = ("networking.k8s.io/v1", "NetworkPolicy")


class NameConflict(Exception):
    """An object with the child's name exists and belongs to someone else."""


class Outcome(enum.Enum):
    """What a reconcile asks of the controller: nothing more, or another look after a backoff."""

    DONE = "done"
    WAIT = "wait"


async def reconcile_server(key: Key) -> Outcome | float:
    """DONE, WAIT (retry with backoff), or the seconds until the server needs another look."""
    ctx = state.get()
    server = ctx.cache.servers.get(key)
    if server is None:
        return Outcome.DONE
    meta = server["metadata"]
    memory = ctx.memories.get((SERVER, *key), meta.get("uid", ""))
    package = ctx.cache.packages.get((key[0], _package_name(server)))
    # The status of record (our last write, even before its watch event) decides what is rendered:
    # a suspension the cache does not show yet must not be applied back to one replica.
    current = report.current_status(server, memory)
    view = {**server, "status": current}
    plan = plan_server(view, package, ctx.settings)
    if plan.problem is not None:
        return await _report_problem(server, memory, plan)
    old = MCPServerStatus.model_validate(current)
    healing = await heal.decide(key, server, memory, old)
    if healing.changed:  # a reinstall (new pod template) or a suspension (zero replicas)
        healed = {**view, "status": {**current, "reinstall": healing.state()}}
        plan = plan_server(healed, package, ctx.settings)  # the same inputs but the reinstall state
    try:
        deployment = await _apply_children(key, meta.get("uid", ""), memory, plan)
    except NameConflict as exc:
        conflict = Plan(plan.spec, problem=_conflict(str(exc)))
        return await _report_problem(server, memory, conflict)
    assert plan.spec is not None
    secret = await _auth_secret_problem(key, plan, deployment)
    pods = pod_problem(ctx.cache.pods_of(key)) or secret
    generation = meta.get("generation")
    status = server_status(plan.spec, generation, deployment, old.version, old.conditions, pods)
    status["url"] = render_network.server_url(key[1], key[0], plan.spec, ctx.settings)
    healing.overlay(status, key[1])
    again = await verify.fold(key, plan.spec, plan.manifests, deployment, status, current, memory, generation)
    if secret is not None:  # Secrets are not watched: look again soon
        again = min(again or SECRET_RECHECK, SECRET_RECHECK)
    await report.write_status(SERVER, *key, server, memory, status)
    return Outcome.DONE if again is None else again


SECRET_RECHECK = 15.0  # seconds until a missing bridge token Secret is looked for again


async def _auth_secret_problem(key: Key, plan: Plan, deployment: dict[str, Any] | None) -> PodProblem | None:
    """Pods whose bridge token Secret is missing wait in ContainerCreating (the kubelet cannot mount
    it) and their status says nothing: while such a server is not all ready, say why."""
    auth = plan.spec.bridge.auth if plan.spec is not None else None
    if auth is None or _all_ready(deployment):
        return None
    try:
        await verify.bearer_token(key[0], auth)
    except Failure as exc:
        return PodProblem(exc.reason, exc.message)
    return None


def _all_ready(deployment: dict[str, Any] | None) -> bool:
    status = (deployment or {}).get("status") or {}
    desired = ((deployment or {}).get("spec") or {}).get("replicas", 1)
    return bool(deployment) and int(status.get("readyReplicas") or 0) >= int(desired or 0)


def _package_name(server: dict[str, Any]) -> str:
    return str((server.get("spec") or {}).get("package") or "")


def _conflict(message: str) -> Problem:
    return Problem(ServerPhase.FAILED, Reason.NAME_CONFLICT, message)


async def _report_problem(server: dict[str, Any], memory: Memory, plan: Plan) -> Outcome:
    problem = plan.problem
    assert problem is not None
    meta = server["metadata"]
    key = (meta["namespace"], meta["name"])
    old = MCPServerStatus.model_validate(report.current_status(server, memory))
    generation = meta.get("generation")
    status = not_ready_status(old.conditions, generation, problem.phase, problem.reason, problem.message)
    await report.write_status(SERVER, *key, server, memory, status)
    if problem.warn:
        await report.post_event(SERVER, *key, memory, "Warning", problem.reason, problem.message)
    return Outcome.WAIT if problem.wait else Outcome.DONE


async def _apply_children(key: Key, uid: str, memory: Memory, plan: Plan) -> dict[str, Any] | None:
    """Apply each child that is missing, changed or edited; delete a policy no longer wanted.
    Returns the Deployment as last seen (the apply's answer when it was just applied)."""
    ctx = state.get()
    now = time.monotonic()
    deployment = ctx.cache.child("Deployment", key)
    for manifest in plan.manifests:
        kind = manifest["kind"]
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
        observed = ctx.cache.child(kind, key)
        if not needs_apply(kind, manifest, digest, observed, memory.children.get(kind), now):
            continue
        await _check_owner(manifest, observed, uid, memory)
        stored = await ctx.kube.apply(manifest, force=True)
        stored_meta = stored.get("metadata", {})
        memory.children[kind] = Applied(digest, stored_meta.get("uid"), stored_meta.get("generation"), now)
        if kind == "Deployment":
            deployment = slim(stored, *CHILD_PATHS["Deployment"])
    has_policy = ctx.cache.child("NetworkPolicy", key) is not None or "NetworkPolicy" in memory.children
    if not plan.wants_policy and has_policy:
        await ctx.kube.delete(*NETPOL, *key)
        memory.children.pop("NetworkPolicy", None)
    return deployment


async def _check_owner(
    manifest: dict[str, Any], observed: dict[str, Any] | None, uid: str, memory: Memory
) -> None:
    """A child that already exists must be controlled by this MCPServer.

    Server-side apply (with force, so the MCPServer's spec wins over anyone's edits) would
    otherwise merge into an unrelated object that happens to have the same name. The cache holds
    only objects labelled as ours; anything else is looked up once, before the first apply.
    """
    kind, meta = manifest["kind"], manifest["metadata"]
    if observed is not None and observed["metadata"].get("owner") == uid:
        memory.owners_checked.add(kind)
        return
    if kind in memory.owners_checked and observed is None:
        return
    live = await state.get().kube.get(manifest["apiVersion"], kind, meta["namespace"], meta["name"])
    if live is None:
        memory.owners_checked.add(kind)
        return
    owners = live.get("metadata", {}).get("ownerReferences") or []
    if not any(o.get("uid") == uid and o.get("controller") for o in owners):
        memory.owners_checked.discard(kind)
        raise NameConflict(
            f"a {kind} named {meta['name']!r} already exists in {meta['namespace']!r} and is not owned "
            "by this MCPServer: rename the MCPServer, or delete that object (the operator notices "
            "within a minute)"
        )
    memory.owners_checked.add(kind)
