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


READY_CONDITIONS = [
    {"type": t, "status": "True"} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
]


async def act_as_kubelet(cluster: Cluster, name: str, timeout: float = 60.0) -> dict[str, Any]:
    """Make the Deployment's pods ready, as a kubelet would, until the rollout is complete.

    On the real API server the pods exist (created by the ReplicaSet controller) and get a Ready
    status; the controllers then compute the Deployment's status. The emulator has no
    controllers, so its Deployment status is written directly.
    """
    if cluster.emulator is not None:
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
    deadline = time.monotonic() + timeout
    while True:
        dep = await cluster.get("deployments", name, api_version="apps/v1")
        assert dep is not None, f"Deployment {name} does not exist"
        for pod in await cluster.list("pods", "v1", selector=f"app.kubernetes.io/instance={name}"):
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (pod.get("status") or {}).get("conditions") or []
            )
            if not ready and not pod["metadata"].get("deletionTimestamp"):
                body = {"status": {"phase": "Running", "conditions": READY_CONDITIONS}}
                await cluster.patch(
                    "pods", pod["metadata"]["name"], body, api_version="v1", subresource="status"
                )
        desired = dep["spec"]["replicas"]
        st = dep.get("status") or {}
        if (
            st.get("observedGeneration", 0) >= dep["metadata"]["generation"]
            and st.get("replicas", 0) == desired
            and st.get("updatedReplicas", 0) == desired
            and st.get("readyReplicas", 0) == desired
        ):
            return dep
        if time.monotonic() > deadline:
            raise AssertionError(f"Deployment {name} did not complete its rollout in {timeout}s: {st}")
        await asyncio.sleep(0.05)
