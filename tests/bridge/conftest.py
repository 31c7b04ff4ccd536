"""Fixtures for the bridge tests: real MCP servers behind a real bridge on a loopback port."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcp_operator.bridge.config import BridgeConfig
from mcp_operator.bridge.server import BridgeServer

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = str(ROOT / "node_modules" / ".bin" / "mcp-server-everything")
TIME = str(Path(sys.executable).parent / "mcp-server-time")
TINY = (sys.executable, "-I", "-S", str(Path(__file__).with_name("tiny_server.py")))

StartBridge = Callable[..., Awaitable[BridgeServer]]


@pytest.fixture
async def start_bridge() -> AsyncIterator[StartBridge]:
    """Start bridges on ephemeral loopback ports (MCP and metrics); all are drained and stopped at
    teardown."""
    servers: list[BridgeServer] = []

    async def start(command: tuple[str, ...] | str = EVERYTHING, **options: Any) -> BridgeServer:
        cmd = (command,) if isinstance(command, str) else tuple(command)
        settings: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "drain_grace": 2.0, "metrics_port": 0}
        config = replace(BridgeConfig(command=cmd), **{**settings, **options})
        server = BridgeServer(config)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="sampled by the test"),
        model="test-model",
    )


async def elicitation(context: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "test"})


async def list_roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/bridge-test", name="bridge-test")])


@asynccontextmanager
async def mcp_client(
    url: str, transport: str = "streamable", headers: dict[str, str] | None = None, **kwargs: Any
) -> AsyncIterator[ClientSession]:
    """An initialized official-SDK client session over Streamable HTTP or legacy SSE."""
    kwargs.setdefault("sampling_callback", sampling)
    kwargs.setdefault("elicitation_callback", elicitation)
    kwargs.setdefault("list_roots_callback", list_roots)
    if transport == "streamable":
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(30, read=60), headers=headers) as http,
            streamable_http_client(url + "/mcp", http_client=http) as (read, write, _),
            ClientSession(read, write, **kwargs) as session,
        ):
            await session.initialize()
            yield session
    else:
        async with (
            sse_client(url + "/sse", headers=headers) as (read, write),
            ClientSession(read, write, **kwargs) as session,
        ):
            await session.initialize()
            yield session


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `check` until it is true, failing after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def init_body(version: str = "2025-11-25", request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "1"},
        },
    }


JSON_ACCEPT = {"Accept": "application/json", "Content-Type": "application/json"}
