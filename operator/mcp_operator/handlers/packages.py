"""MCPPackage reconcile: resolve spec.source.version to an exact, pinned version.

Level-triggered like the servers: a package whose status already pins its current source is left
alone, whatever event queued it. A transient registry failure is retried on a schedule of its own
(events in between do not hammer the registry); a permanent one waits for the source to change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from typing import Any

from pydantic import ValidationError

from mcp_operator import allowlist, registries, upgrade_plan
from mcp_operator.handlers import report, state, upgrades
from mcp_operator.handlers.auth import SecretProblem, credentials
from mcp_operator.handlers.cache import Key
from mcp_operator.handlers.memory import Memory
from mcp_operator.handlers.servers import Outcome
from mcp_operator.handlers.state import PACKAGE
from mcp_operator.models import MCPPackageSpec, MCPPackageStatus, PackagePhase
from mcp_operator.reasons import Reason
from mcp_operator.registries.errors import RegistryError
from mcp_operator.render import package_status, upgrade_status
from mcp_operator.render.validation_text import describe_validation
from mcp_operator.upgrade_plan import CHECK_ANNOTATION, UPGRADE_ANNOTATION

log = logging.getLogger(__name__)


async def reconcile_package(key: Key) -> float | Outcome:
    """Returns Outcome.DONE, or the seconds after which to try the registry again."""
    ctx = state.get()
    body = ctx.cache.packages.get(key)
    if body is None:
        return Outcome.DONE
    meta = body["metadata"]
    generation = meta.get("generation")
    memory = ctx.memories.get((PACKAGE, *key), meta.get("uid", ""))
    old = MCPPackageStatus.model_validate(report.current_status(body, memory))
    try:
        spec = MCPPackageSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        message = describe_validation(exc, "MCPPackage")
        await _fail(key, body, memory, old, generation, Reason.INVALID_SPEC, message, transient=False)
        return Outcome.DONE

    refused = allowlist.refusal(spec.source, ctx.settings.allowed_registries, ctx.settings.allowed_packages)
    if refused is not None:
        if condition_reason(old) != Reason.NOT_ALLOWED or old.observed_generation != generation:
            await _fail(key, body, memory, old, generation, Reason.NOT_ALLOWED, refused, transient=False)
        return Outcome.DONE

    source = package_status.source_key(spec.source)
    subject = upgrades.Subject(key, body, memory, old, generation, spec)
    await subject.finish_acted()  # a request acted on whose removal failed: only remove it
    await upgrades.refresh(subject)  # self-healing asked for the pinned version's metadata again
    if old.rollout is not None:
        return _after(await upgrades.watch_rollout(subject))
    request = upgrade_plan.read_request(subject.annotation(UPGRADE_ANNOTATION))
    if old.resolved_version and request is not None:
        return await _guarded(subject, upgrades.upgrade_request(subject, request))
    if old.resolved_version and old.resolved_spec == source:
        ready = next((c for c in old.conditions if c.type == "Ready"), None)
        healthy = ready is not None and ready.status == "True"  # not left False by an API error
        if old.observed_generation != generation or old.phase != PackagePhase.READY or not healthy:
            await report.write_status(PACKAGE, *key, body, memory, package_status.kept(spec, old, generation))
        memory.failed_source, memory.attempts, memory.retry_at = None, 0, None
        due = upgrade_plan.check_due(spec, old, upgrades.clock())
        asked = subject.annotation(CHECK_ANNOTATION) is not None
        if asked or due == 0.0:
            return await _guarded(subject, upgrades.check(subject, asked=asked))
        return _after(due)
    if memory.failed_source == source:
        if memory.retry_at is None:
            return Outcome.DONE  # a permanent failure for this source: wait for the spec to change
        if time.monotonic() < memory.retry_at:
            return memory.retry_at - time.monotonic()
    return await _resolve(key, body, memory, old, generation, spec, source)


async def _resolve(
    key: Key,
    body: dict[str, Any],
    memory: Memory,
    old: MCPPackageStatus,
    generation: int | None,
    spec: MCPPackageSpec,
    source: str,
) -> float | Outcome:
    ctx = state.get()
    try:
        creds = await credentials(key[0], spec.source)
        found = await registries.resolve(
            spec.source.type,  # type: ignore[arg-type]
            spec.source.package,
            spec.source.version,
            registry=spec.source.registry,
            credentials=creds,
            client=ctx.http,
        )
    except SecretProblem as exc:
        reason = Reason.SECRET_NOT_FOUND
        return await _retry_later(key, body, memory, old, generation, source, reason, str(exc), 15)
    except RegistryError as exc:
        # Credentials live in a Secret the user may fix without touching this spec: keep trying.
        auth_fixable = exc.reason == Reason.REGISTRY_AUTH_FAILED and bool(spec.source.registry_auth_secret)
        if exc.transient or auth_fixable:
            base = 60 if auth_fixable else 5
            reason = Reason(exc.reason)
            return await _retry_later(key, body, memory, old, generation, source, reason, str(exc), base)
        memory.failed_source, memory.retry_at = source, None
        await _fail(key, body, memory, old, generation, Reason(exc.reason), str(exc), transient=False)
        return Outcome.DONE

    if old.resolved_version:
        memory.failed_source, memory.attempts, memory.retry_at = None, 0, None
        subject = upgrades.Subject(key, body, memory, old, generation, spec)
        return _after(await upgrades.new_source(subject, found))
    status = package_status.resolved(
        spec,
        old,
        generation,
        version=found.version,
        latest=found.latest,
        integrity=found.integrity,
        artifact_url=found.artifact_url,
        command=found.command,
    )
    await report.write_status(PACKAGE, *key, body, memory, status)
    memory.failed_source, memory.attempts, memory.retry_at = None, 0, None
    message = f"{spec.source.package} {spec.source.version} resolved to {found.version}"
    await report.post_event(PACKAGE, *key, memory, "Normal", Reason.RESOLVED, message)
    log.info("resolved %s %s to %s", spec.source.package, spec.source.version, found.version)
    return Outcome.DONE


async def _retry_later(
    key: Key,
    body: dict[str, Any],
    memory: Memory,
    old: MCPPackageStatus,
    generation: int | None,
    source: str,
    reason: Reason,
    message: str,
    base: float,
) -> float:
    if memory.failed_source != source:
        memory.failed_source, memory.attempts = source, 0
    delay = state.backoff(memory.attempts, base=base)
    memory.attempts += 1
    memory.retry_at = time.monotonic() + delay
    await _fail(key, body, memory, old, generation, reason, message, transient=True)
    return delay


async def _fail(
    key: Key,
    body: dict[str, Any],
    memory: Memory,
    old: MCPPackageStatus,
    generation: int | None,
    reason: Reason,
    message: str,
    *,
    transient: bool,
) -> None:
    status = package_status.failed(old, generation, reason=reason, message=message, transient=transient)
    await report.write_status(PACKAGE, *key, body, memory, status)
    await report.post_event(PACKAGE, *key, memory, "Warning", reason, message)


def condition_reason(status: MCPPackageStatus) -> str | None:
    ready = next((c for c in status.conditions if c.type == "Ready"), None)
    return ready.reason if ready is not None else None


def _after(delay: float | None) -> float | Outcome:
    return Outcome.DONE if delay is None else delay


async def _guarded(subject: upgrades.Subject, flow: Coroutine[Any, Any, float | None]) -> float | Outcome:
    """Run an upgrade flow; a registry that cannot answer is reported on the package."""
    try:
        return _after(await flow)
    except (RegistryError, SecretProblem) as exc:
        return await _request_failed(subject, exc)


async def _request_failed(subject: upgrades.Subject, exc: RegistryError | SecretProblem) -> float | Outcome:
    """An upgrade could not reach or find its version. A transient failure keeps the request for a
    retry; a permanent one is reported and the request removed."""
    transient = isinstance(exc, SecretProblem) or exc.transient
    reason = Reason.SECRET_NOT_FOUND if isinstance(exc, SecretProblem) else Reason(exc.reason)
    message = f"upgrade not done: {exc}"
    await subject.write(upgrade_status.upgrade_condition(subject.old, subject.generation, reason, message))
    await subject.event("Warning", reason, message)
    if transient:
        return 60.0
    await subject.consume(UPGRADE_ANNOTATION)
    return Outcome.DONE
