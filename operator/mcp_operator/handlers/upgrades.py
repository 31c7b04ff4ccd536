"""MCPPackage flows after the first pin: update checks, upgrade requests, policy upgrades, and the
watch of a rollout with its rollback (docs/upgrades.md).

Everything a flow needs survives a restart in the package's status and annotations: the old pin
is kept whole in status.rollout.from, failed versions in status.failedVersions, and a request is
removed only after it was acted on (and only if it was not changed meanwhile).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from mcp_operator import registries, upgrade_plan, validation, versions
from mcp_operator.handlers import report, state
from mcp_operator.handlers.auth import SecretProblem, credentials
from mcp_operator.handlers.cache import Key
from mcp_operator.handlers.memory import Memory
from mcp_operator.handlers.state import PACKAGE, SERVER
from mcp_operator.models import API_VERSION, MCPPackageSpec, MCPPackageStatus, Pin, Rollout
from mcp_operator.reasons import Reason
from mcp_operator.registries import http
from mcp_operator.registries.errors import RegistryError
from mcp_operator.render import upgrade_status
from mcp_operator.render.labels import VERSION_ANNOTATION
from mcp_operator.render.package_status import source_key
from mcp_operator.upgrade_plan import CHECK_ANNOTATION, REFRESH_ANNOTATION, UPGRADE_ANNOTATION, Progress

log = logging.getLogger(__name__)
POLL = 2.0  # seconds between looks at a rollout in progress (the cache only: no requests)
CHECK_RETRY = 300.0  # a failed check is tried again after this (or the interval, if shorter)


def clock() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Subject:
    """One MCPPackage as a reconcile sees it."""

    key: Key
    body: dict[str, Any]
    memory: Memory
    old: MCPPackageStatus
    generation: int | None
    spec: MCPPackageSpec

    @property
    def ecosystem(self) -> str:
        return str(self.spec.source.type)

    def _raw(self, name: str) -> str | None:
        value = (self.body.get("metadata", {}).get("annotations") or {}).get(name)
        return None if value is None else str(value)

    def annotation(self, name: str) -> str | None:
        """A request annotation, unless it is one already acted on (removed since, at the API)."""
        value = self._raw(name)
        if value is None:
            self.memory.consumed.pop(name, None)
            return None
        return None if self.memory.consumed.get(name) == value else value

    async def write(self, status: dict[str, Any]) -> None:
        await report.write_status(PACKAGE, *self.key, self.body, self.memory, status)

    async def event(self, type_: str, reason: str, message: str) -> None:
        await report.post_event(PACKAGE, *self.key, self.memory, type_, reason, message)

    async def consume(self, annotation: str) -> None:
        """Remove a request once acted on. If the removal fails, the retry only removes it: the
        request is remembered as acted on (`acted`) until the removal succeeds."""
        value = self.annotation(annotation)
        if value is not None:
            self.memory.acted[annotation] = value
            await state.get().kube.remove_annotation(PACKAGE, *self.key, annotation, value)
            self.memory.consumed[annotation] = value
            self.memory.acted.pop(annotation, None)

    async def finish_acted(self) -> bool:
        """Remove requests acted on whose removal failed; True if there were any."""
        pending = {k: v for k, v in self.memory.acted.items() if self.annotation(k) == v}
        self.memory.acted = dict(pending)
        for annotation in pending:
            await self.consume(annotation)
        return bool(pending)


def pin_from(subject: Subject, found: registries.Resolution) -> Pin:
    return Pin(
        version=found.version,
        integrity=found.integrity,
        artifact_url=found.artifact_url,
        detected_command=list(found.command),
        resolved_spec=source_key(subject.spec.source),
    )


def _deadline(subject: Subject, now: datetime.datetime) -> str:
    seconds = validation.parse_duration(subject.spec.updates.rollout_deadline)
    return upgrade_plan.stamp(now + datetime.timedelta(seconds=seconds))


async def start_rollout(
    subject: Subject, new: Pin, requested: str, also: dict[str, Any] | None = None
) -> float:
    """Move the pin and record the rollout, in one status write with `also` (a check's answer)."""
    now = clock()
    status = (also or {}) | upgrade_status.rollout_started(
        subject.spec,
        subject.old,
        subject.generation,
        new,
        requested=requested,
        started_at=upgrade_plan.stamp(now),
        deadline=_deadline(subject, now),
    )
    await subject.write(status)
    message = f"rolling out {new.version} (from {subject.old.resolved_version}; asked by {requested})"
    await subject.event("Normal", Reason.ROLLING_OUT, message)
    log.info("%s/%s: %s", *subject.key, message)
    return POLL


async def watch_rollout(subject: Subject) -> float | None:
    """A rollout in flight: done, failed (restore the previous pin) or still waiting."""
    rollout = subject.old.rollout
    assert rollout is not None
    now = clock()
    verdict = upgrade_plan.rollout_state(rollout, _views(subject), now)
    if verdict.admit is not None:
        await subject.write(upgrade_status.admitted(rollout, verdict.admit, _deadline(subject, now)))
        log.info("%s/%s: %s", *subject.key, verdict.message)
        return POLL
    if verdict.progress is Progress.WAITING:
        return POLL
    if verdict.progress is Progress.DONE and not await _every_server_cached(subject, rollout, now):
        return POLL  # just started: the cache has not listed every server yet
    if verdict.progress is Progress.DONE:
        await subject.write(upgrade_status.rollout_done(subject.spec, subject.old, subject.generation))
        message = f"upgraded from {rollout.from_.version} to {rollout.to}"
        await subject.event("Normal", Reason.UPGRADED, message)
        log.info("%s/%s: %s", *subject.key, message)
        return None
    status = upgrade_status.rolled_back(
        subject.key[1], subject.spec, subject.old, subject.generation, verdict.reason, verdict.message
    )
    await subject.write(status)
    await subject.event("Warning", Reason.ROLLED_BACK, status["message"])
    log.warning("%s/%s: %s", *subject.key, status["message"])
    return None


def _views(subject: Subject) -> list[upgrade_plan.ServerView]:
    ctx = state.get()
    views = []
    for server_key in ctx.cache.servers_of(*subject.key):
        server = ctx.cache.servers.get(server_key)
        if server is None:
            continue
        deployment = ctx.cache.child("Deployment", server_key) or {}
        annotations = (
            deployment.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
        )
        views.append(upgrade_plan.server_view(server, annotations.get(VERSION_ANNOTATION)))
    return views


async def _every_server_cached(subject: Subject, rollout: Rollout, now: datetime.datetime) -> bool:
    """Before a rollout is declared done from the cache, one look at the API: after a start, the
    packages may be listed before the servers, and a rollout with no servers looks done. The cache
    may fill while the list is read, so the rollout is judged again from what it holds then."""
    ctx = state.get()
    namespace, package = subject.key
    listed = await ctx.kube.list(API_VERSION, SERVER, namespace)
    names = {s["metadata"]["name"] for s in listed if (s.get("spec") or {}).get("package") == package}
    if not names <= {name for _, name in ctx.cache.servers_of(namespace, package)}:
        return False
    return upgrade_plan.rollout_state(rollout, _views(subject), now).progress is Progress.DONE


async def _catalog(subject: Subject) -> versions.Verdict:
    source = subject.spec.source
    found = await registries.catalog(
        source.type,  # type: ignore[arg-type]
        source.package,
        registry=source.registry,
        credentials=await credentials(subject.key[0], source),
        client=state.get().http,
    )
    return versions.verdict(
        subject.ecosystem,
        found.versions,
        latest=found.latest,
        constraint=source.version,
        pin=subject.old.resolved_version,
        policy=str(subject.spec.updates.policy),
        failed=[f.version for f in subject.old.failed_versions],
        tags=found.tags,
    )


async def _resolve_exact(subject: Subject, version: str) -> Pin:
    source = subject.spec.source
    found = await registries.resolve(
        source.type,  # type: ignore[arg-type]
        source.package,
        version,
        registry=source.registry,
        credentials=await credentials(subject.key[0], source),
        client=state.get().http,
    )
    return pin_from(subject, found)


async def check(subject: Subject, *, asked: bool = False) -> float | None:
    """Ask the registry; write what it says; upgrade within updates.policy. Returns the delay to the
    next check. A periodic check takes a registry answer that is still fresh and younger than the
    interval (registries/http.py); one a user `asked` for always asks the registry."""
    interval = float(validation.parse_duration(subject.spec.updates.interval))
    try:
        with http.fresh_answers(0.0 if asked else interval):
            verdict = await _catalog(subject)
    except (RegistryError, SecretProblem) as exc:
        reason = exc.reason if isinstance(exc, RegistryError) else Reason.SECRET_NOT_FOUND
        await subject.write(upgrade_status.check_failed(subject.old, subject.generation, reason, str(exc)))
        await subject.consume(CHECK_ANNOTATION)
        return min(interval, CHECK_RETRY) if subject.spec.updates.check else None
    status = upgrade_status.checked(
        subject.old,
        subject.generation,
        latest=verdict.latest,
        allowed=verdict.allowed,
        update_available=verdict.update_available,
    )
    if verdict.policy_target is None:
        await subject.write(status)
        await subject.consume(CHECK_ANNOTATION)
        return interval if subject.spec.updates.check else None
    # The check's answer and the upgrade it leads to are written together: an answer written alone
    # would make the check look done and lose the upgrade if the operator stopped right after.
    new = await _resolve_exact(subject, verdict.policy_target)
    subject.old = MCPPackageStatus.model_validate({**subject.old.model_dump(by_alias=True), **status})
    delay = await start_rollout(subject, new, f"updates.policy {subject.spec.updates.policy}", also=status)
    await subject.consume(CHECK_ANNOTATION)
    return delay


async def upgrade_request(subject: Subject, request: upgrade_plan.Request) -> float | None:
    """Act on mcp-operator.dev/upgrade: to the newest allowed version, or to the version named."""
    old = subject.old
    target = request.version
    if target is None:
        verdict = await _catalog(subject)
        target = verdict.allowed
        if target is None or not versions.newer(subject.ecosystem, target, old.resolved_version):
            message = (
                f"{old.resolved_version} is the newest version spec.source.version allows: nothing to upgrade"
            )
            await subject.write(
                upgrade_status.upgrade_condition(old, subject.generation, Reason.UP_TO_DATE, message, ok=True)
            )
            await subject.consume(UPGRADE_ANNOTATION)
            return None
    else:
        refusal = upgrade_plan.refusal(subject.ecosystem, subject.spec, target, old.latest_version)
        if refusal is not None:
            await subject.write(
                upgrade_status.upgrade_condition(old, subject.generation, Reason.UPGRADE_REFUSED, refusal)
            )
            await subject.event("Warning", Reason.UPGRADE_REFUSED, refusal)
            await subject.consume(UPGRADE_ANNOTATION)
            return None
        if target == old.resolved_version:
            await subject.consume(UPGRADE_ANNOTATION)
            return None
    new = await _resolve_exact(subject, target)
    delay = await start_rollout(subject, new, f"upgrade request {request.raw!r}")
    await subject.consume(UPGRADE_ANNOTATION)
    return delay


async def new_source(subject: Subject, found: registries.Resolution) -> float | None:
    """spec.source changed under a pin: roll out what it selects, unless that failed here before."""
    old = subject.old
    if found.version == old.resolved_version:
        await subject.write(upgrade_status.kept_source(subject.spec, old, subject.generation))
        return None
    failed = next((f for f in old.failed_versions if f.version == found.version), None)
    if failed is not None:
        message = (
            f"spec.source.version selects {found.version}, which failed here at {failed.at} "
            f"({failed.reason}); staying on {old.resolved_version}. To try it again: "
            f"kubectl annotate mcppackage {subject.key[1]} mcp-operator.dev/upgrade={found.version}"
        )
        await subject.write(
            upgrade_status.upgrade_condition(old, subject.generation, Reason.FAILED_BEFORE, message)
        )
        # Not resolved again for this source until the spec changes or a request names a version.
        subject.memory.failed_source, subject.memory.retry_at = source_key(subject.spec.source), None
        return None
    return await start_rollout(subject, pin_from(subject, found), "spec.source")


async def refresh(subject: Subject) -> None:
    """Self-healing asked for the pinned version's metadata to be read again (a server's clean
    reinstall): take what the registry says now for the same version, or say why it cannot."""
    old = subject.old
    value = subject.annotation(REFRESH_ANNOTATION)
    if value is None:
        return
    if value == old.resolved_version and old.rollout is None:
        try:
            fresh = await _resolve_exact(subject, value)
        except (RegistryError, SecretProblem) as exc:
            reason = exc.reason if isinstance(exc, RegistryError) else Reason.SECRET_NOT_FOUND
            await subject.event("Warning", reason, f"re-reading the metadata of {value} failed: {exc}")
        else:
            fresh = fresh.model_copy(update={"resolved_spec": old.resolved_spec})
            pinned = upgrade_status.pin_of(old)
            if fresh.integrity != pinned.integrity:
                # The pin is the content, not the version number: other bytes under the same
                # version are never taken by a refresh (the install keeps refusing them).
                await subject.event(
                    "Warning",
                    Reason.INVALID_PACKAGE,
                    f"the registry now serves other content for {value} ({fresh.integrity}, pinned "
                    f"{pinned.integrity}); the pin is kept: investigate the registry, or change "
                    "spec.source.version to pin what it serves now",
                )
            elif fresh != pinned:
                await subject.write(upgrade_status.refreshed(subject.spec, fresh, subject.generation))
                await subject.event(
                    "Normal", Reason.RESOLVED, f"the metadata of {value} was read again and changed"
                )
    await subject.consume(REFRESH_ANNOTATION)
