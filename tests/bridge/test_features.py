"""Real servers behind the bridge, driven by the official MCP SDK over Streamable HTTP and SSE."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp import types

from tests.bridge.conftest import TIME, StartBridge, eventually, mcp_client, text_of

pytestmark = pytest.mark.bridge

TRANSPORTS = ["streamable", "sse"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_everything_server_features(
    start_bridge: StartBridge, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="mcp_operator.bridge.child")
    bridge = await start_bridge()
    logs: list[types.LoggingMessageNotificationParams] = []
    progress: list[float] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with mcp_client(bridge.url, transport, logging_callback=on_log) as client:
        (session_id,) = bridge.bridge.registry.sessions
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"echo", "get-sum", "trigger-sampling-request", "get-roots-list"} <= tools
        assert text_of(await client.call_tool("echo", {"message": "über 🚀"})) == "Echo: über 🚀"
        assert "42" in text_of(await client.call_tool("get-sum", {"a": 40, "b": 2}))

        resources = (await client.list_resources()).resources
        read = await client.read_resource(resources[0].uri)
        assert read.contents
        templates = await client.list_resource_templates()
        assert templates.resourceTemplates

        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert "simple-prompt" in prompts
        prompt = await client.get_prompt("args-prompt", {"city": "Paris", "state": "TX"})
        assert prompt.messages

        # Progress notifications on the request's own stream.
        result = await client.call_tool(
            "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, progress_callback=on_progress
        )
        assert not result.isError
        assert progress == [1, 2, 3]

        # Server-to-client requests: sampling, elicitation, roots; each answer comes back.
        sampled = await client.call_tool("trigger-sampling-request", {"prompt": "hello"})
        assert "sampled by the test" in text_of(sampled)
        elicited = await client.call_tool("trigger-elicitation-request", {})
        assert "accept" in str(elicited.content).lower()
        roots = await client.call_tool("get-roots-list", {})
        assert "bridge-test" in str(roots.content)

        # Log notifications, delivered out of band.
        await client.set_logging_level("debug")
        await client.call_tool("toggle-simulated-logging", {})
        await eventually(lambda: bool(logs), what="a log notification")
        await client.call_tool("toggle-simulated-logging", {})
        await client.send_ping()
    # The server's stderr is in the bridge's log, tagged with the session.
    assert f"session {session_id} stderr: Starting default (STDIO) server" in caplog.text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_time_server(start_bridge: StartBridge, transport: str) -> None:
    bridge = await start_bridge(TIME)
    async with mcp_client(bridge.url, transport) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"get_current_time", "convert_time"}
        now = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        assert "Europe/Paris" in text_of(now)
        converted = await client.call_tool(
            "convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
        )
        assert "21:00" in text_of(converted)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_concurrent_sessions_are_isolated(start_bridge: StartBridge, transport: str) -> None:
    """Two sessions with identical request ids each get only their own answers, from their own child."""
    bridge = await start_bridge()
    registry = bridge.bridge.registry
    async with mcp_client(bridge.url, transport) as a, mcp_client(bridge.url, transport) as b:
        assert len(registry.sessions) == 2
        pids = {s.backend.child.pid for s in registry.sessions.values()}  # type: ignore[union-attr]
        assert len(pids) == 2

        async def calls(client: Any, tag: str) -> list[str]:
            results = await asyncio.gather(
                *(client.call_tool("echo", {"message": f"{tag}-{i}"}) for i in range(20))
            )
            return [text_of(r) for r in results]

        got_a, got_b = await asyncio.gather(calls(a, "a"), calls(b, "b"))
        assert got_a == [f"Echo: a-{i}" for i in range(20)]
        assert got_b == [f"Echo: b-{i}" for i in range(20)]

        # Logging enabled in one session reaches only that session.
        await a.set_logging_level("debug")
        await a.call_tool("toggle-simulated-logging", {})
        await a.call_tool("toggle-simulated-logging", {})
    await eventually(lambda: not registry.sessions, what="sessions to close")
