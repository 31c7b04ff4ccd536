"""The operator's main job on a real node: MCPPackage + MCPServer -> pods that install the pinned
package under the restricted Pod Security profile, become Ready through their real probes, and
answer the official MCP SDK client through their Service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.bridge.conftest import mcp_client
from tests.e2e.conftest import call_through_service, pods, server_version, service_url, verified_for
from tests.fixtures.cluster import Cluster, condition
from tests.fixtures.node import NodeCluster
from tests.fixtures.pkgbuild import build_wheel
from tests.fixtures.tiny_js import TINY_JS
from tests.integration.helpers import package, ready, reason_is, server

pytestmark = pytest.mark.node
TINY_PY = (Path(__file__).resolve().parents[1] / "bridge" / "tiny_server.py").read_text()


async def test_an_npm_server_runs_answers_scales_to_zero_and_upgrades(
    cluster: Cluster, node_cluster: NodeCluster
) -> None:
    npm = node_cluster.npm
    for version in ("1.0.0", "1.1.0"):
        npm.publish_npm("@e2e/tiny", version, bin={"tiny-js": "server.js"}, files={"server.js": TINY_JS})
    await cluster.create("mcppackages", package("tiny", "npm", "@e2e/tiny", npm.url, "1.0.0"))
    await cluster.create("mcpservers", server("tiny", "tiny"))
    obj = await cluster.wait_for("mcpservers", "tiny", ready, timeout=180, what="Running on the real node")
    assert obj["status"]["phase"] == "Running"
    assert obj["status"]["version"] == "1.0.0"

    tools, text = await call_through_service(cluster, "tiny")
    assert tools == ["echo"]
    assert text == "echo hi"
    assert await server_version(cluster, "tiny") == "1.0.0"
    obj = await cluster.wait_for("mcpservers", "tiny", verified_for("1.0.0"), timeout=60, what="Verified")
    assert obj["status"]["serverInfo"]["name"] == "tiny-js"
    assert obj["status"]["serverInfo"]["version"] == "1.0.0"
    assert obj["status"]["tools"] == ["echo"]

    # The pod really runs restricted: uid 10001, read-only root, no capabilities.
    (pod,) = await pods(cluster, "tiny")
    security = pod["spec"]["containers"][0]["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert pod["status"]["phase"] == "Running"

    await cluster.patch("mcpservers", "tiny", {"spec": {"enabled": False}})
    await cluster.wait_for("mcpservers", "tiny", reason_is("Disabled"), timeout=120)
    assert [p for p in await pods(cluster, "tiny") if not p["metadata"].get("deletionTimestamp")] == []
    await cluster.patch("mcpservers", "tiny", {"spec": {"enabled": True}})
    await cluster.wait_for("mcpservers", "tiny", ready, timeout=180, what="Running again")

    await cluster.patch("mcppackages", "tiny", {"spec": {"source": {"version": "1.1.0"}}})
    obj = await cluster.wait_for(
        "mcpservers", "tiny", lambda o: o["status"].get("version") == "1.1.0" and ready(o), timeout=180
    )
    assert condition(obj)["reason"] == "Running"
    # The operator's handshake follows the new version: what the server itself says it runs.
    obj = await cluster.wait_for(
        "mcpservers", "tiny", verified_for("1.1.0"), timeout=60, what="Verified 1.1.0"
    )
    assert obj["status"]["serverInfo"]["version"] == "1.1.0"
    assert condition(obj, "Verified")["message"] == (
        "tiny-js 1.1.0 (MCP 2025-11-25, 1 tool) answered for package version 1.1.0"
    )
    deadline = asyncio.get_running_loop().time() + 60
    while await server_version(cluster, "tiny") != "1.1.0":  # the Service may still reach an old pod
        assert asyncio.get_running_loop().time() < deadline, "the new version never answered"
        await asyncio.sleep(0.5)


async def test_a_pypi_server_runs_and_answers(cluster: Cluster, node_cluster: NodeCluster) -> None:
    pypi = node_cluster.pypi
    modules = {"e2e_tiny/__init__.py": TINY_PY}
    pypi.publish_pypi("e2e-tiny", "1.0.0", console_scripts={"e2e-tiny": "e2e_tiny:main"}, modules=modules)
    await cluster.create("mcppackages", package("pytiny", "pypi", "e2e-tiny", pypi.url, "1.0.0"))
    await cluster.create("mcpservers", server("pytiny", "pytiny"))
    await cluster.wait_for("mcpservers", "pytiny", ready, timeout=180, what="Running on the real node")
    url = await service_url(cluster, "pytiny")
    async with mcp_client(url) as client:
        answer = await client.call_tool("echo", {"text": "from a pod"})
    assert answer.content[0].text == "from a pod"  # type: ignore[union-attr]


async def test_failed_installs_show_the_init_containers_real_reason(
    cluster: Cluster, node_cluster: NodeCluster
) -> None:
    """After the pin, the registry changes under it: the file now has other content (integrity
    mismatch, installer exit 3), or the version is gone (exit 4). The server says which."""
    pypi = node_cluster.pypi
    changed = pypi.publish_pypi("e2e-changed", "1.0.0", console_scripts={"e2e-changed": "e2e_changed:main"})
    gone = pypi.publish_pypi("e2e-gone", "1.0.0", console_scripts={"e2e-gone": "e2e_gone:main"})
    for name in ("changed", "gone"):
        await cluster.create("mcppackages", package(name, "pypi", f"e2e-{name}", pypi.url, "1.0.0"))
        await cluster.wait_for("mcppackages", name, ready, timeout=60)
    other = build_wheel(
        "e2e-changed", "1.0.0", modules={"e2e_changed/__init__.py": "def main():\n    pass\n"}
    )
    assert other.filename == changed.filename
    assert other.sha256 != changed.sha256
    (pypi.packages / changed.filename).write_bytes(other.data)
    (pypi.packages / gone.filename).unlink()
    for name in ("changed", "gone"):
        await cluster.create("mcpservers", server(name, name))

    obj = await cluster.wait_for("mcpservers", "changed", reason_is("InstallFailed"), timeout=180)
    assert "exited with code 3" in condition(obj)["message"]
    assert "integrity" in condition(obj)["message"]
    assert obj["status"]["phase"] == "Failed"
    obj = await cluster.wait_for("mcpservers", "gone", reason_is("InstallFailed"), timeout=180)
    assert "exited with code 4" in condition(obj)["message"]
