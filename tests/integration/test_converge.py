"""Convergence: whatever the order of events and whatever the API answers, every object ends
where its spec says. Faults are injected by a proxy between the operator and the API server."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from tests.fixtures.cluster import Cluster, condition
from tests.fixtures.faults import FaultProxy
from tests.integration.helpers import package, ready, reason_is, server, wait_event

pytestmark = pytest.mark.integration
APPS = "apps/v1"


def _path(cluster: Cluster, plural: str, name: str, api: str = APPS) -> str:
    return f"^{Cluster.path(api, plural, cluster.namespace, name)}$"


async def test_an_api_error_on_the_package_path_is_retried(
    faulty: tuple[Cluster, FaultProxy], npm_registry
) -> None:
    """The lost wake-up: a server waits for its package; the reconcile that the package's pin
    starts meets API errors. It must be retried, reported, and converge without any other event."""
    cluster, proxy = faulty
    await cluster.create("mcpservers", server("early", "late-pkg"))
    await cluster.wait_for("mcpservers", "early", reason_is("PackageNotFound"))

    proxy.fail("PATCH", _path(cluster, "deployments", "early"), status=500, times=2)
    proxy.fail("PATCH", _path(cluster, "services", "early", "v1"), status=503, times=1)
    npm_registry.publish_npm(cluster.unique("cv-late"), "1.0.0", bin={"cv-late": "index.js"})
    await cluster.create(
        "mcppackages", package("late-pkg", "npm", cluster.unique("cv-late"), npm_registry.url)
    )

    obj = await cluster.wait_for("mcpservers", "early", reason_is("RollingOut"), timeout=30)
    assert obj["status"]["url"].endswith("/mcp")
    assert await cluster.get("deployments", "early", api_version=APPS) is not None
    assert len([f for f in proxy.injected() if "/deployments/" in f[1]]) == 2
    event = await wait_event(cluster, "early", "ApiError")
    assert "injected fault" in event["message"]
    assert "retries" in event["message"]


@pytest.mark.parametrize("status", [409, 429, 500, 503, None], ids=["409", "429", "500", "503", "timeout"])
async def test_status_writes_that_fail_are_retried(
    faulty: tuple[Cluster, FaultProxy], npm_registry, status: int | None
) -> None:
    cluster, proxy = faulty
    name = f"st-{status or 'timeout'}"
    proxy.fail(
        "PATCH", _path(cluster, "mcppackages", name, "mcp-operator.dev/v1alpha1") + "|/status$", status, 2
    )
    npm_registry.publish_npm(cluster.unique("cv-st"), "1.0.0", bin={"cv-st": "index.js"})
    await cluster.create("mcppackages", package(name, "npm", cluster.unique("cv-st"), npm_registry.url))
    await cluster.create("mcpservers", server(name, name))
    await cluster.wait_for("mcppackages", name, ready, timeout=40)
    await cluster.wait_for("mcpservers", name, reason_is("RollingOut"), timeout=40)
    assert proxy.injected(), "no fault was injected: the test proves nothing"


async def test_owner_check_and_secret_reads_that_fail_are_retried(
    faulty: tuple[Cluster, FaultProxy], npm_registry
) -> None:
    cluster, proxy = faulty
    proxy.fail("GET", _path(cluster, "services", "own", "v1"), status=None, times=1)  # a timeout
    proxy.fail("GET", _path(cluster, "deployments", "own"), status=500, times=1)
    npm_registry.publish_npm(cluster.unique("cv-own"), "1.0.0", bin={"cv-own": "index.js"})
    await cluster.create("mcppackages", package("own", "npm", cluster.unique("cv-own"), npm_registry.url))
    await cluster.create("mcpservers", server("own", "own"))
    await cluster.wait_for("mcpservers", "own", reason_is("RollingOut"), timeout=40)
    assert len(proxy.injected()) == 2


async def test_many_objects_in_any_order_under_random_faults(
    faulty: tuple[Cluster, FaultProxy], npm_registry
) -> None:
    """Packages before, after and while their servers are created, with a share of the
    operator's writes failing: every server ends with its Deployment and its status."""
    cluster, proxy = faulty
    rng = random.Random(7)
    names = [f"mix-{i}" for i in range(12)]
    for version in ("1.0.0", "1.1.0"):
        npm_registry.publish_npm(cluster.unique("cv-mix"), version, bin={"cv-mix": "index.js"})
    for verb, pattern in (
        ("PATCH", r"/deployments/mix-"),
        ("PATCH", r"/services/mix-"),
        ("PATCH", r"/status$"),
    ):
        proxy.fail(verb, pattern, status=rng.choice([409, 429, 500, 503]), times=4)
    proxy.fail("POST", r"/events$", status=500, times=3)

    async def create(name: str) -> None:
        pkg = package(name, "npm", cluster.unique("cv-mix"), npm_registry.url, "^1.0.0")
        srv = server(name, name)
        first, second = (pkg, srv) if rng.random() < 0.5 else (srv, pkg)
        await cluster.create(_plural(first), first)
        await asyncio.sleep(rng.random() * 0.3)
        await cluster.create(_plural(second), second)

    await asyncio.gather(*(create(n) for n in names))
    for name in names:
        obj = await cluster.wait_for("mcpservers", name, reason_is("RollingOut"), timeout=60)
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        dep = await cluster.get("deployments", name, api_version=APPS)
        assert dep is not None
        assert (
            dep["spec"]["template"]["metadata"]["annotations"]["mcp-operator.dev/package-version"] == "1.1.0"
        )
    assert len(proxy.injected()) >= 10


def _plural(obj: dict[str, Any]) -> str:
    return "mcppackages" if obj["kind"] == "MCPPackage" else "mcpservers"


async def test_name_conflict_recovers_once_the_object_is_deleted(
    faulty: tuple[Cluster, FaultProxy], npm_registry
) -> None:
    cluster, _ = faulty
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "taken"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "someone-else"}},
    }
    await cluster.create("services", foreign, api_version="v1")
    npm_registry.publish_npm(cluster.unique("cv-taken"), "1.0.0", bin={"cv-taken": "index.js"})
    await cluster.create("mcppackages", package("taken", "npm", cluster.unique("cv-taken"), npm_registry.url))
    await cluster.create("mcpservers", server("taken", "taken"))
    obj = await cluster.wait_for("mcpservers", "taken", reason_is("NameConflict"), timeout=30)
    assert "delete that object" in condition(obj)["message"]
    svc = await cluster.get("services", "taken", api_version="v1")
    assert svc is not None
    assert svc["spec"]["selector"] == {"app": "someone-else"}

    await cluster.delete("services", "taken", api_version="v1")
    await cluster.wait_for("mcpservers", "taken", reason_is("RollingOut"), timeout=30)
    svc = await cluster.wait_for(
        "services", "taken", lambda o: o["metadata"].get("ownerReferences"), api_version="v1"
    )
    assert svc["spec"]["selector"]["app.kubernetes.io/instance"] == "taken"
