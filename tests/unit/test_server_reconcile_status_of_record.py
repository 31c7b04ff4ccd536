"""A server reconcile renders from the status of record: the operator's own last status write, even
while the watch cache still holds the status from before it. A suspension (self-healing gave up,
replicas 0) that the cache does not show yet must not be applied back to one replica; CI once saw
exactly that (status "suspended", Deployment at 1 replica)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mcp_operator.handlers import servers, state
from mcp_operator.handlers.state import SERVER, State
from mcp_operator.render.inputs import Settings

NS, NAME, VERSION = "ns", "srv", "1.0.0"


class RecordingKube:
    """A FAKE of mcp_operator.k8s.Kube for this unit test: it answers like an empty namespace and
    records what the reconcile applied and wrote. The real client is tested against kmock's emulator
    and the real API server (tests/integration)."""

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    async def apply(self, obj: dict[str, Any], force: bool = True) -> dict[str, Any]:
        self.applied.append(obj)
        meta = {**obj["metadata"], "uid": f"uid-{obj['kind']}", "generation": 1}
        return {**obj, "metadata": meta}

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        return False

    async def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    async def post_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def merge_patch(self, *args: Any) -> dict[str, Any]:
        raise AssertionError(f"no merge patch expected here: {args}")


def package() -> dict[str, Any]:
    return {
        "metadata": {"name": "pkg", "namespace": NS, "uid": "package-uid"},
        "spec": {"source": {"type": "npm", "package": "pkg", "version": VERSION}},
        "status": {
            "phase": "Ready",
            "resolvedVersion": VERSION,
            "integrity": "sha512-" + "A" * 86 + "==",
            "detectedCommand": ["pkg-server"],
        },
    }


def suspended() -> dict[str, Any]:
    return {
        "version": VERSION,
        "token": f"{VERSION}.abc",
        "at": "2026-12-01T00:00:00Z",
        "outcome": "failed",
        "reason": "InstallFailed",
        "message": "the install init container exited with code 4",
        "suspended": True,
    }


@pytest.fixture
async def kube() -> AsyncIterator[RecordingKube]:
    fake = RecordingKube()
    st = State(kube=fake, http=httpx.AsyncClient(), settings=Settings())  # type: ignore[arg-type]
    st.cache.put_package(package())
    state.install(st)
    try:
        yield fake
    finally:
        state.clear()
        await st.http.aclose()


def deployment_replicas(kube: RecordingKube) -> list[int]:
    return [m["spec"]["replicas"] for m in kube.applied if m["kind"] == "Deployment"]


async def test_a_suspension_the_cache_does_not_show_yet_is_not_applied_back(kube: RecordingKube) -> None:
    ctx = state.get()
    server = {
        "apiVersion": "mcp-operator.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": NAME, "namespace": NS, "uid": "server-uid", "generation": 1},
        "spec": {"package": "pkg"},
        "status": {"phase": "Failed"},  # the cache: from before the suspension was written
    }
    ctx.cache.put_server(server)
    memory = ctx.memories.get((SERVER, NS, NAME), "server-uid")
    memory.written = {"phase": "Failed", "reinstall": suspended()}  # our last write: suspended

    await servers.reconcile_server((NS, NAME))

    assert deployment_replicas(kube) == [0], kube.applied
    assert all(s.get("reinstall", suspended()) == suspended() for s in kube.statuses), kube.statuses


async def test_without_the_suspension_the_same_server_runs_one_replica(kube: RecordingKube) -> None:
    """The control: the same server with no reinstall state renders one replica, so the assertion
    above can fail."""
    ctx = state.get()
    server = {
        "metadata": {"name": NAME, "namespace": NS, "uid": "server-uid", "generation": 1},
        "spec": {"package": "pkg"},
    }
    ctx.cache.put_server(server)

    await servers.reconcile_server((NS, NAME))

    assert deployment_replicas(kube) == [1], kube.applied
