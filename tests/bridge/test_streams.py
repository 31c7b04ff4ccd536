"""Stream mechanics: keepalives, one writer per stream, oversized child output, non-JSON output."""

from __future__ import annotations

import httpx
import pytest

from tests.bridge.conftest import TINY, StartBridge, eventually, init_body

pytestmark = pytest.mark.bridge

ACCEPT = {"Accept": "application/json"}


async def open_session(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post("/mcp", json=init_body(), headers=ACCEPT)
    return {**ACCEPT, "Mcp-Session-Id": response.headers["Mcp-Session-Id"]}


async def test_keepalive_and_a_new_get_stream_replaces_the_old(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, sse_keepalive=0.05)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        headers = {**await open_session(http), "Accept": "text/event-stream"}
        async with http.stream("GET", "/mcp", headers=headers) as first:
            lines = first.aiter_lines()
            async for line in lines:
                if line == ": keepalive":
                    break
            async with http.stream("GET", "/mcp", headers=headers) as second:
                # The first stream ends once the second one takes over.
                rest = [line async for line in lines]
                assert ": keepalive" not in rest[1:]
                async for line in second.aiter_lines():
                    if line == ": keepalive":
                        break


async def test_child_output_larger_than_the_limit_ends_the_session(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, max_message_bytes=4096)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        headers = await open_session(http)
        big = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "big", "arguments": {"size": 10_000}},
        }
        reply = (await http.post("/mcp", json=big, headers=headers)).json()
        assert reply["error"]["code"] == -32000
        assert "larger than 4096 bytes" in reply["error"]["message"]
        await eventually(lambda: not bridge.bridge.registry.sessions, what="the session to end")


async def test_non_json_child_output_is_skipped(start_bridge: StartBridge) -> None:
    script = (
        "import sys, json\n"
        "print('starting up, not JSON', flush=True)\n"
        "for line in sys.stdin:\n"
        "    m = json.loads(line)\n"
        "    if 'id' in m:\n"
        "        r = {'jsonrpc': '2.0', 'id': m['id'], 'result': {'protocolVersion': '2025-11-25',"
        " 'capabilities': {}, 'serverInfo': {'name': 'batchy', 'version': '1'}}}\n"
        "        print(json.dumps([r, {'jsonrpc': '2.0', 'method': 'notifications/message',"
        " 'params': {'level': 'info', 'data': 'hi'}}]), flush=True)\n"
    )
    bridge = await start_bridge((TINY[0], "-I", "-S", "-c", script))
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        response = await http.post("/mcp", json=init_body(), headers=ACCEPT)
        assert response.json()["result"]["serverInfo"]["name"] == "batchy"
        session = bridge.bridge.registry.get(response.headers["Mcp-Session-Id"])
        assert session is not None
        await eventually(lambda: session.stream.last_seq == 1, what="the batched notification")
