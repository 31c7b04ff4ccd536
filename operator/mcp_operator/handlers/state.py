"""What the handlers of one operator process share: API and HTTP clients, settings, the cache of
observed objects, the work queue, and the per-object memory."""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field

import httpx

from mcp_operator import allowlist
from mcp_operator.handlers.cache import Cache
from mcp_operator.handlers.memory import Memories
from mcp_operator.handlers.queue import WorkQueue
from mcp_operator.k8s import Kube
from mcp_operator.render.inputs import RUNTIME_IMAGE, Settings

PACKAGE = "MCPPackage"
SERVER = "MCPServer"
QueueKey = tuple[str, str, str]  # (kind, namespace, name)


@dataclass(frozen=True)
class Tuning:
    """How hard and how often the controller works (environment, or chart values)."""

    workers: int = 16  # reconciles in flight at once
    retry_base: float = 1.0  # first delay before a reconcile that could not finish is retried
    retry_cap: float = 60.0  # the longest delay between such retries
    resync: float = 300.0  # every object is reconciled at least this often, events or not
    api_timeout: float = 10.0  # seconds per Kubernetes API request
    registry_concurrency: float = 8  # requests in flight at once to one registry host
    registry_rate: float = 100.0  # requests per second to one registry host (and its burst)
    registry_fresh: float = 60.0  # a registry answer without its own lifetime is fresh this long
    verify_interval: float = 600.0  # a running server's MCP handshake is repeated this often
    verify_timeout: float = 10.0  # seconds one MCP handshake may take in all
    # What the operator reads of a registry at most (registries/bounded.py)
    max_document_bytes: int = 64 * 1024 * 1024  # a registry document: packument, index page, manifest
    max_artifact_bytes: int = 100 * 1024 * 1024  # a wheel or sdist downloaded to read its entry points
    max_unpacked_bytes: int = 1024 * 1024 * 1024  # what such an archive may unpack to
    registry_deadline: float = 120.0  # seconds one registry request may take in all, body included


@dataclass
class Uninstalled:
    """The uninstalled marks this process knows (docs/predefined.md); the ConfigMap is the record.

    `lock` orders a start's check-then-create against a deletion's mark-then-release.
    """

    namespace: str = "default"  # the operator's namespace, where its state ConfigMap lives
    marks: set[tuple[str, str]] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Handshakes:
    """MCP handshakes in flight (handlers/verify.py), at most `slots` at once; they end with the
    controller."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(16))


@dataclass
class State:
    kube: Kube
    http: httpx.AsyncClient
    settings: Settings
    tuning: Tuning = field(default_factory=Tuning)
    cache: Cache = field(default_factory=Cache)
    memories: Memories = field(default_factory=Memories)
    queue: WorkQueue[QueueKey] = field(default_factory=WorkQueue)
    uninstalled: Uninstalled = field(default_factory=Uninstalled)
    handshakes: Handshakes = field(default_factory=Handshakes)


_state: State | None = None


def _number(name: str, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"mcp-operator: {name}={raw!r} is not a number: set it to a number") from None
    if minimum is not None and value < minimum:
        raise SystemExit(f"mcp-operator: {name}={raw!r} must be at least {minimum:g}")
    if minimum is None and value <= 0:
        raise SystemExit(f"mcp-operator: {name}={raw!r} must be greater than 0")
    return value


def settings_from_env() -> Settings:
    return Settings(
        runtime_image=os.environ.get("MCP_OPERATOR_RUNTIME_IMAGE", RUNTIME_IMAGE),
        image_pull_policy=os.environ.get("MCP_OPERATOR_IMAGE_PULL_POLICY", "IfNotPresent"),
        progress_deadline_seconds=int(_number("MCP_OPERATOR_PROGRESS_DEADLINE", 300)),
        suspend_broken=_flag("MCP_OPERATOR_SUSPEND_BROKEN"),
        allowed_registries=allowlist.parse(os.environ.get("MCP_OPERATOR_ALLOWED_REGISTRIES")),
        allowed_packages=allowlist.parse(os.environ.get("MCP_OPERATOR_ALLOWED_PACKAGES")),
    )


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SystemExit(f"mcp-operator: {name}={raw!r} is not a boolean: set it to true or false")


def tuning_from_env() -> Tuning:
    return Tuning(
        workers=int(_number("MCP_OPERATOR_WORKERS", Tuning.workers)),
        retry_base=_number("MCP_OPERATOR_RETRY_BASE", Tuning.retry_base),
        retry_cap=_number("MCP_OPERATOR_RETRY_CAP", Tuning.retry_cap),
        resync=_number("MCP_OPERATOR_RESYNC", Tuning.resync),
        api_timeout=_number("MCP_OPERATOR_API_TIMEOUT", Tuning.api_timeout),
        registry_concurrency=_number("MCP_OPERATOR_REGISTRY_CONCURRENCY", Tuning.registry_concurrency),
        registry_rate=_number("MCP_OPERATOR_REGISTRY_RATE", Tuning.registry_rate),
        registry_fresh=_number("MCP_OPERATOR_REGISTRY_FRESH", Tuning.registry_fresh, minimum=0),
        verify_interval=_number("MCP_OPERATOR_VERIFY_INTERVAL", Tuning.verify_interval),
        verify_timeout=_number("MCP_OPERATOR_VERIFY_TIMEOUT", Tuning.verify_timeout),
        max_document_bytes=int(_number("MCP_OPERATOR_MAX_DOCUMENT_BYTES", Tuning.max_document_bytes)),
        max_artifact_bytes=int(_number("MCP_OPERATOR_MAX_ARTIFACT_BYTES", Tuning.max_artifact_bytes)),
        max_unpacked_bytes=int(_number("MCP_OPERATOR_MAX_UNPACKED_BYTES", Tuning.max_unpacked_bytes)),
        registry_deadline=_number("MCP_OPERATOR_REGISTRY_DEADLINE", Tuning.registry_deadline),
    )


def install(state: State) -> None:
    global _state  # noqa: PLW0603  (one operator per process; set at startup, cleared at cleanup)
    _state = state


def clear() -> State | None:
    global _state
    old, _state = _state, None
    return old


def get() -> State:
    if _state is None:
        raise RuntimeError("the operator has not started: its startup handler sets up the shared state")
    return _state


def backoff(attempt: int, base: float = 5.0, cap: float = 300.0) -> float:
    """Exponential backoff with jitter for registry retries: 5 s, 10 s, 20 s ... at most 5 min."""
    delay: float = min(cap, base * (2 ** min(attempt, 10)))
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not cryptography)
