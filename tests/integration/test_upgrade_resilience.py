"""The upgrade flows converge under API faults and survive the operator's restart at any point:
nothing lost, nothing applied twice (issue 9 items 9 and 10). The emulator has no kubelet: its
named fake, emulated_rollout, marks a rolled-out Deployment ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.bridge.conftest import TINY, StartBridge
from tests.fixtures.cluster import Cluster, running_operator
from tests.fixtures.emulator import Emulator
from tests.fixtures.faults import FaultProxy, serve_proxy
from tests.integration.conftest import NAMESPACE
from tests.integration.helpers import emulated_rollout, give_cluster_ip, package, ready, server

pytestmark = pytest.mark.integration
BIN = {"tiny": "index.js"}


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def template_version(dep: dict[str, Any]) -> str | None:
    return dep["spec"]["template"]["metadata"].get("annotations", {}).get("mcp-operator.dev/package-version")


async def request_upgrade(cluster: Cluster, name: str, to: str = "latest") -> None:
    await cluster.patch("mcppackages", name, {"metadata": {"annotations": {"mcp-operator.dev/upgrade": to}}})


@pytest.fixture
async def stopped(emulator: Emulator) -> AsyncIterator[Cluster]:
    """The emulator, with no operator: the test starts and stops it."""
    client = Cluster(emulator.kubeconfig, NAMESPACE, emulator=emulator)
    try:
        yield client
    finally:
        await client.close()


async def serve(cluster: Cluster, npm_registry, name: str, pkg: str, port: int) -> None:
    """An MCPPackage pinned at 1.0.0 (constraint ^1) with a running MCPServer; then 1.1.0 appears.
    Its Service's cluster IP is 127.0.0.1 and a real bridge answers the operator's handshake there."""
    npm_registry.publish_npm(pkg, "1.0.0", bin=BIN)
    await cluster.create("mcppackages", package(name, "npm", pkg, npm_registry.url, "^1"))
    await cluster.wait_for("mcppackages", name, ready)
    await cluster.create("mcpservers", server(name, name, port=port))
    await give_cluster_ip(cluster, name)
    await cluster.wait_for("deployments", name, lambda o: True, api_version="apps/v1")
    await emulated_rollout(cluster, name)
    await cluster.wait_for("mcpservers", name, ready)
    npm_registry.publish_npm(pkg, "1.1.0", bin=BIN)


async def test_an_upgrade_converges_through_api_faults(
    faulty: tuple[Cluster, FaultProxy], npm_registry
) -> None:
    cluster, proxy = faulty
    pkg = cluster.unique("res-faults")
    npm_registry.publish_npm(pkg, "1.0.0", bin=BIN)
    await cluster.create("mcppackages", package("flt", "npm", pkg, npm_registry.url, "^1"))
    await cluster.wait_for("mcppackages", "flt", ready)
    npm_registry.publish_npm(pkg, "1.1.0", bin=BIN)
    base = f"/namespaces/{cluster.namespace}/mcppackages/flt"
    proxy.fail("PATCH", base + "/status$", status=500, times=2)  # the rollout's status write
    proxy.fail("PATCH", base + "$", status=503, times=2)  # the request annotation's removal
    proxy.fail("GET", base + "$", status=None, times=1)  # the fresh read before the removal
    await request_upgrade(cluster, "flt")
    obj = await cluster.wait_for(
        "mcppackages",
        "flt",
        lambda o: (
            cond(o, "Upgrade").get("reason") == "Upgraded"
            and "mcp-operator.dev/upgrade" not in (o["metadata"].get("annotations") or {})
        ),
        timeout=60,
    )
    assert len(proxy.injected()) == 5, proxy.injected()
    assert obj["status"]["resolvedVersion"] == "1.1.0"
    outcomes = [(h["version"], h["outcome"]) for h in obj["status"]["history"]]
    assert outcomes == [("1.1.0", "upgraded"), ("1.0.0", "resolved")]  # once, despite the retries


@pytest.mark.parametrize("moment", ["before-acting", "mid-rollout"])
async def test_a_restart_at_any_point_of_an_upgrade(
    stopped: Cluster, npm_registry, moment: str, start_bridge: StartBridge
) -> None:
    cluster = stopped
    bridge = await start_bridge(TINY)
    async with running_operator([]):
        await serve(cluster, npm_registry, "rst", f"res-restart-{moment}", bridge.port)
        if moment == "mid-rollout":
            await request_upgrade(cluster, "rst")
            await cluster.wait_for(
                "deployments", "rst", lambda d: template_version(d) == "1.1.0", api_version="apps/v1"
            )
            obj = await cluster.get("mcppackages", "rst")
            assert obj is not None
            assert obj["status"]["rollout"]["to"] == "1.1.0"
    if moment == "before-acting":
        await request_upgrade(cluster, "rst")  # while no operator runs
    async with running_operator([]):
        await cluster.wait_for(
            "deployments", "rst", lambda d: template_version(d) == "1.1.0", api_version="apps/v1"
        )
        await emulated_rollout(cluster, "rst")
        obj = await cluster.wait_for(
            "mcppackages", "rst", lambda o: cond(o, "Upgrade").get("reason") == "Upgraded"
        )
        outcomes = [(h["version"], h["outcome"]) for h in obj["status"]["history"]]
        assert outcomes == [("1.1.0", "upgraded"), ("1.0.0", "resolved")]
        assert "rollout" not in obj["status"]
        srv = await cluster.wait_for(
            "mcpservers", "rst", lambda o: (o.get("status") or {}).get("version") == "1.1.0"
        )
        assert ready(srv)
        events = [e for e in await cluster.events("rst") if e.get("reason") == "Upgraded"]
        assert len(events) == 1, events


async def test_upgrade_all_survives_a_restart_of_the_operator(
    stopped: Cluster, npm_registry, monkeypatch, start_bridge: StartBridge
) -> None:
    from mcp_operator.cli.upgrade import upgrade_all
    from mcp_operator.k8s import Kube

    cluster = stopped
    bridge = await start_bridge(TINY)
    names = ("all-a", "all-b")
    async with running_operator([]):
        for name in names:
            await serve(cluster, npm_registry, name, f"res-{name}", bridge.port)
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
        kube = Kube.from_env()
        task = asyncio.create_task(upgrade_all(kube, cluster.namespace, concurrency=2, wait_s=90, poll=0.2))
        for name in names:
            await cluster.wait_for(
                "deployments", name, lambda d: template_version(d) == "1.1.0", api_version="apps/v1"
            )
    try:
        # The operator is down; the client keeps waiting. Then it comes back, and the rollouts end.
        for name in names:
            await emulated_rollout(cluster, name)
        async with running_operator([]):
            async with asyncio.timeout(90):
                results = await task
    finally:
        task.cancel()
        await kube.close()
    assert sorted((r.name, r.success, r.version) for r in results) == [
        ("all-a", True, "1.1.0"),
        ("all-b", True, "1.1.0"),
    ]


async def test_servers_of_a_package_roll_one_at_a_time(
    stopped: Cluster, npm_registry, start_bridge: StartBridge
) -> None:
    cluster = stopped
    bridge = await start_bridge(TINY)
    async with running_operator([]):
        await serve(cluster, npm_registry, "one", "res-one-at-a-time", bridge.port)
        await cluster.create("mcpservers", server("two", "one", port=bridge.port))
        await give_cluster_ip(cluster, "two")
        await cluster.wait_for("deployments", "two", lambda o: True, api_version="apps/v1")
        await emulated_rollout(cluster, "two")
        await cluster.wait_for("mcpservers", "two", ready)

        await request_upgrade(cluster, "one")
        await cluster.wait_for(
            "deployments", "one", lambda d: template_version(d) == "1.1.0", api_version="apps/v1"
        )
        two = await cluster.get("deployments", "two", api_version="apps/v1")
        assert two is not None
        assert template_version(two) == "1.0.0", "the second server moved before the first was done"
        await emulated_rollout(cluster, "one")
        await cluster.wait_for(
            "deployments", "two", lambda d: template_version(d) == "1.1.0", api_version="apps/v1"
        )
        await emulated_rollout(cluster, "two")
        obj = await cluster.wait_for(
            "mcppackages", "one", lambda o: cond(o, "Upgrade").get("reason") == "Upgraded"
        )
        assert obj["status"]["resolvedVersion"] == "1.1.0"


async def test_a_check_converges_through_api_faults_and_acts_once(
    faulty: tuple[Cluster, FaultProxy], npm_registry
) -> None:
    """A check on demand whose status write, annotation removal and fresh read fail: it is done
    once the API answers, the policy upgrade it finds happens once, and the annotation goes."""
    cluster, proxy = faulty
    pkg = cluster.unique("res-check-faults")
    npm_registry.publish_npm(pkg, "1.0.0", bin=BIN)
    updates = {"check": True, "interval": "24h", "policy": "minor"}
    await cluster.create("mcppackages", package("chk", "npm", pkg, npm_registry.url, "^1", updates=updates))
    await cluster.wait_for("mcppackages", "chk", lambda o: cond(o, "UpdateCheck").get("status") == "True")
    npm_registry.publish_npm(pkg, "1.1.0", bin=BIN)
    base = f"/namespaces/{cluster.namespace}/mcppackages/chk"
    proxy.fail("PATCH", base + "/status$", status=500, times=2)
    proxy.fail("PATCH", base + "$", status=503, times=1)
    proxy.fail("GET", base + "$", status=None, times=1)
    await cluster.patch(
        "mcppackages", "chk", {"metadata": {"annotations": {"mcp-operator.dev/check": "now"}}}
    )
    obj = await cluster.wait_for(
        "mcppackages",
        "chk",
        lambda o: (
            cond(o, "Upgrade").get("reason") == "Upgraded"
            and "mcp-operator.dev/check" not in (o["metadata"].get("annotations") or {})
        ),
        timeout=60,
    )
    assert len(proxy.injected()) == 4, proxy.injected()
    assert obj["status"]["latestVersion"] == "1.1.0"
    assert obj["status"]["resolvedVersion"] == "1.1.0"
    outcomes = [(h["version"], h["outcome"]) for h in obj["status"]["history"]]
    assert outcomes == [("1.1.0", "upgraded"), ("1.0.0", "resolved")]


async def test_a_check_asked_for_while_the_operator_is_down_is_done_once_it_is_back(
    stopped: Cluster, npm_registry
) -> None:
    cluster = stopped
    pkg = cluster.unique("res-check-restart")
    npm_registry.publish_npm(pkg, "1.0.0", bin=BIN)
    updates = {"check": True, "interval": "24h"}
    async with running_operator([]):
        await cluster.create(
            "mcppackages", package("cr", "npm", pkg, npm_registry.url, "^1", updates=updates)
        )
        first = await cluster.wait_for(
            "mcppackages", "cr", lambda o: cond(o, "UpdateCheck").get("status") == "True"
        )
    npm_registry.publish_npm(pkg, "1.2.0", bin=BIN)
    await cluster.patch("mcppackages", "cr", {"metadata": {"annotations": {"mcp-operator.dev/check": "now"}}})
    async with running_operator([]):
        obj = await cluster.wait_for(
            "mcppackages",
            "cr",
            lambda o: (
                o.get("status", {}).get("latestVersion") == "1.2.0"
                and "mcp-operator.dev/check" not in (o["metadata"].get("annotations") or {})
            ),
        )
    status = obj["status"]
    assert status["allowedVersion"] == "1.2.0"
    assert status["updateAvailable"] is True
    assert status["resolvedVersion"] == "1.0.0"  # policy none: a check moves no pin
    assert status["lastChecked"] >= first["status"]["lastChecked"]
    assert [h["outcome"] for h in status["history"]] == ["resolved"]


async def test_a_rollback_whose_deadline_passed_while_the_operator_was_down_happens_once(
    stopped: Cluster, npm_registry, start_bridge: StartBridge
) -> None:
    """The deadline lives in status.rollout, not in the operator's memory: a restart neither loses
    the rollback nor does it twice."""
    cluster = stopped
    bridge = await start_bridge(TINY)
    async with running_operator([]):
        await serve(cluster, npm_registry, "rb", "res-rollback-restart", bridge.port)
        await cluster.patch("mcppackages", "rb", {"spec": {"updates": {"rolloutDeadline": "2s"}}})
        await request_upgrade(cluster, "rb", "1.1.0")
        obj = await cluster.wait_for(
            "mcppackages", "rb", lambda o: (o.get("status", {}).get("rollout") or {}).get("to") == "1.1.0"
        )
    deadline = datetime.fromisoformat(obj["status"]["rollout"]["deadline"].replace("Z", "+00:00"))
    async with asyncio.timeout(30):  # the deadline passes while no operator runs (nothing runs 1.1.0)
        while datetime.now(UTC) <= deadline:
            await asyncio.sleep(0.2)
    async with running_operator([]):
        obj = await cluster.wait_for(
            "mcppackages", "rb", lambda o: cond(o, "Upgrade").get("reason") == "RolledBack", timeout=60
        )
        await cluster.wait_for(
            "deployments", "rb", lambda d: template_version(d) == "1.0.0", api_version="apps/v1"
        )
        events = [e for e in await cluster.events("rb") if e.get("reason") == "RolledBack"]
    status = obj["status"]
    assert status["resolvedVersion"] == "1.0.0"
    assert [(f["version"], f["reason"]) for f in status["failedVersions"]] == [("1.1.0", "RolloutTimedOut")]
    outcomes = [(h["version"], h["outcome"]) for h in status["history"]]
    assert outcomes == [("1.1.0", "rolledBack"), ("1.0.0", "resolved")]
    assert len(events) == 1, events


async def test_a_rollout_is_not_done_while_the_servers_are_not_listed_yet(
    stopped: Cluster, npm_registry, start_bridge: StartBridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a start, the packages may be listed before the servers: a rollout whose servers the
    cache does not hold yet must not look done (no servers, nothing to wait for)."""
    cluster = stopped
    assert cluster.emulator is not None
    bridge = await start_bridge(TINY)
    async with running_operator([]):
        await serve(cluster, npm_registry, "lag", "res-lagging-list", bridge.port)
        await request_upgrade(cluster, "lag", "1.1.0")
        await cluster.wait_for(
            "deployments", "lag", lambda d: template_version(d) == "1.1.0", api_version="apps/v1"
        )
    with serve_proxy(cluster.emulator.url, None, tmp_path / "proxy.kubeconfig") as proxy:
        monkeypatch.setenv("KUBECONFIG", str(proxy.kubeconfig))
        listing = proxy.fail("GET", r"^/apis/mcp-operator\.dev/v1alpha1/mcpservers$", status=500, times=3)
        async with running_operator([]):
            async with asyncio.timeout(60):
                while listing.hits < listing.times:
                    await asyncio.sleep(0.1)
            # The servers are being listed again; the rollout waits for the new pods all along.
            obj = await cluster.wait_for(
                "mcppackages",
                "lag",
                lambda o: (
                    "servers" in (o["status"].get("rollout") or {})
                    or cond(o, "Upgrade").get("reason") == "Upgraded"
                ),
            )
            assert cond(obj, "Upgrade").get("reason") != "Upgraded", "done before the servers were listed"
            await emulated_rollout(cluster, "lag")
            obj = await cluster.wait_for(
                "mcppackages", "lag", lambda o: cond(o, "Upgrade").get("reason") == "Upgraded"
            )
            srv = await cluster.get("mcpservers", "lag")
    assert srv is not None
    assert srv["status"]["version"] == "1.1.0"
    assert srv["status"]["verifiedVersion"] == "1.1.0"
