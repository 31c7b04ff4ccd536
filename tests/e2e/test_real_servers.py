"""Real MCP servers from npm and PyPI, as users run them: @modelcontextprotocol/server-everything and
mcp-server-time, resolved from the local registries (their pinned copies: tools/mirror.py), installed
with all their dependencies by the init container under the restricted profile, Ready through their
real probes, and driven by the official SDK client through their Service."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import call_through_service, pods, verified_for
from tests.fixtures.cluster import Cluster, condition
from tests.fixtures.node import NodeCluster
from tests.integration.helpers import package, ready, reason_is, server

pytestmark = pytest.mark.node
EVERYTHING = "@modelcontextprotocol/server-everything"


async def test_server_everything_from_npm(cluster: Cluster, node_cluster: NodeCluster) -> None:
    await cluster.create("mcppackages", package("everything", "npm", EVERYTHING, node_cluster.npm.url))
    await cluster.create("mcpservers", server("everything", "everything"))
    obj = await cluster.wait_for("mcpservers", "everything", ready, timeout=240, what="Running")
    pinned = (await cluster.get("mcppackages", "everything"))["status"]["resolvedVersion"]
    assert obj["status"]["version"] == pinned

    # The operator's own handshake through the Service, recorded in status.
    obj = await cluster.wait_for(
        "mcpservers", "everything", verified_for(pinned), timeout=60, what="Verified"
    )
    status = obj["status"]
    assert status["serverInfo"]["name"] == "mcp-servers/everything"
    assert status["serverInfo"]["version"]
    assert status["serverInfo"]["protocolVersion"] == "2025-11-25"
    assert "tools" in status["serverInfo"]["capabilities"]
    assert {"echo", "get-sum"} <= set(status["tools"]), status["tools"]
    assert status["toolCount"] == len(status["tools"])
    assert f"answered for package version {pinned}" in condition(obj, "Verified")["message"]

    tools, text = await call_through_service(cluster, "everything", "echo", {"message": "from a real server"})
    assert {"echo", "get-sum"} <= set(tools), tools
    assert "from a real server" in text
    _, total = await call_through_service(cluster, "everything", "get-sum", {"a": 2, "b": 40})
    assert "42" in total


async def test_mcp_server_time_from_pypi(cluster: Cluster, node_cluster: NodeCluster) -> None:
    pypi = node_cluster.pypi
    await cluster.create("mcppackages", package("time", "pypi", "mcp-server-time", pypi.url, ">=2025.1"))
    await cluster.create("mcpservers", server("time", "time", args=["--local-timezone", "UTC"]))
    await cluster.wait_for("mcpservers", "time", ready, timeout=240, what="Running")

    tools, text = await call_through_service(cluster, "time", "get_current_time", {"timezone": "Asia/Tokyo"})
    assert set(tools) == {"get_current_time", "convert_time"}
    answer = json.loads(text)
    assert answer["timezone"] == "Asia/Tokyo"
    assert answer["datetime"].endswith("+09:00")


async def test_a_server_that_crashes_at_start_says_crashloop(
    cluster: Cluster, node_cluster: NodeCluster
) -> None:
    """mcp-server-time refuses an unknown time zone at start and exits: the bridge's child dies,
    the container restarts, and the server reports CrashLoopBackOff with the exit, not a timeout."""
    pypi = node_cluster.pypi
    await cluster.create("mcppackages", package("crashy", "pypi", "mcp-server-time", pypi.url, ">=2025.1"))
    await cluster.create("mcpservers", server("crashy", "crashy", args=["--local-timezone", "Not/AZone"]))
    obj = await cluster.wait_for("mcpservers", "crashy", reason_is("CrashLoopBackOff"), timeout=300)
    assert obj["status"]["phase"] == "Failed", obj["status"]
    message = condition(obj)["message"]
    assert "restart" in message.lower() or "exit" in message.lower(), message
    (pod,) = await pods(cluster, "crashy")
    assert pod["status"]["containerStatuses"][0]["restartCount"] >= 1
