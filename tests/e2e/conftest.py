"""What the node tests share: a namespace enforcing the restricted Pod Security Standard with the
operator watching it, and ways to reach a server through its Service as a client would."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.bridge.conftest import mcp_client
from tests.fixtures.cluster import Cluster, condition, running_operator
from tests.fixtures.node import NodeCluster


@pytest.fixture
async def cluster(node_cluster: NodeCluster, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    """A namespace that enforces the restricted Pod Security Standard, and the operator watching it."""
    cp = node_cluster.controlplane
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    async with httpx.AsyncClient(base_url=cp.server, verify=cp.ssl_context(), timeout=30) as admin:
        assert (await admin.post("/api/v1/namespaces", json=namespace)).status_code == 201
        monkeypatch.setenv("KUBECONFIG", str(cp.kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        client = Cluster(cp.kubeconfig, name)
        try:
            async with running_operator([name]):
                yield client
        finally:
            await client.close()
            await admin.delete(f"/api/v1/namespaces/{name}")


async def service_url(cluster: Cluster, name: str) -> str:
    """The Service's ClusterIP (the host reaches it through kube-proxy; cluster DNS is not here)."""
    svc = await cluster.get("services", name, api_version="v1")
    assert svc is not None
    port = svc["spec"]["ports"][0]["port"]
    url = f"http://{svc['spec']['clusterIP']}:{port}"
    # Ready pods reach the Service's endpoints a moment later (endpoint slices, then kube-proxy).
    # Until kube-proxy has the Service's rules, a ClusterIP connection leaves by the default route
    # (here to an egress proxy that answers 404): a fresh connection per try, and only the
    # bridge's own answer counts.
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                answer = await http.get(f"{url}/readyz")
            if answer.status_code == 200 and answer.text.startswith("ready:"):
                return url
        except httpx.TransportError:
            pass
        assert asyncio.get_running_loop().time() < deadline, f"Service {name} never answered at {url}"
        await asyncio.sleep(0.2)


async def call_through_service(
    cluster: Cluster, name: str, tool: str = "echo", arguments: dict[str, Any] | None = None
) -> tuple[list[str], str]:
    """The official SDK client, through the Service: the tool names, and the text ``tool`` answers
    (``echo`` with ``{"text": "hi"}`` unless told otherwise)."""
    url = await service_url(cluster, name)
    async with mcp_client(url) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        answer = await client.call_tool(tool, {"text": "hi"} if arguments is None else arguments)
    assert not answer.isError, f"{tool} on {name} answered with an error: {answer.content}"
    return tools, answer.content[0].text  # type: ignore[union-attr]


async def server_version(cluster: Cluster, name: str) -> str:
    url = await service_url(cluster, name)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{url}/mcp", json=body, headers={"Accept": "application/json, text/event-stream"}
        )
    text = answer.text
    payload = (
        json.loads(text.split("data: ", 1)[1])
        if text.startswith("event:") or "data: " in text
        else answer.json()
    )
    return str(payload["result"]["serverInfo"]["version"])


def verified_for(version: str) -> Callable[[dict[str, Any]], bool]:
    """The operator's handshake succeeded with the pods of this package version (status.verifiedVersion
    and the Verified condition: what an upgrade waits for)."""

    def check(obj: dict[str, Any]) -> bool:
        verified = condition(obj, "Verified")
        return verified.get("status") == "True" and obj["status"].get("verifiedVersion") == version

    return check


async def pods(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    return await cluster.list("pods", "v1", selector=f"app.kubernetes.io/instance={name}")
