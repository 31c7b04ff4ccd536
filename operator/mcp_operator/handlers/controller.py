"""The controller loop: workers take keys from the queue, reconcile them, and retry what failed.

Every failure a reconcile meets ends in one of three ways, never in silence: the object waits for
something else (retried with backoff, and at once when that something changes), the registry is
retried on its own schedule, or the Kubernetes API failed (reported as an Event and in the Ready
condition, and retried with backoff). A periodic resync queues every known object, so even an
event that never arrived costs at most one resync period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mcp_operator.handlers import packages, report, servers, state, uninstall, verify
from mcp_operator.handlers.queue import QueueClosed
from mcp_operator.handlers.state import PACKAGE, SERVER, QueueKey
from mcp_operator.k8s import KubeError
from mcp_operator.models import Condition
from mcp_operator.reasons import Reason
from mcp_operator.render.status import set_condition

log = logging.getLogger(__name__)


async def process(key: QueueKey) -> None:
    """Reconcile one key and schedule what comes next for it."""
    ctx = state.get()
    kind, namespace, name = key
    try:
        if kind == PACKAGE and await uninstall.settle((namespace, name)):
            outcome: float | servers.Outcome = servers.Outcome.DONE  # being deleted: nothing to resolve
        elif kind == PACKAGE:
            outcome = await packages.reconcile_package((namespace, name))
        else:
            outcome = await servers.reconcile_server((namespace, name))
    except KubeError as exc:
        delay = ctx.queue.retry(key)
        log.warning("%s %s/%s: %s; retrying in %.1f s", kind, namespace, name, exc, delay)
        await _report_api_error(key, exc)
        return
    if outcome is servers.Outcome.WAIT:
        ctx.queue.retry(key)
    elif isinstance(outcome, float):
        ctx.queue.succeeded(key)
        ctx.queue.add_after(key, outcome)
    else:
        ctx.queue.succeeded(key)


async def _report_api_error(key: QueueKey, exc: KubeError) -> None:
    """An Event and Ready=False (phase unchanged): the spec could not be carried out yet."""
    ctx = state.get()
    kind, namespace, name = key
    body = (ctx.cache.packages if kind == PACKAGE else ctx.cache.servers).get((namespace, name))
    if body is None:
        return
    meta = body["metadata"]
    memory = ctx.memories.get(key, meta.get("uid", ""))
    message = f"{exc}; the operator retries with backoff"
    await report.post_event(kind, namespace, name, memory, "Warning", Reason.API_ERROR, message)
    current = report.current_status(body, memory)
    conditions = [Condition.model_validate(c) for c in current.get("conditions") or []]
    updated = set_condition(conditions, "Ready", False, Reason.API_ERROR, message, meta.get("generation"))
    status = {"conditions": [c.dump() for c in updated], "message": message}
    with contextlib.suppress(KubeError):  # the API may be failing for this write too
        await report.write_status(kind, namespace, name, body, memory, status)


async def worker(number: int) -> None:
    ctx = state.get()
    while True:
        try:
            key = await ctx.queue.get()
        except QueueClosed:
            return
        try:
            await process(key)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not kill the worker: log it, retry the key later
            log.exception("worker %d: reconciling %s %s/%s failed", number, *key)
            ctx.queue.retry(key)
        finally:
            ctx.queue.done(key)


async def resync() -> None:
    """Queue every object the cache holds, every `tuning.resync` seconds."""
    ctx = state.get()
    while True:
        await asyncio.sleep(ctx.tuning.resync)
        for namespace, name in list(ctx.cache.packages):
            ctx.queue.add((PACKAGE, namespace, name))
        for namespace, name in list(ctx.cache.servers):
            ctx.queue.add((SERVER, namespace, name))
        # Memory of objects whose DELETED event never came (a watch that had to re-list).
        for kind, namespace, name in ctx.memories.keys():  # noqa: SIM118 (a copy)
            known = ctx.cache.packages if kind == PACKAGE else ctx.cache.servers
            if (namespace, name) not in known:
                ctx.memories.forget((kind, namespace, name))
                ctx.queue.forget((kind, namespace, name))


def start() -> list[asyncio.Task[Any]]:
    ctx = state.get()
    tasks = [asyncio.create_task(worker(i), name=f"reconcile worker {i}") for i in range(ctx.tuning.workers)]
    tasks.append(asyncio.create_task(resync(), name="resync"))
    return tasks


async def stop(tasks: list[asyncio.Task[Any]]) -> None:
    state.get().queue.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await verify.stop()
