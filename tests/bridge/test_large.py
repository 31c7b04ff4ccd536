"""Large messages: routed by their envelope without a full parse, in both serialisation orders."""

from __future__ import annotations

import json

import httpx
import pytest

from mcp_operator.bridge import messages
from tests.bridge.conftest import TINY, StartBridge, init_body, mcp_client, text_of

pytestmark = pytest.mark.bridge

PAD = "x" * 20_000


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"p": PAD}}, (7, "tools/call")),
        (
            {"method": "tools/call", "params": {"p": PAD}, "jsonrpc": "2.0", "id": "a-1"},
            ("a-1", "tools/call"),
        ),
        ({"method": "notifications/x", "params": {"p": PAD}, "jsonrpc": "2.0"}, None),
        ({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"p": PAD}}, None),
        (
            {"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"_meta": {"progressToken": 1}, "p": PAD}},
            None,
        ),
        ({"params": {"p": PAD}, "jsonrpc": "2.0", "id": 1, "method": "x"}, None),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, None),  # small: full parse
    ],
)
async def test_peek_request(message: dict[str, object], expected: tuple[object, str] | None) -> None:
    for dump in (json.dumps(message), json.dumps(message, separators=(",", ":"))):
        peeked = messages.peek_request(dump.encode())
        if expected is None:
            assert peeked is None
        else:
            assert peeked == {"jsonrpc": "2.0", "id": expected[0], "method": expected[1]}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"jsonrpc": "2.0", "id": 3, "result": {"p": PAD}}, (3, False)),
        ({"result": {"p": PAD}, "jsonrpc": "2.0", "id": "z"}, ("z", False)),
        ({"error": {"code": 1, "message": PAD}, "jsonrpc": "2.0", "id": -4}, (-4, True)),
        ({"result": {"p": PAD, "n": {"jsonrpc": "2.0", "id": 9}}}, None),
        ({"method": "sampling/createMessage", "params": {"p": PAD}, "jsonrpc": "2.0", "id": 1}, None),
        ({"jsonrpc": "2.0", "id": 3, "result": {}}, None),
    ],
)
async def test_peek_response(message: dict[str, object], expected: tuple[object, bool] | None) -> None:
    for dump in (json.dumps(message), json.dumps(message, separators=(",", ":"))):
        assert messages.peek_response(dump.encode()) == expected


@pytest.mark.parametrize("mode", ["perSession", "shared"])
@pytest.mark.parametrize("transport", ["streamable", "sse"])
async def test_large_payloads_through_the_sdk(start_bridge: StartBridge, mode: str, transport: str) -> None:
    bridge = await start_bridge(session_mode=mode)
    big = "ü" * 300_000
    async with mcp_client(bridge.url, transport) as client:
        result = await client.call_tool("echo", {"message": big})
        assert text_of(result) == f"Echo: {big}"


async def test_large_response_with_envelope_first(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        response = await http.post("/mcp", json=init_body(), headers={"Accept": "application/json"})
        headers = {"Accept": "application/json", "Mcp-Session-Id": response.headers["Mcp-Session-Id"]}
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "big", "arguments": {"size": 50_000}},
        }
        reply = (await http.post("/mcp", json=call, headers=headers)).json()
        assert reply["result"]["content"][0]["text"] == "x" * 50_000
        echo = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": PAD}},
        }
        reply = (await http.post("/mcp", json=echo, headers=headers)).json()
        assert reply["result"]["content"][0]["text"] == PAD
