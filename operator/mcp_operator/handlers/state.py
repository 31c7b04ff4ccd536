"""What the handlers of one operator process share: the API client, settings, HTTP client, memos."""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from mcp_operator.k8s import Kube
from mcp_operator.render.inputs import RUNTIME_IMAGE, Settings


@dataclass
class State:
    kube: Kube
    http: httpx.AsyncClient
    settings: Settings
    # (namespace, server) -> hash of the manifests last applied; skips no-op applies.
    applied: dict[tuple[str, str], str] = field(default_factory=dict)
    # (namespace, server) -> generation of its Deployment after our last apply (drift detection).
    generations: dict[tuple[str, str], int | None] = field(default_factory=dict)
    # (namespace, server) -> the error outcome of the last reconcile, while it stands.
    failures: dict[tuple[str, str], Any] = field(default_factory=dict)
    # (namespace, server) -> the status last written, and a lock that serialises writing it.
    written: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    status_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    apply_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    def status_lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self.status_locks.setdefault(key, asyncio.Lock())

    def apply_lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self.apply_locks.setdefault(key, asyncio.Lock())

    def forget(self, key: tuple[str, str]) -> None:
        for memo in (
            self.applied,
            self.generations,
            self.failures,
            self.written,
            self.status_locks,
            self.apply_locks,
        ):
            memo.pop(key, None)


_state: State | None = None


def settings_from_env() -> Settings:
    return Settings(
        runtime_image=os.environ.get("MCP_OPERATOR_RUNTIME_IMAGE", RUNTIME_IMAGE),
        image_pull_policy=os.environ.get("MCP_OPERATOR_IMAGE_PULL_POLICY", "IfNotPresent"),
        progress_deadline_seconds=int(os.environ.get("MCP_OPERATOR_PROGRESS_DEADLINE", "300")),
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


def backoff(retry: int, base: float = 5.0, cap: float = 300.0) -> float:
    """Exponential backoff with jitter for transient failures: 5 s, 10 s, 20 s ... at most 5 min."""
    delay: float = min(cap, base * (2 ** min(retry, 10)))
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not cryptography)
