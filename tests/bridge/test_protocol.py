"""Wire-level behaviour, checked with plain HTTP: status codes, batches, versions, resumption."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.bridge.conftest import JSON_ACCEPT, TINY, StartBridge, eventually, init_body

pytestmark = pytest.mark.bridge


def sse_events(text: str) -> list[tuple[str | None, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        event_id, data = None, None
        for line in block.splitlines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            events.append((event_id, json.loads(data)))
    return events


async def initialize(http: httpx.AsyncClient, version: str = "2025-11-25") -> str:
    response = await http.post("/mcp", json=init_body(version), headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["protocolVersion"] == version
    session_id = response.headers["Mcp-Session-Id"]
    headers = {"Mcp-Session-Id": session_id, "Accept": "application/json"}
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post("/mcp", json=note, headers=headers)).status_code == 202
    return session_id


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
async def test_handshake_versions_and_json_responses(start_bridge: StartBridge, version: str) -> None:
    bridge = await start_bridge()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        session_id = await initialize(http, version)
        headers = {"Mcp-Session-Id": session_id, "Accept": "application/json"}
        if version >= "2025-06-18":
            headers["MCP-Protocol-Version"] = version
        call = {
            "jsonrpc": "2.0",
            "id": "x1",
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "v"}},
        }
        response = await http.post("/mcp", json=call, headers=headers)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["id"] == "x1"
        assert response.json()["result"]["content"][0]["text"] == "Echo: v"


async def test_batch_request(start_bridge: StartBridge) -> None:
    bridge = await start_bridge()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        session_id = await initialize(http, "2025-03-26")
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
            {"jsonrpc": "2.0", "id": 2, "method": "ping"},
        ]
        headers = {"Mcp-Session-Id": session_id, "Accept": "application/json"}
        response = await http.post("/mcp", content=json.dumps(batch, indent=2), headers=headers)
        assert response.status_code == 200
        replies = {r["id"]: r for r in response.json()}
        assert set(replies) == {1, 2}
        assert replies[1]["result"]["tools"]
        assert replies[2]["result"] == {}


async def test_status_codes(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, max_message_bytes=10_000)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        # No session, not initialize, not stateless: the client must initialize first.
        missing = await http.post("/mcp", json=ping, headers=JSON_ACCEPT)
        assert missing.status_code == 400
        assert "Mcp-Session-Id" in missing.json()["error"]["message"]
        # Unknown session ids get 404 on every method.
        unknown = {**JSON_ACCEPT, "Mcp-Session-Id": "nope"}
        assert (await http.post("/mcp", json=ping, headers=unknown)).status_code == 404
        assert (await http.get("/mcp", headers=unknown)).status_code == 404
        assert (await http.delete("/mcp", headers=unknown)).status_code == 404
        assert (await http.delete("/mcp")).status_code == 400
        assert (await http.get("/mcp")).status_code == 405
        # Bad bodies and versions.
        assert (await http.post("/mcp", content=b"{not json", headers=JSON_ACCEPT)).status_code == 400
        assert (await http.post("/mcp", content=b"[]", headers=JSON_ACCEPT)).status_code == 400
        assert (await http.post("/mcp", content=b"[1, 2]", headers=JSON_ACCEPT)).status_code == 400
        bad_version = {**JSON_ACCEPT, "MCP-Protocol-Version": "1999-01-01"}
        assert (await http.post("/mcp", json=ping, headers=bad_version)).status_code == 400
        big = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 20_000}}
        too_large = await http.post("/mcp", json=big, headers=JSON_ACCEPT)
        assert too_large.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            yield json.dumps(big).encode()

        chunked = await http.post("/mcp", content=chunks(), headers=JSON_ACCEPT)
        assert chunked.status_code == 413

        # A session ends with DELETE; afterwards its id is unknown.
        session_id = await initialize(http)
        headers = {**JSON_ACCEPT, "Mcp-Session-Id": session_id}
        session = bridge.bridge.registry.get(session_id)
        assert session is not None
        assert (await http.post("/mcp", json=ping, headers=headers)).json()["result"] == {}
        assert (await http.delete("/mcp", headers=headers)).status_code == 200
        assert (await http.post("/mcp", json=ping, headers=headers)).status_code == 404
        assert (await http.post(f"/messages?sessionId={session_id}", json=ping)).status_code == 404

        metrics = (await http.get(f"{bridge.metrics_url}/metrics")).text
        assert 'mcp_bridge_rejected_total{reason="unknown_session"}' in metrics
        assert 'mcp_bridge_rejected_total{reason="too_large"} 2.0' in metrics


async def test_max_sessions(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, max_sessions=2)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        await initialize(http)
        await initialize(http)
        refused = await http.post("/mcp", json=init_body(), headers=JSON_ACCEPT)
        assert refused.status_code == 503
        assert "--max-sessions" in refused.json()["error"]["message"]
        sse = await http.get("/sse")
        assert sse.status_code == 503


async def test_duplicate_and_invalid_request_ids(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        session_id = await initialize(http)
        headers = {"Mcp-Session-Id": session_id, "Accept": "application/json"}
        sleep = {"name": "sleep", "arguments": {"seconds": 0.2}}
        batch = [
            {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": sleep},
            {"jsonrpc": "2.0", "id": 7, "method": "ping"},
            {"jsonrpc": "2.0", "id": {"bad": 1}, "method": "ping"},
        ]
        replies = (await http.post("/mcp", json=batch, headers=headers)).json()
        errors = [r for r in replies if "error" in r]
        assert len(errors) == 2
        assert any(r.get("result", {}).get("content") for r in replies)


async def test_sse_response_and_resumption(start_bridge: StartBridge) -> None:
    """A POST's SSE stream can be resumed with Last-Event-ID after the connection drops."""
    bridge = await start_bridge()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        session_id = await initialize(http)
        headers = {"Mcp-Session-Id": session_id, "Accept": "application/json, text/event-stream"}
        call = {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {
                "name": "trigger-long-running-operation",
                "arguments": {"duration": 0.6, "steps": 3},
                "_meta": {"progressToken": "tok"},
            },
        }
        first_id = None
        async with http.stream("POST", "/mcp", json=call, headers=headers) as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    first_id = line[4:]
                    break
        assert first_id is not None
        resumed = await http.get("/mcp", headers={**headers, "Last-Event-ID": first_id})
        events = sse_events(resumed.text)
        assert events[-1][1]["id"] == 5
        assert "result" in events[-1][1]
        seqs = [int(e[0].split("/")[1]) for e in events if e[0]]
        assert seqs == sorted(seqs)
        assert seqs[0] == int(first_id.split("/")[1]) + 1
        # A bad Last-Event-ID is refused.
        bad = await http.get("/mcp", headers={**headers, "Last-Event-ID": "zzz/1"})
        assert bad.status_code == 400


async def test_get_stream_receives_backlog(start_bridge: StartBridge) -> None:
    """Messages sent while no GET stream is open are delivered when one opens."""
    bridge = await start_bridge()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        session_id = await initialize(http)
        headers = {"Mcp-Session-Id": session_id, "Accept": "application/json"}
        level = {"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "debug"}}
        assert (await http.post("/mcp", json=level, headers=headers)).status_code == 200
        toggle = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "toggle-simulated-logging"},
        }
        assert (await http.post("/mcp", json=toggle, headers=headers)).status_code == 200
        session = bridge.bridge.registry.get(session_id)
        assert session is not None
        await eventually(
            lambda: any(b"notifications/message" in m for m in session.stream.payloads()),
            what="a log message on the GET stream",
        )
        session.stream.close()  # end the stream so the GET below returns
        response = await http.get("/mcp", headers={**headers, "Accept": "text/event-stream"})
        events = sse_events(response.text)
        assert "notifications/message" in [e[1].get("method") for e in events]
