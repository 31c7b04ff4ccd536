"""Children edited or deleted by someone else are put back; per-object memory goes with its object."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.fixtures.cluster import Cluster
from tests.integration.helpers import package, ready, reason_is, server

from mcp_operator.handlers import state

pytestmark = pytest.mark.integration
APPS = "apps/v1"
NETV1 = "networking.k8s.io/v1"


async def _server(cluster: Cluster, npm_registry, name: str, **spec: object) -> None:
    npm_registry.publish_npm(cluster.unique("dr-pkg"), "1.0.0", bin={"dr-pkg": "index.js"})
    await cluster.create("mcppackages", package(name, "npm", cluster.unique("dr-pkg"), npm_registry.url))
    await cluster.wait_for("mcppackages", name, ready)
    await cluster.create("mcpservers", server(name, name, **spec))


async def test_edited_service_and_deployment_are_restored(operator: Cluster, npm_registry) -> None:
    await _server(operator, npm_registry, "edit")
    await operator.wait_for("services", "edit", lambda o: True, api_version="v1")
    dep = await operator.wait_for("deployments", "edit", lambda o: True, api_version=APPS)

    hijack = {"spec": {"selector": {"app.kubernetes.io/instance": "hijacked"}}}
    await operator.patch("services", "edit", hijack, api_version="v1")
    await operator.wait_for(
        "services",
        "edit",
        lambda o: o["spec"]["selector"]["app.kubernetes.io/instance"] == "edit",
        api_version="v1",
        what="restored",
    )

    await operator.patch("deployments", "edit", {"spec": {"replicas": 5}}, api_version=APPS)
    dep = await operator.wait_for(
        "deployments", "edit", lambda o: o["spec"]["replicas"] == 1, api_version=APPS, what="scaled back"
    )
    assert dep["metadata"]["generation"] >= 3  # ours, theirs, ours again


async def test_network_policy_deleted_or_edited_is_restored(operator: Cluster, npm_registry) -> None:
    await _server(operator, npm_registry, "pol", network={"egress": "deny"})
    first = await operator.wait_for("networkpolicies", "pol", lambda o: True, api_version=NETV1)

    await operator.delete("networkpolicies", "pol", api_version=NETV1)
    await operator.wait_for(
        "networkpolicies",
        "pol",
        lambda o: o["metadata"]["uid"] != first["metadata"]["uid"],
        api_version=NETV1,
    )
    await operator.patch("networkpolicies", "pol", {"spec": {"egress": [{}]}}, api_version=NETV1)
    restored = await operator.wait_for(
        "networkpolicies",
        "pol",
        lambda o: o["spec"].get("egress") != [{}],
        api_version=NETV1,
        what="restored",
    )
    assert restored["spec"]["egress"][0]["ports"][0]["port"] == 53


async def test_memory_is_released_when_objects_are_deleted(operator: Cluster, npm_registry) -> None:
    npm_registry.publish_npm(operator.unique("dr-cycle"), "1.0.0", bin={"dr-cycle": "index.js"})
    ctx = state.get()
    for cycle in range(3):
        names = [f"cyc-{cycle}-{i}" for i in range(5)]
        for name in names:
            await operator.create(
                "mcppackages", package(name, "npm", operator.unique("dr-cycle"), npm_registry.url)
            )
            await operator.create("mcpservers", server(name, name))
        for name in names:
            await operator.wait_for("mcpservers", name, reason_is("RollingOut"))
        assert len(ctx.memories) >= 10
        for name in names:
            await operator.delete("mcpservers", name)
            await operator.delete("mcppackages", name)
            for plural, api in (("deployments", APPS), ("services", "v1")):
                await operator.delete(plural, name, api_version=api)  # the emulator has no GC
        for name in names:
            await operator.wait_gone("mcpservers", name)
            await operator.wait_gone("mcppackages", name)

    async def released() -> bool:
        sizes = {**ctx.cache.sizes(), **ctx.queue.sizes(), "memories": len(ctx.memories)}
        return all(v == 0 for v in sizes.values())

    deadline = time.monotonic() + 30
    while not await released():
        sizes = {**ctx.cache.sizes(), **ctx.queue.sizes(), "memories": len(ctx.memories)}
        assert time.monotonic() < deadline, f"memory not released after deletes: {sizes}"
        await asyncio.sleep(0.05)
