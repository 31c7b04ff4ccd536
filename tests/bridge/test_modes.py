"""Shared mode (id rewriting) and the stateless 2026-07-28 revision."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.bridge.conftest import TIME, TINY, StartBridge, eventually, mcp_client, text_of

pytestmark = pytest.mark.bridge

STATELESS = {"Accept": "application/json", "MCP-Protocol-Version": "2026-07-28"}
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def request(method: str, request_id: Any, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": dict(META)}}


@pytest.mark.parametrize("transport", ["streamable", "sse"])
async def test_shared_mode_answers_never_cross(start_bridge: StartBridge, transport: str) -> None:
    bridge = await start_bridge(session_mode="shared")
    registry = bridge.bridge.registry
    async with mcp_client(bridge.url, transport) as a, mcp_client(bridge.url, transport) as b:
        assert len(registry.sessions) == 2

        async def calls(client: Any, tag: str) -> list[str]:
            results = await asyncio.gather(
                *(client.call_tool("echo", {"message": f"{tag}{i}"}) for i in range(25))
            )
            return [text_of(r) for r in results]

        got_a, got_b = await asyncio.gather(calls(a, "a"), calls(b, "b"))
        assert got_a == [f"Echo: a{i}" for i in range(25)]
        assert got_b == [f"Echo: b{i}" for i in range(25)]

        # Progress tokens collide across clients (the SDK uses the request id); they are rewritten.
        progress: dict[str, list[float]] = {"a": [], "b": []}

        async def long(client: Any, tag: str) -> None:
            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress[tag].append(value)

            args = {"duration": 0.3, "steps": 3}
            await client.call_tool("trigger-long-running-operation", args, progress_callback=on_progress)

        await asyncio.gather(long(a, "a"), long(b, "b"))
        assert progress == {"a": [1, 2, 3], "b": [1, 2, 3]}
        # A server-to-client request goes to the session whose request triggered it.
        sampled = await b.call_tool("trigger-sampling-request", {"prompt": "hi"})
        assert "sampled by the test" in text_of(sampled)
    assert 'mcp_bridge_child_starts_total{purpose="shared"} 1.0' in bridge.bridge.metrics.render().decode()


async def test_shared_mode_child_exit_ends_its_sessions(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, session_mode="shared")
    registry = bridge.bridge.registry
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        response = await http.post("/mcp", json=init, headers={"Accept": "application/json"})
        assert response.json()["result"]["protocolVersion"] == "2024-11-05"
        headers = {"Accept": "application/json", "Mcp-Session-Id": response.headers["Mcp-Session-Id"]}
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post("/mcp", json=note, headers=headers)).status_code == 202
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}}
        assert (await http.post("/mcp", json=cancel, headers=headers)).status_code == 202
        boom = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "exit", "arguments": {}},
        }
        reply = (await http.post("/mcp", json=boom, headers=headers)).json()
        assert reply["error"]["code"] == -32000
        await eventually(lambda: not registry.sessions, what="the shared child's sessions to end")
        assert (await http.post("/mcp", json=boom, headers=headers)).status_code == 404


async def test_shared_mode_timeout_cancels_with_rewritten_id(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(session_mode="shared", request_timeout=0.3)
    async with mcp_client(bridge.url) as client:
        with pytest.raises(Exception, match="did not answer"):
            await client.call_tool("trigger-long-running-operation", {"duration": 1, "steps": 1})
        assert text_of(await client.call_tool("echo", {"message": "ok"})) == "Echo: ok"


@pytest.mark.parametrize("mode", ["perSession", "shared"])
async def test_stateless_revision(start_bridge: StartBridge, mode: str) -> None:
    """2026-07-28 clients send no initialize and no session; requests go to a shared child."""
    bridge = await start_bridge(TIME, session_mode=mode)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        discover = (await http.post("/mcp", json=request("server/discover", 1), headers=STATELESS)).json()
        result = discover["result"]
        assert result["supportedVersions"] == ["2026-07-28"]
        assert "tools" in result["capabilities"]
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcp-time"
        assert (
            "Mcp-Session-Id"
            not in (await http.post("/mcp", json=request("tools/list", 2), headers=STATELESS)).headers
        )

        async def now(i: int) -> dict[str, Any]:
            body = request("tools/call", i, name="get_current_time", arguments={"timezone": "UTC"})
            return (await http.post("/mcp", json=body, headers=STATELESS)).json()

        replies = await asyncio.gather(*(now(i) for i in range(10)))
        assert [r["id"] for r in replies] == list(range(10))
        assert all("UTC" in r["result"]["content"][0]["text"] for r in replies)

        # Clients that accept SSE get plain JSON when nothing needs streaming.
        sse = {**STATELESS, "Accept": "application/json, text/event-stream"}
        quick = await http.post("/mcp", json=request("tools/list", "s"), headers=sse)
        assert quick.headers["Content-Type"].startswith("application/json")
        assert quick.json()["id"] == "s"
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}
        assert (await http.post("/mcp", json=note, headers=STATELESS)).status_code == 202
    assert not bridge.bridge.registry.sessions


async def test_stateless_progress_streams_over_sse(start_bridge: StartBridge) -> None:
    bridge = await start_bridge()
    sse = {**STATELESS, "Accept": "application/json, text/event-stream"}
    body = request(
        "tools/call", 1, name="trigger-long-running-operation", arguments={"duration": 0.2, "steps": 2}
    )
    body["params"]["_meta"]["progressToken"] = 1  # the same token from two clients
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        first, second = await asyncio.gather(
            http.post("/mcp", json=body, headers=sse), http.post("/mcp", json=body, headers=sse)
        )
    for response in (first, second):
        assert response.headers["Content-Type"] == "text/event-stream"
        data = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
        progress = [m["params"]["progress"] for m in data if m.get("method") == "notifications/progress"]
        assert progress == [1, 2]
        assert all(m["params"]["progressToken"] == 1 for m in data if "method" in m)
        assert data[-1]["id"] == 1
        assert "result" in data[-1]
