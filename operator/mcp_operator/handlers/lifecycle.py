"""Operator start and stop: kopf settings, the shared clients, the controller's workers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import kopf

from mcp_operator.handlers import autoinstall, controller, state
from mcp_operator.handlers.diffbase import NoDiffBase
from mcp_operator.k8s import Kube
from mcp_operator.registries import bounded, http, limits

REGISTRY_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
_tasks: list[asyncio.Task[Any]] = []


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Only warnings become Events by themselves; the controller posts its own Events.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    # No change handlers or daemons: kopf's per-event deep copies for them buy nothing (diffbase.py).
    settings.persistence.diffbase_storage = NoDiffBase()
    # Watching named namespaces needs no cluster-wide scans of CRDs and namespaces, and a Role in
    # those namespaces does not allow them: without this kopf retries the 403s at every start.
    if not settings.peering.clusterwide:
        settings.scanning.disabled = True
    tuning = state.tuning_from_env()
    rate = tuning.registry_rate
    limits.DEFAULT_HOST_LIMITS.default = limits.HostLimit(
        concurrency=int(tuning.registry_concurrency), rate=rate, burst=max(1, int(rate))
    )
    http.DEFAULT_CACHE.default_fresh = tuning.registry_fresh
    read = bounded.DEFAULT_READ_LIMITS  # caps on what registries send (docs/security.md)
    read.document_bytes, read.artifact_bytes = tuning.max_document_bytes, tuning.max_artifact_bytes
    read.unpacked_bytes, read.deadline = tuning.max_unpacked_bytes, tuning.registry_deadline
    # runner.operate() reads the predefined packages before kopf starts, to stop on a bad file at once.
    predefined = memo.get("predefined") or autoinstall.load()
    state.clear()
    state.install(
        state.State(
            kube=Kube.from_env(timeout=tuning.api_timeout),
            http=httpx.AsyncClient(timeout=REGISTRY_TIMEOUT, follow_redirects=True),
            settings=state.settings_from_env(),
            tuning=tuning,
        )
    )
    state.get().queue.base, state.get().queue.cap = tuning.retry_base, tuning.retry_cap
    state.get().uninstalled.namespace = predefined.namespace
    _tasks[:] = controller.start()
    _tasks.append(asyncio.create_task(autoinstall.run(predefined), name="predefined packages"))


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account first, then $KUBECONFIG / ~/.kube/config: decided at login time.

    kopf's own fallbacks are chosen when its registry is created (at import), so a process that
    imported the handlers before a kubeconfig existed would never log in.
    """
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs)
    return info or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    if _tasks:
        await controller.stop(_tasks)
        _tasks.clear()
    old = state.clear()
    if old is not None:
        await old.http.aclose()
        await old.kube.close()
