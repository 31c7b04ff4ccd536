"""The bridge in front of server-everything, driven by the official TypeScript MCP SDK clients of
both generations (@modelcontextprotocol/sdk 1.x and @modelcontextprotocol/client 2.x) over
Streamable HTTP and the legacy SSE transport, with and without the bridge's bearer token. The
Python SDK's client is used throughout the other tests; these are the clients most MCP hosts are
built on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.bridge.conftest import ROOT, StartBridge, eventually

pytestmark = pytest.mark.bridge
SCRIPT = Path(__file__).with_name("ts_client.mjs")
TOKEN = "ts-client-token_42"
PATHS = {"http": "/mcp", "sse": "/sse"}


async def ts_client(generation: str, transport: str, url: str, token: str | None = None) -> dict[str, Any]:
    """Run tests/bridge/ts_client.mjs (no shell) and return the JSON line it printed."""
    args = [generation, transport, url, *([token] if token else [])]
    process = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        *args,
        cwd=ROOT,  # node resolves the SDKs from the project's node_modules
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the {generation} client did not finish within 60 s") from None
    assert process.returncode == 0, err.decode()
    lines = out.decode().strip().splitlines()
    assert lines, f"the {generation} client printed nothing; stderr: {err.decode()}"
    found: dict[str, Any] = json.loads(lines[-1])
    return found


@pytest.mark.parametrize("transport", ["http", "sse"])
@pytest.mark.parametrize("generation", ["v1", "v2"])
async def test_the_typescript_sdk_clients_list_and_call_tools(
    start_bridge: StartBridge, generation: str, transport: str
) -> None:
    bridge = await start_bridge()
    seen = await ts_client(generation, transport, f"{bridge.url}{PATHS[transport]}")
    assert "error" not in seen, seen
    assert seen["server"]["name"] == "mcp-servers/everything"
    assert {"echo", "get-sum"} <= set(seen["tools"])
    assert seen["text"] == "Echo: hello from the TS SDK"
    if transport == "http":
        assert seen["protocol"] == "2025-11-25"
    # Each client ended its session (DELETE, or the SSE stream closed): the bridge keeps none.
    await eventually(lambda: not bridge.bridge.registry.sessions, what="the client's session to end")


@pytest.mark.parametrize("transport", ["http", "sse"])
@pytest.mark.parametrize("generation", ["v1", "v2"])
async def test_the_typescript_sdk_clients_with_the_bearer_token(
    start_bridge: StartBridge, tmp_path: Path, generation: str, transport: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    bridge = await start_bridge(auth_token_file=str(token_file))
    url = f"{bridge.url}{PATHS[transport]}"
    seen = await ts_client(generation, transport, url, TOKEN)
    assert "error" not in seen, seen
    assert seen["text"] == "Echo: hello from the TS SDK"
    refused = await ts_client(generation, transport, url)
    assert "error" in refused, refused
    if transport == "http":
        # The SDK shows the bridge's JSON-RPC error: it says what to send.
        assert "missing Authorization header" in refused["error"]
    else:
        assert refused["code"] == 401
    await eventually(lambda: not bridge.bridge.registry.sessions, what="the sessions to end")
