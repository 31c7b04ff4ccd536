"""Verify, in the operator: the MCP handshake after a rollout, recorded in status, repeated on an
interval and after a new version, retried after failures, and not repeated by other reconciles.

On kmock's emulator, with the MCPServer's Service given the cluster IP 127.0.0.1 and its port
served by a real bridge on this host (the emulator has no pods: its rollouts are written by the
`emulated_rollout` fake). tests/e2e does the same with real pods behind a real Service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from tests.bridge.conftest import TINY, StartBridge
from tests.fixtures.cluster import Cluster, condition
from tests.integration.helpers import emulated_rollout, give_cluster_ip, package, ready, server, wait_event

from mcp_operator.bridge.config import BridgeConfig
from mcp_operator.bridge.server import BridgeServer

pytestmark = pytest.mark.integration
APPS = "apps/v1"


def verified(status: str, reason: str, version: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        found = condition(obj, "Verified")
        versions = version is None or obj["status"].get("verifiedVersion") == version
        return found.get("status") == status and found.get("reason") == reason and versions

    return check


def sessions(bridge: BridgeServer) -> float:
    """How many MCP sessions the bridge has opened."""
    value = bridge.bridge.metrics.registry.get_sample_value(
        "mcp_bridge_sessions_opened_total", {"transport": "streamable"}
    )
    return value or 0.0


@pytest.fixture
def verify_every_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_OPERATOR_VERIFY_INTERVAL", "1")
    monkeypatch.setenv("MCP_OPERATOR_RETRY_CAP", "2")


async def test_a_rolled_out_server_is_verified_once_and_not_by_every_reconcile(
    start_bridge: StartBridge,
    emulated: Cluster,
    npm_registry: Any,
) -> None:
    bridge = await start_bridge(TINY)
    cluster = emulated
    npm_registry.publish_npm(cluster.unique("vf-once"), "1.0.0", bin={"vf-once": "index.js"})
    await cluster.create("mcppackages", package("once", "npm", cluster.unique("vf-once"), npm_registry.url))
    await cluster.create("mcpservers", server("once", "once", port=bridge.port))
    await give_cluster_ip(cluster, "once")
    await cluster.wait_for("deployments", "once", lambda o: True, api_version=APPS)
    obj = await cluster.get("mcpservers", "once")
    assert obj is not None
    assert condition(obj, "Verified").get("reason") in (None, "VerifyPending")
    assert sessions(bridge) == 0  # nothing rolled out, nothing asked

    await emulated_rollout(cluster, "once")
    obj = await cluster.wait_for("mcpservers", "once", verified("True", "Verified", "1.0.0"), what="Verified")
    status = obj["status"]
    assert status["serverInfo"] == {
        "name": "tiny",
        "version": "1.0",
        "protocolVersion": "2025-11-25",
        "capabilities": ["tools"],
    }
    assert status["tools"] == ["echo", "sleep", "exit", "pid", "big"]
    assert status["toolCount"] == 5
    assert status["verifiedAt"]
    assert ready(obj)
    message = condition(obj, "Verified")["message"]
    assert message == "tiny 1.0 (MCP 2025-11-25, 5 tools) answered for package version 1.0.0"
    assert sessions(bridge) == 1
    assert not bridge.bridge.registry.sessions  # the handshake ended its session

    # Reconciles for other reasons (edits, a new generation, child events) do not shake hands again.
    for poke in ("a", "b"):
        await cluster.patch("mcpservers", "once", {"metadata": {"labels": {"poke": poke}}})
    await emulated_rollout(cluster, "once")
    edited = await cluster.patch("mcpservers", "once", {"spec": {"args": ["--quiet"]}})  # a new template
    generation = edited["metadata"]["generation"]
    assert generation > obj["metadata"]["generation"]
    await cluster.wait_for(
        "mcpservers", "once", lambda o: condition(o, "Verified").get("observedGeneration") == generation
    )
    assert sessions(bridge) == 1
    # ... until the new template has rolled out: then it is verified again.
    await emulated_rollout(cluster, "once")
    await cluster.wait_for(
        "mcpservers", "once", lambda o: verified("True", "Verified")(o) and sessions(bridge) == 2
    )


async def test_failures_are_reported_and_retried_and_a_new_version_is_verified_again(
    start_bridge: StartBridge,
    verify_every_second: None,
    emulated: Cluster,
    npm_registry: Any,
) -> None:
    cluster = emulated
    bridge = await start_bridge(TINY)
    for version in ("1.0.0", "1.1.0"):
        npm_registry.publish_npm(cluster.unique("vf-roll"), version, bin={"vf-roll": "index.js"})
    await cluster.create(
        "mcppackages", package("roll", "npm", cluster.unique("vf-roll"), npm_registry.url, "1.0.0")
    )
    await cluster.create("mcpservers", server("roll", "roll", port=bridge.port))
    await give_cluster_ip(cluster, "roll")
    await cluster.wait_for("deployments", "roll", lambda o: True, api_version=APPS)
    await emulated_rollout(cluster, "roll")
    await cluster.wait_for("mcpservers", "roll", verified("True", "Verified", "1.0.0"))

    # The server goes away: the next periodic handshake says so, the pods' readiness aside.
    port = bridge.port
    await bridge.stop()
    obj = await cluster.wait_for("mcpservers", "roll", verified("False", "ServerUnreachable"), timeout=20)
    message = condition(obj, "Verified")["message"]
    assert (
        f"could not connect to http://roll.{cluster.namespace}.svc:{port}/mcp (cluster IP 127.0.0.1)"
        in message
    )
    assert message.endswith("(package version 1.0.0); the operator retries with backoff")
    assert obj["status"]["serverInfo"]["name"] == "tiny"  # what it said last
    assert ready(obj)
    event = await wait_event(cluster, "roll", "ServerUnreachable")
    assert event["message"].startswith("MCP handshake failed: could not connect")

    # It comes back: retried with backoff, verified again.
    config = replace(BridgeConfig(command=TINY), host="127.0.0.1", port=port, drain_grace=2.0)
    async with BridgeServer(config):
        await cluster.wait_for("mcpservers", "roll", verified("True", "Verified", "1.0.0"), timeout=20)

        # A new version: pending while it rolls out, then verified for that version.
        await cluster.patch("mcppackages", "roll", {"spec": {"source": {"version": "1.1.0"}}})
        await cluster.wait_for("mcpservers", "roll", verified("Unknown", "VerifyPending"), timeout=30)
        obj = await cluster.get("mcpservers", "roll")
        assert obj is not None
        assert "waiting for every replica of version 1.1.0" in condition(obj, "Verified")["message"]
        assert obj["status"]["verifiedVersion"] == "1.0.0"
        await emulated_rollout(cluster, "roll")
        obj = await cluster.wait_for("mcpservers", "roll", verified("True", "Verified", "1.1.0"), timeout=20)
        assert obj["status"]["version"] == "1.1.0"
        assert "answered for package version 1.1.0" in condition(obj, "Verified")["message"]
