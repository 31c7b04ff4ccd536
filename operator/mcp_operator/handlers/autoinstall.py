"""Predefined packages on start (docs/predefined.md): read the configuration, then create each
entry's MCPPackage and MCPServer that neither exists nor is marked uninstalled.

Only creates: an object that exists is never changed, and a create that finds one (409) is fine,
so any number of starts creates each object at most once. A pass that meets an API failure is
repeated after a backoff until it completes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mcp_operator import predefined
from mcp_operator.handlers import state, uninstall
from mcp_operator.handlers.state import PACKAGE
from mcp_operator.k8s import KubeError
from mcp_operator.models import API_VERSION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Predefined:
    namespace: str  # the operator's own: where its state ConfigMap lives
    entries: list[predefined.Entry] = field(default_factory=list)
    origin: str = ""  # the file they come from, for messages


def load(
    environ: Mapping[str, str] | None = None,
    watched: Callable[[str], bool] = lambda _: True,
    scope: str = "every namespace",
) -> Predefined:
    """The configuration named by $MCP_OPERATOR_PREDEFINED; SystemExit with one line if it is wrong."""
    env = os.environ if environ is None else environ
    namespace = predefined.operator_namespace(env)
    path = env.get(predefined.PREDEFINED_ENV, "")
    if not path:
        return Predefined(namespace)
    origin = f"{predefined.PREDEFINED_ENV}={path}"
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SystemExit(
            f"mcp-operator: {origin}: cannot read the file ({reason}): mount it there, or unset "
            f"{predefined.PREDEFINED_ENV} to install no predefined packages"
        ) from None
    try:
        entries = predefined.parse(text, origin, namespace)
        predefined.check_watched(entries, watched, origin, scope)
    except predefined.ConfigError as exc:
        raise SystemExit(f"mcp-operator: {exc}") from None
    return Predefined(namespace, entries, origin)


async def run(config: Predefined) -> None:
    """One complete pass, repeated with backoff while the API fails. No entries: no API call at all
    (an operator without predefined packages needs no access to its state ConfigMap to start)."""
    if not config.entries:
        return
    ctx = state.get()
    attempt = 0
    while True:
        try:
            await _install(config)
            return
        except KubeError as exc:
            delay = state.backoff(attempt, base=ctx.tuning.retry_base, cap=ctx.tuning.retry_cap)
            log.warning("predefined packages (%s): %s; trying again in %.1f s", config.origin, exc, delay)
        except Exception:  # a bug must not end the pass in silence: log it, try again later
            delay = state.backoff(attempt, base=ctx.tuning.retry_base, cap=ctx.tuning.retry_cap)
            log.exception("predefined packages (%s) failed; trying again in %.1f s", config.origin, delay)
        attempt += 1
        await asyncio.sleep(delay)


async def _install(config: Predefined) -> None:
    ctx = state.get()
    marks = ctx.uninstalled
    loaded = await uninstall.read_marks(ctx.kube, marks.namespace)
    marks.marks |= loaded
    for key in loaded & set(ctx.cache.packages):
        ctx.queue.add((PACKAGE, *key))  # marked, yet there: installed again while the operator was away?
    for entry in config.entries:
        async with marks.lock:
            why = await _one(entry)
        log.info("predefined %s/%s: %s", *entry.key, why)


async def _one(entry: predefined.Entry) -> str:
    ctx = state.get()
    kube = ctx.kube
    package = await kube.get(API_VERSION, "MCPPackage", *entry.key)
    server = await kube.get(API_VERSION, "MCPServer", *entry.key)
    step = predefined.decide(entry, ctx.uninstalled.marks, package, server)
    done: list[str] = []
    if step.create_package:
        created = await kube.create(predefined.package_manifest(entry))
        if created is not None:
            done.append("MCPPackage")
        package = created or await kube.get(API_VERSION, "MCPPackage", *entry.key)
    if step.create_server:
        owner = predefined.owner_uid(package)
        if owner is None:
            return "its MCPPackage is gone or being deleted: nothing created"
        if await kube.create(predefined.server_manifest(entry, owner)) is not None:
            done.append("MCPServer")
    if not step.create_package and not step.create_server:
        return step.why
    return f"created {' and '.join(done)}" if done else "exists: left as it is"
