"""Verify, the pure half: when the operator shakes hands with a server, and what its status says
about the last handshake (handlers/verify.py runs it).

A handshake is due once a rollout is complete (every desired replica runs the current pod
template and is ready, and no old pod is left to answer in its place), again every `interval`,
and, after a failure, with backoff. Its record in status:

- `serverInfo`, `tools`, `toolCount`: what the last successful handshake read;
- `verifiedVersion`, `verifiedAt`, `verifiedTemplate`: the package version, time and pod template
  (a digest) of that handshake;
- the `Verified` condition: True (reason Verified) when the pods of the current template
  answered; False with the reason of the last failure; Unknown (VerifyPending) while there is
  nothing to ask yet (a rollout under way, no replicas, no cluster IP, a handshake in flight).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp_operator.models import Condition, ConditionStatus, ServerInfo, ServerPhase
from mcp_operator.reasons import Reason
from mcp_operator.render.labels import VERSION_ANNOTATION
from mcp_operator.render.mcp_answers import Failure, Verification
from mcp_operator.render.status import conditions_dump, set_condition

VERIFIED = "Verified"  # the condition type


def template_digest(deployment: Mapping[str, Any]) -> str:
    """A short digest of a rendered Deployment's pod template: what a rollout changes."""
    template = json.dumps(deployment.get("spec", {}).get("template", {}), sort_keys=True)
    return hashlib.sha256(template.encode()).hexdigest()[:16]


def template_version(deployment: Mapping[str, Any]) -> str | None:
    """The package version the pods of a rendered Deployment's template run."""
    template = deployment.get("spec", {}).get("template", {})
    version = (template.get("metadata", {}).get("annotations") or {}).get(VERSION_ANNOTATION)
    return str(version) if version else None


def rolled_out(
    status: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    applied_generation: int | None,
    pods: Sequence[Mapping[str, Any]],
) -> bool:
    """Do the pods of the current template alone serve? `status` is the server's status computed
    from `deployment`; a cached Deployment older than the operator's last apply of it does not
    count (its pods may be the previous template's), nor does a pod still terminating."""
    if status.get("phase") != ServerPhase.RUNNING or not status.get("replicas"):
        return False
    generation = int(((deployment or {}).get("metadata") or {}).get("generation") or 0)
    if applied_generation is not None and generation < applied_generation:
        return False
    return not any((pod.get("metadata") or {}).get("deletionTimestamp") for pod in pods)


@dataclass(frozen=True)
class Facts:
    """What one reconcile observed, for the decision."""

    template: str  # digest of the pod template that should run
    version: str | None  # the package version its pods run (render/labels.VERSION_ANNOTATION)
    rolled_out: bool
    replicas: int  # desired (0 while disabled)
    address: str | None  # the Service's cluster IP


@dataclass(frozen=True)
class Attempt:
    """A finished handshake, kept in memory until a reconcile writes it."""

    template: str
    version: str | None
    at: float  # epoch seconds
    verification: Verification | None = None
    failure: Failure | None = None


@dataclass(frozen=True)
class Pacing:
    """Failed handshakes with one template, for the backoff (memory only)."""

    template: str | None = None
    failures: int = 0
    retry_at: float = 0.0  # epoch seconds


@dataclass(frozen=True)
class Step:
    start: bool  # start a handshake now
    delay: float | None  # look again after this many seconds (None: an event will come)
    status: dict[str, Any] = field(default_factory=dict)  # fields to merge into the status
    pacing: Pacing = field(default_factory=Pacing)
    warn: bool = False  # a failure to report (a Warning Event): Verified turned or stays False


def stamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).isoformat().replace("+00:00", "Z")


def epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def backoff(failures: int, base: float, cap: float) -> float:
    return float(min(cap, base * 2 ** min(max(failures - 1, 0), 30)))


def _verified_fields(attempt: Attempt, verification: Verification) -> dict[str, Any]:
    intro = verification.introduction
    info = ServerInfo(
        name=intro.name,
        version=intro.version,
        protocol_version=intro.protocol_version,
        capabilities=list(intro.capabilities),
    )
    return {
        "serverInfo": info.dump(),
        "tools": list(verification.tools),
        "toolCount": verification.tool_count,
        "verifiedVersion": attempt.version,
        "verifiedAt": stamp(attempt.at),
        "verifiedTemplate": attempt.template,
    }


def verified_message(verification: Verification, version: str | None) -> str:
    intro = verification.introduction
    count = f"{verification.tool_count}{'' if verification.complete else '+'} tool"
    count += "" if verification.tool_count == 1 and verification.complete else "s"
    return (
        f"{intro.name} {intro.version} (MCP {intro.protocol_version}, {count}) answered for package "
        f"version {version or 'unknown'}"
    )


def step(
    facts: Facts,
    status: Mapping[str, Any],
    attempt: Attempt | None,
    pacing: Pacing,
    running: bool,
    now: float,
    *,
    generation: int | None,
    interval: float,
    retry_base: float,
    retry_cap: float,
) -> Step:
    """What to do about verification in this reconcile, and the status fields that say so.

    `status` is the status as it stands (the old one with this reconcile's Ready folded in);
    `attempt` a handshake that finished since; `running` whether one is in flight."""
    conditions = [Condition.model_validate(c) for c in status.get("conditions") or []]
    current = next((c for c in conditions if c.type == VERIFIED), None)
    state = current.status if current else None
    verified_for_this = state == ConditionStatus.TRUE and status.get("verifiedTemplate") == facts.template
    failed_for_this = pacing.template == facts.template and (
        state == ConditionStatus.FALSE or pacing.failures > 0
    )

    def condition(value: bool | ConditionStatus, reason: str, message: str) -> dict[str, Any]:
        updated = set_condition(conditions, VERIFIED, value, reason, message, generation, stamp(now))
        return {"conditions": conditions_dump(updated)}

    def kept() -> dict[str, Any]:
        """The verdict stands for this template; its observedGeneration follows the spec's."""
        if current is None or current.observed_generation == generation:
            return {}
        return condition(current.status, current.reason, current.message)

    def pending(message: str) -> dict[str, Any]:
        return condition(ConditionStatus.UNKNOWN, Reason.VERIFY_PENDING, message)

    version = facts.version or "unknown"
    if attempt is not None and attempt.template == facts.template:
        if attempt.verification is not None:
            fields = _verified_fields(attempt, attempt.verification)
            fields |= condition(
                True, Reason.VERIFIED, verified_message(attempt.verification, attempt.version)
            )
            return Step(False, interval, fields, Pacing())
        failure = attempt.failure or Failure(Reason.HANDSHAKE_INVALID, "the handshake failed")
        failures = pacing.failures + 1 if pacing.template == facts.template else 1
        delay = backoff(failures, retry_base, retry_cap)
        said = attempt.version or "unknown"
        paced = Pacing(facts.template, failures, attempt.at + delay)
        if failures == 1 and not verified_for_this:
            # The first handshake right after a rollout can reach the Service before its new
            # endpoints are programmed everywhere (kube-proxy syncs them a moment later): one quick
            # retry before the failure is reported.
            message = (
                f"the first handshake with version {said} failed ({failure.message}); trying again "
                f"in {delay:g} s before reporting it"
            )
            return Step(False, delay, pending(message), paced)
        message = f"{failure.message} (package version {said}); the operator retries with backoff"
        return Step(False, delay, condition(False, failure.reason, message), paced, warn=True)
    if facts.replicas == 0:
        return Step(
            False, None, pending("no replicas run, so nothing answers: verified when pods run"), pacing
        )
    if not facts.rolled_out:
        if verified_for_this or failed_for_this:
            return Step(False, None, kept(), pacing)
        return Step(
            False,
            None,
            pending(f"waiting for every replica of version {version} to be ready; then the handshake"),
            pacing,
        )
    if not facts.address:
        return Step(False, None, pending("the Service has no cluster IP yet: nothing to connect to"), pacing)
    in_progress = (
        kept()
        if verified_for_this or failed_for_this
        else pending(f"handshake with version {version} under way")
    )
    if running:
        return Step(False, None, in_progress, pacing)
    if verified_for_this:
        due_at = (epoch(status.get("verifiedAt")) or 0.0) + interval
    elif failed_for_this:
        due_at = pacing.retry_at
    else:
        due_at = now
    if now < due_at:
        return Step(False, due_at - now, kept(), pacing)
    return Step(True, None, in_progress, pacing)
