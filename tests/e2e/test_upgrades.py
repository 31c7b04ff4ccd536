"""Upgrades with rollback on the real node (docs/upgrades.md): a release whose install fails and a
release that crashes at start are each rolled out, fail for real, and are rolled back to the
version that worked, which answers again; a good release then upgrades and answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.conftest import call_through_service, server_version
from tests.fixtures.cluster import Cluster
from tests.fixtures.node import NodeCluster
from tests.fixtures.tiny_js import TINY_JS
from tests.integration.helpers import package, ready, server, wait_event

pytestmark = pytest.mark.node
NAME = "@e2e/upg"
CRASH_JS = """#!/usr/bin/env node
console.error('upg 1.2.0: cannot start: missing configuration');
process.exit(1);
"""


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def failed_versions(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["version"], f["reason"]) for f in obj.get("status", {}).get("failedVersions", [])]


async def upgrade(cluster: Cluster, to: str = "latest") -> None:
    patch = {"metadata": {"annotations": {"mcp-operator.dev/upgrade": to}}}
    await cluster.patch("mcppackages", "upg", patch)


async def running_on(cluster: Cluster, version: str) -> None:
    await cluster.wait_for(
        "mcpservers",
        "upg",
        lambda o: ready(o) and o["status"].get("version") == version,
        timeout=240,
        what=f"Running on {version}",
    )
    loop = asyncio.get_running_loop()
    until = loop.time() + 60
    while await server_version(cluster, "upg") != version:  # the Service may still reach an old pod
        assert loop.time() < until, f"{version} never answered through the Service"


async def test_failed_releases_are_rolled_back_and_a_good_one_upgrades(
    cluster: Cluster, node_cluster: NodeCluster
) -> None:
    npm = node_cluster.npm
    bin_ = {"upg": "server.js"}
    npm.publish_npm(NAME, "1.0.0", bin=bin_, files={"server.js": TINY_JS})
    updates = {"rolloutDeadline": "4m"}
    await cluster.create("mcppackages", package("upg", "npm", NAME, npm.url, "^1", updates=updates))
    await cluster.create("mcpservers", server("upg", "upg"))
    await running_on(cluster, "1.0.0")

    # 1.1.0 depends on a package the registry does not have: the init container's install fails.
    npm.publish_npm(
        NAME, "1.1.0", bin=bin_, files={"server.js": TINY_JS}, dependencies={"@e2e/not-published": "1.0.0"}
    )
    await upgrade(cluster)
    obj = await cluster.wait_for(
        "mcppackages", "upg", lambda o: failed_versions(o)[:1] == [("1.1.0", "InstallFailed")], timeout=300
    )
    assert obj["status"]["resolvedVersion"] == "1.0.0"
    assert cond(obj, "Upgrade")["reason"] == "RolledBack"
    assert "exited with code" in obj["status"]["failedVersions"][0]["message"]
    await wait_event(cluster, "upg", "RolledBack")
    await running_on(cluster, "1.0.0")
    tools, text = await call_through_service(cluster, "upg")
    assert (tools, text) == (["echo"], "echo hi")

    # 1.2.0 installs but exits at start: the crash loop is the signal; 1.1.0 is skipped.
    npm.publish_npm(NAME, "1.2.0", bin=bin_, files={"server.js": CRASH_JS})
    await upgrade(cluster)
    obj = await cluster.wait_for(
        "mcppackages", "upg", lambda o: failed_versions(o)[:1] == [("1.2.0", "CrashLoopBackOff")], timeout=300
    )
    assert failed_versions(obj) == [("1.2.0", "CrashLoopBackOff"), ("1.1.0", "InstallFailed")]
    assert "missing configuration" in obj["status"]["failedVersions"][0]["message"]
    assert obj["status"]["resolvedVersion"] == "1.0.0"
    await running_on(cluster, "1.0.0")

    # A good release: the upgrade is done when the new pods are Ready and answer as 1.3.0.
    npm.publish_npm(NAME, "1.3.0", bin=bin_, files={"server.js": TINY_JS})
    await upgrade(cluster)
    obj = await cluster.wait_for(
        "mcppackages", "upg", lambda o: cond(o, "Upgrade").get("reason") == "Upgraded", timeout=300
    )
    assert obj["status"]["resolvedVersion"] == "1.3.0"
    assert [h["outcome"] for h in obj["status"]["history"][:3]] == ["upgraded", "rolledBack", "rolledBack"]
    await running_on(cluster, "1.3.0")
