"""Self-healing on the real node (docs/upgrades.md#self-healing): a server whose package is missing
or broken gets one clean reinstall; when that fails too it is Failed, scaled to zero by the operator
(MCP_OPERATOR_SUSPEND_BROKEN here), with the reason and how to try again; no silent crash loop.
A reinstall that helps (the registry was fixed meanwhile) ends Running."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import call_through_service, pods, verified_for
from tests.fixtures.cluster import Cluster, condition
from tests.fixtures.node import NodeCluster
from tests.fixtures.tiny_js import TINY_JS
from tests.integration.helpers import package, ready, server, wait_event

pytestmark = pytest.mark.node


@pytest.fixture(autouse=True)
def suspend_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the `cluster` fixture starts the operator, which reads it at start."""
    monkeypatch.setenv("MCP_OPERATOR_SUSPEND_BROKEN", "true")


def reinstall(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status", {}).get("reinstall") or {}


async def test_a_missing_entrypoint_is_reinstalled_once_then_suspended(
    cluster: Cluster, node_cluster: NodeCluster
) -> None:
    npm = node_cluster.npm
    npm.publish_npm(
        "@e2e/heal-missing", "1.0.0", bin={"heal-missing": "server.js"}, files={"server.js": TINY_JS}
    )
    entrypoint = {"command": ["heal-missing-does-not-exist"]}
    await cluster.create(
        "mcppackages", package("nocmd", "npm", "@e2e/heal-missing", npm.url, "1.0.0", entrypoint=entrypoint)
    )
    await cluster.create("mcpservers", server("nocmd", "nocmd"))
    obj = await cluster.wait_for("mcpservers", "nocmd", lambda o: bool(reinstall(o)), timeout=240)
    assert reinstall(obj)["reason"] == "EntrypointNotFound"
    await wait_event(cluster, "nocmd", "Reinstalling", timeout=60)

    obj = await cluster.wait_for(
        "mcpservers", "nocmd", lambda o: reinstall(o).get("outcome") == "failed", timeout=300
    )
    assert reinstall(obj)["suspended"] is True
    assert obj["status"]["phase"] == "Failed"
    found = condition(obj)
    assert found["reason"] == "EntrypointNotFound"
    assert "a clean reinstall of 1.0.0" in found["message"]
    assert "kubectl annotate mcpserver nocmd mcp-operator.dev/retry=now" in found["message"]
    assert condition(obj, "Stalled")["status"] == "True"
    # Suspended: the Deployment was applied at zero before the status said so, and a reconcile whose
    # cache lags behind that status does not apply it back (tests/unit/test_server_reconcile_status_
    # of_record.py); the MCPServer's spec is untouched.
    dep = await cluster.get("deployments", "nocmd", api_version="apps/v1")
    assert dep is not None
    assert dep["spec"]["replicas"] == 0
    srv = await cluster.get("mcpservers", "nocmd")
    assert srv is not None
    assert srv["spec"].get("enabled", True) is True


async def test_a_reinstall_that_helps_ends_running(cluster: Cluster, node_cluster: NodeCluster) -> None:
    """The package needs a dependency the registry does not have yet: the install fails. It is
    published before the operator's reinstall runs, as a registry fixed by its owner would be."""
    npm = node_cluster.npm
    npm.publish_npm(
        "@e2e/heal-dep",
        "1.0.0",
        bin={"heal-dep": "server.js"},
        files={"server.js": TINY_JS},
        dependencies={"@e2e/heal-dep-lib": "1.0.0"},
    )
    await cluster.create("mcppackages", package("dep", "npm", "@e2e/heal-dep", npm.url, "1.0.0"))
    await cluster.create("mcpservers", server("dep", "dep"))
    await cluster.wait_for(
        "mcpservers",
        "dep",
        lambda o: condition(o).get("reason") == "InstallFailed" or bool(reinstall(o)),
        timeout=240,
    )
    npm.publish_npm("@e2e/heal-dep-lib", "1.0.0", files={"index.js": "module.exports = 1;\n"})
    obj = await cluster.wait_for("mcpservers", "dep", ready, timeout=300, what="Running after the reinstall")
    assert reinstall(obj).get("outcome") == "pending"  # the one reinstall was made, and it helped
    (pod,) = [p for p in await pods(cluster, "dep") if not p["metadata"].get("deletionTimestamp")]
    assert pod["metadata"]["annotations"]["mcp-operator.dev/reinstall"] == reinstall(obj)["token"]
    # Through the Service: the operator's handshake first (the Service may still be catching up).
    await cluster.wait_for("mcpservers", "dep", verified_for("1.0.0"), timeout=120)
    tools, _ = await call_through_service(cluster, "dep")
    assert tools == ["echo"]
