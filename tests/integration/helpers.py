"""Manifests and waits the integration tests share."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.fixtures.cluster import Cluster, condition

API = "mcp-operator.dev/v1alpha1"


def package(
    name: str, type_: str, pkg: str, registry: str, version: str = "latest", **spec: Any
) -> dict[str, Any]:
    source = {"type": type_, "package": pkg, "version": version, "registry": registry}
    return {
        "apiVersion": API,
        "kind": "MCPPackage",
        "metadata": {"name": name},
        "spec": {"source": source, **spec},
    }


def server(name: str, pkg: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"package": pkg, **spec},
    }


def ready(obj: dict[str, Any]) -> bool:
    return condition(obj).get("status") == "True"


def reason_is(*reasons: str) -> Any:
    return lambda obj: condition(obj).get("reason") in reasons


async def wait_event(cluster: Cluster, name: str, reason: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        for event in await cluster.events(name):
            if event.get("reason") == reason:
                return event
        if time.monotonic() > deadline:
            seen = [(e.get("reason"), e.get("message")) for e in await cluster.events(name)]
            raise AssertionError(f"no {reason} event for {name} within {timeout}s; seen: {seen}")
        await asyncio.sleep(0.05)


async def emulated_rollout(cluster: Cluster, name: str) -> dict[str, Any]:
    """A FAKE, for kmock's emulator only: it has no controllers and no kubelet, so this writes the
    Deployment status they would once every pod is ready. A real API server refuses it: tests
    that need ready pods run on the real node (tests/e2e)."""
    assert cluster.emulator is not None, "real pods come from the real node: see tests/e2e"
    dep = await cluster.get("deployments", name, api_version="apps/v1")
    assert dep is not None, f"Deployment {name} does not exist"
    replicas = dep["spec"]["replicas"]
    status = {
        "observedGeneration": dep["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    return await cluster.patch(
        "deployments", name, {"status": status}, api_version="apps/v1", subresource="status"
    )


async def give_cluster_ip(cluster: Cluster, name: str) -> None:
    """What a real API server does at creation: here, the address where the test's bridge listens."""
    await cluster.wait_for("services", name, lambda o: True, api_version="v1")
    await cluster.patch("services", name, {"spec": {"clusterIP": "127.0.0.1"}}, api_version="v1")
