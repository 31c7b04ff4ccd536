"""Operator start and stop: kopf settings, the shared API and HTTP clients."""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
import kopf

from mcp_operator.handlers import state
from mcp_operator.k8s import Kube
from mcp_operator.models import GROUP

REGISTRY_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Keep kopf's bookkeeping in annotations of our own prefix; status stays ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # How long kopf waits for the watch event of its own patch before it processes an object
    # again. Under load the event comes late; past the wait kopf handles a creation twice.
    settings.persistence.consistency_timeout = float(os.environ.get("MCP_OPERATOR_CONSISTENCY_TIMEOUT", "30"))
    # Only warnings become Events by themselves; handlers post the informative ones explicitly.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    state.clear()
    state.install(
        state.State(
            kube=Kube.from_env(),
            http=httpx.AsyncClient(timeout=REGISTRY_TIMEOUT, follow_redirects=True),
            settings=state.settings_from_env(),
        )
    )


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
    old = state.clear()
    if old is not None:
        await old.http.aclose()
        await old.kube.close()
