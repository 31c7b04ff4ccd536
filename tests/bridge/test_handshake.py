"""The operator's handshake client (mcp_operator/handshake.py) against real servers: the bridge in
front of server-everything, and servers that speak HTTP themselves through the official Python SDK
(FastMCP: Streamable HTTP answering with event streams or JSON, and the legacy SSE transport).
It must read serverInfo and the tools from each, and leave no session behind."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mcp_operator.handshake import handshake
from mcp_operator.render.mcp_answers import Failure
from tests.bridge.conftest import TINY, StartBridge, eventually
from tests.fixtures.processes import end
from tests.fixtures.registries import free_port

pytestmark = pytest.mark.bridge

NATIVE = """
import sys
from mcp.server.fastmcp import FastMCP

port, transport, json_response = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "json"
server = FastMCP("native-test", host="127.0.0.1", port=port, json_response=json_response, log_level="WARNING")

@server.tool()
def echo(text: str) -> str:
    return text

@server.tool()
def add(a: int, b: int) -> int:
    return a + b

server.run(transport=transport)
"""


class Recording(httpx.AsyncBaseTransport):
    """A real transport that remembers the requests, to reuse the session id they carried."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def session(self) -> str:
        ids = {r.headers["mcp-session-id"] for r in self.requests if "mcp-session-id" in r.headers}
        assert len(ids) == 1, ids
        return ids.pop()


async def check_ended(url: str, session: str) -> None:
    """The session is gone on the server: a request that names it is answered 404."""
    call = {"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}}
    headers = {"Mcp-Session-Id": session, "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(url, json=call, headers=headers)
    assert answer.status_code == 404, answer.text


@pytest.mark.parametrize("path", ["/mcp", "/sse"], ids=["streamable-http", "legacy-sse"])
async def test_the_bridge_in_front_of_server_everything(start_bridge: StartBridge, path: str) -> None:
    bridge = await start_bridge()
    recording = Recording()
    # As in a cluster: the URL names the Service, the connection goes to its address.
    url = f"http://everything.team-a.svc:{bridge.port}{path}"
    found = await handshake(url, address="127.0.0.1", legacy=path == "/sse", transport=recording)
    assert found.introduction.name == "mcp-servers/everything"
    assert found.introduction.version
    assert found.introduction.protocol_version == "2025-11-25"
    assert {"tools", "prompts", "resources"} <= set(found.introduction.capabilities)
    assert {"echo", "get-sum"} <= set(found.tools)
    assert found.tool_count == len(found.tools)
    assert all(r.headers["host"] == f"everything.team-a.svc:{bridge.port}" for r in recording.requests)
    if path == "/mcp":
        assert recording.requests[-1].method == "DELETE"
        await check_ended(f"{bridge.url}/mcp", recording.session())
    await eventually(lambda: not bridge.bridge.registry.sessions, what="the handshake's session to end")


async def test_the_bridge_in_front_of_a_small_stdio_server(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    found = await handshake(f"{bridge.url}/mcp")
    assert (found.introduction.name, found.introduction.version) == ("tiny", "1.0")
    assert found.tools == ("echo", "sleep", "exit", "pid", "big")
    await eventually(lambda: not bridge.bridge.registry.sessions, what="the handshake's session to end")


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listened on port {port} within {timeout}s"
        time.sleep(0.05)


@pytest.fixture
def native(tmp_path: Path) -> Iterator[Callable[[str, str], str]]:
    """Start FastMCP servers in subprocesses on free ports; their base URLs; stopped at teardown."""
    processes: list[subprocess.Popen[bytes]] = []
    script = tmp_path / "native.py"
    script.write_text(NATIVE)

    def start(transport: str, answers: str = "events") -> str:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(script), str(port), transport, answers],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        wait_for_port(port, process)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        end(process, grace=10)


@pytest.mark.parametrize("answers", ["events", "json"])
async def test_a_native_streamable_http_server(native: Callable[[str, str], str], answers: str) -> None:
    base = native("streamable-http", answers)
    recording = Recording()
    found = await handshake(f"{base}/mcp", transport=recording)
    assert found.introduction.name == "native-test"
    assert found.introduction.version
    assert found.introduction.protocol_version == "2025-11-25"
    assert "tools" in found.introduction.capabilities
    assert found.tools == ("echo", "add")
    assert found.tool_count == 2
    assert recording.requests[-1].method == "DELETE"
    await check_ended(f"{base}/mcp", recording.session())


async def test_a_native_legacy_sse_server(native: Callable[[str, str], str]) -> None:
    base = native("sse")
    found = await handshake(f"{base}/sse", legacy=True)
    assert found.introduction.name == "native-test"
    assert found.tools == ("echo", "add")


async def test_a_server_that_is_not_there_is_unreachable() -> None:
    with pytest.raises(Failure) as caught:
        await handshake(f"http://127.0.0.1:{free_port()}/mcp", within=5)
    assert caught.value.reason == "ServerUnreachable"


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    """A TCP server that accepts and never answers."""
    writers: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda _, writer: writers.append(writer), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_accepts_and_says_nothing_times_out(silent: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Failure) as caught:
        await handshake(silent, within=0.5)
    assert caught.value.reason == "HandshakeTimeout"
    assert loop.time() - started < 3
