"""Verify: after each rollout, an MCP handshake with the server through its Service, recorded in
its status (render/verify.py decides when and what the status says; handshake.py is the client).

A handshake runs beside the reconciles, not in one: a reconcile that finds it due starts it and
writes its status at once; when it ends, its result waits in the server's memory and the server
is queued, so the next reconcile writes it. Status keeps its one writer, and a slow server holds
no reconcile worker.

A server with spec.bridge.auth is asked with the bearer token from its Secret, read fresh for
each handshake (so a rotated token is used as soon as the pods have it too)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mcp_operator.bridge.security import token_problem
from mcp_operator.handlers import report, state
from mcp_operator.handlers.cache import Key
from mcp_operator.handlers.memory import Memory
from mcp_operator.handlers.state import SERVER
from mcp_operator.handshake import handshake
from mcp_operator.k8s import KubeError
from mcp_operator.models import BridgeAuth, MCPServerSpec, Transport
from mcp_operator.reasons import Reason
from mcp_operator.render.mcp_answers import Failure
from mcp_operator.render.verify import (
    Attempt,
    Facts,
    rolled_out,
    step,
    template_digest,
    template_version,
)

log = logging.getLogger(__name__)


async def fold(
    key: Key,
    spec: MCPServerSpec,
    manifests: list[dict[str, Any]],
    deployment: dict[str, Any] | None,
    status: dict[str, Any],
    previous: dict[str, Any],
    memory: Memory,
    generation: int | None,
) -> float | None:
    """Fold the verification state into `status` (this reconcile's, updated in place) and start a
    handshake when one is due. Returns the seconds until verification needs another look, or None
    when an event will bring it (a rollout's progress, a handshake's end)."""
    ctx = state.get()
    tuning = ctx.tuning
    desired = next(m for m in manifests if m["kind"] == "Deployment")
    applied = memory.children.get("Deployment")
    service = ctx.cache.child("Service", key) or {}
    address = str((service.get("spec") or {}).get("clusterIP") or "")
    facts = Facts(
        template=template_digest(desired),
        version=template_version(desired),
        rolled_out=rolled_out(
            status, deployment, applied.generation if applied else None, ctx.cache.pods_of(key)
        ),
        replicas=int(status.get("replicas") or 0),
        address=address if address and address != "None" else None,
    )
    attempt, memory.verify_attempt = memory.verify_attempt, None
    now = time.time()
    decided = step(
        facts,
        {**previous, **status},
        attempt,
        memory.verify_pacing,
        memory.verifying,
        now,
        generation=generation,
        interval=tuning.verify_interval,
        retry_base=tuning.retry_base,
        retry_cap=tuning.retry_cap,
    )
    memory.verify_pacing = decided.pacing
    status.update(decided.status)
    if decided.warn and attempt is not None and attempt.failure is not None:
        message = f"MCP handshake failed: {attempt.failure.message}"
        await report.post_event(SERVER, *key, memory, "Warning", attempt.failure.reason, message)
    if decided.start and facts.address:
        auth = spec.bridge.auth if spec.transport == Transport.STDIO else None
        _start(key, memory, str(status["url"]), facts, spec.transport == Transport.SSE, auth)
    return decided.delay


def _start(
    key: Key, memory: Memory, url: str, facts: Facts, legacy: bool, auth: BridgeAuth | None = None
) -> None:
    handshakes = state.get().handshakes
    memory.verifying = True
    task = asyncio.create_task(
        _run(key, memory, url, facts, legacy, auth), name=f"handshake {key[0]}/{key[1]}"
    )
    handshakes.tasks.add(task)
    task.add_done_callback(handshakes.tasks.discard)


async def bearer_token(namespace: str, auth: BridgeAuth) -> str:
    """The token in the Secret key spec.bridge.auth names, as the bridge reads its file (without
    surrounding whitespace); a Failure that says what to fix when there is none."""
    ref = auth.secret_ref
    named = f"Secret {ref.name!r} (spec.bridge.auth.secretRef)"
    try:
        data = await state.get().kube.read_secret(namespace, ref.name)
    except (KubeError, ValueError) as exc:
        raise Failure(
            Reason.SECRET_NOT_FOUND, f"could not read {named} for the bearer token: {exc}"
        ) from None
    if data is None:
        raise Failure(
            Reason.SECRET_NOT_FOUND,
            f"{named} does not exist in namespace {namespace!r}: create it with the bearer token under "
            f"key {ref.key!r} (the pods cannot start without it either)",
        )
    if ref.key not in data:
        raise Failure(
            Reason.SECRET_NOT_FOUND,
            f"{named} has no key {ref.key!r}: add the bearer token under that key, or set "
            "spec.bridge.auth.secretRef.key to the key that holds it",
        )
    token = data[ref.key].strip()
    problem = token_problem(token)
    if problem is not None:
        raise Failure(
            Reason.SECRET_NOT_FOUND,
            f"the bearer token in {named}, key {ref.key!r}, {problem}: put one line of visible ASCII "
            "characters there",
        )
    return token


async def _run(
    key: Key, memory: Memory, url: str, facts: Facts, legacy: bool, auth: BridgeAuth | None
) -> None:
    ctx = state.get()
    try:
        async with ctx.handshakes.slots:
            try:
                token = await bearer_token(key[0], auth) if auth is not None else None
                found = await handshake(
                    url,
                    address=facts.address,
                    legacy=legacy,
                    within=ctx.tuning.verify_timeout,
                    token=token,
                )
                attempt = Attempt(facts.template, facts.version, time.time(), verification=found)
            except Failure as exc:
                attempt = Attempt(facts.template, facts.version, time.time(), failure=exc)
            except Exception as exc:  # a bug in the client: report it, never lose the server
                log.exception("MCPServer %s/%s: the handshake failed unexpectedly", *key)
                failure = Failure(Reason.HANDSHAKE_INVALID, f"the handshake failed: {type(exc).__name__}")
                attempt = Attempt(facts.template, facts.version, time.time(), failure=failure)
        if attempt.failure is not None:
            log.info("MCPServer %s/%s: handshake failed: %s", *key, attempt.failure.message)
        memory.verify_attempt = attempt
    finally:
        memory.verifying = False
        ctx.queue.add((SERVER, *key))


async def stop() -> None:
    """Cancel the handshakes in flight (the operator stops)."""
    tasks = list(state.get().handshakes.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
