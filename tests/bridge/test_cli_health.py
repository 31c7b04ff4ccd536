"""The command line, SIGTERM drain of a real bridge process, and the health endpoints."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable

import httpx
import pytest

from mcp_operator.bridge import cli
from mcp_operator.bridge.config import BridgeConfig
from tests.bridge.conftest import EVERYTHING, TIME, TINY, StartBridge, eventually, init_body, mcp_client

pytestmark = pytest.mark.bridge


async def test_parse_args_defaults_and_options() -> None:
    config, level = cli.parse_args(["--", TIME, "--local-timezone", "UTC"])
    assert config == BridgeConfig(command=(TIME, "--local-timezone", "UTC"), metrics_port=9090)
    assert (config.host, config.port, config.metrics_port, config.path, config.session_mode) == (
        "127.0.0.1",  # standalone, the bridge serves this machine only
        8080,
        9090,
        "/mcp",
        "perSession",
    )
    assert (config.allowed_origins, config.auth_token_file) == ((), None)
    assert level == "info"
    config, level = cli.parse_args(
        [
            "--port=9000",
            "--path",
            "/rpc",
            "--session-mode",
            "shared",
            "--max-sessions",
            "3",
            "--idle-timeout",
            "0",
            "--log-level",
            "debug",
            "--",
            "sh",
        ]
    )
    assert (config.port, config.path, config.session_mode, config.max_sessions, config.idle_timeout) == (
        9000,
        "/rpc",
        "shared",
        3,
        0,
    )
    assert config.command == ("sh",)
    assert level == "debug"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([TIME], "missing '--'"),
        (["--port", "1"], "missing '--'"),
        (["--"], "no MCP server command"),
        (["--path", "mcp", "--", TIME], "--path must start with '/'"),
        (["--max-sessions", "0", "--", TIME], "--max-sessions must be at least 1"),
        (["--idle-timeout", "-1", "--", TIME], "must be >= 0"),
        (["--session-mode", "pooled", "--", TIME], "invalid choice"),
    ],
)
async def test_user_errors_say_what_to_fix(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["no-such-mcp-server-xyz", "/nonexistent/server"])
async def test_a_missing_command_has_an_exit_code_of_its_own(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit code 4, not argparse's 2: the operator reads it as "the package's entrypoint is missing"
    and reinstalls the package once (self-healing)."""
    assert cli.main(["--", command]) == 4
    assert "command not found or not executable" in capsys.readouterr().err


async def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--session-mode" in out
    assert "-- COMMAND" in out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_process_drains_on_sigterm() -> None:
    port, metrics_port = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_operator",
        "bridge",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--drain-grace",
        "10",
        "--",
        *TINY,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not await healthy():
                assert loop.time() < deadline, "the bridge did not start"
                assert proc.returncode is None
                await asyncio.sleep(0.05)

            response = await http.post("/mcp", json=init_body(), headers={"Accept": "application/json"})
            headers = {"Accept": "application/json", "Mcp-Session-Id": response.headers["Mcp-Session-Id"]}
            pid_call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "pid"}}
            child_pid = int(
                (await http.post("/mcp", json=pid_call, headers=headers)).json()["result"]["content"][0][
                    "text"
                ]
            )
            sleep = {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "sleep", "arguments": {"seconds": 0.5}},
            }
            slow = asyncio.create_task(http.post("/mcp", json=sleep, headers=headers))
            deadline = loop.time() + 30
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            while "mcp_bridge_requests_in_flight 1.0" not in (await http.get(metrics_url)).text:
                assert loop.time() < deadline, "the request never reached the bridge"
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            reply = await slow
            assert reply.json()["result"]["content"][0]["text"] == "slept"
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        with pytest.raises(ProcessLookupError):
            os.kill(child_pid, 0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        assert proc.stderr is not None
        log = (await proc.stderr.read()).decode()
    assert "draining" in log
    assert "stderr" not in log or "session" in log


async def until_answer(
    http: httpx.AsyncClient, done: Callable[[httpx.Response], bool], timeout: float = 30
) -> httpx.Response:
    """/readyz until `done` holds: a check that takes longer than a probe answers "starting"."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await http.get("/readyz")
        if done(response):
            return response
        assert asyncio.get_running_loop().time() < deadline, f"/readyz still says {response.text!r}"
        await asyncio.sleep(0.1)


async def test_health_ready_and_metrics(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(EVERYTHING)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        assert (await http.get("/healthz")).text == "ok\n"
        ready = await until_answer(http, lambda r: r.status_code == 200)
        assert "everything" in ready.text
        assert (await http.get("/readyz")).text == ready.text  # cached
        async with mcp_client(bridge.url) as client:
            await client.list_tools()
            await client.call_tool("echo", {"message": "m"})
        metrics = (await http.get(f"{bridge.metrics_url}/metrics")).text
    assert 'mcp_bridge_requests_total{method="tools/call",outcome="ok"} 1.0' in metrics
    assert 'mcp_bridge_request_duration_seconds_count{method="tools/list"} 1.0' in metrics
    assert 'mcp_bridge_sessions_opened_total{transport="streamable"} 1.0' in metrics
    assert 'mcp_bridge_sessions{transport="streamable"} 0.0' in metrics
    assert 'mcp_bridge_child_starts_total{purpose="readiness"} 1.0' in metrics
    assert 'mcp_bridge_child_starts_total{purpose="session"} 1.0' in metrics


@pytest.mark.parametrize(
    ("command", "detail"),
    [(("/bin/false",), "did not answer"), (("/nonexistent/mcp",), "cannot start")],
)
async def test_not_ready_when_the_server_cannot_start(
    start_bridge: StartBridge, command: tuple[str, ...], detail: str
) -> None:
    bridge = await start_bridge(command, startup_timeout=5)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        ready = await until_answer(http, lambda r: "starting" not in r.text)
        assert ready.status_code == 503
        assert detail in ready.text
        failed = await http.post("/mcp", json=init_body(), headers={"Accept": "application/json"})
        stateless = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json", "MCP-Protocol-Version": "2026-07-28"},
        )
        assert stateless.status_code == 502
        sse = await http.get("/sse")
    if command[0] == "/nonexistent/mcp":
        assert failed.status_code == 502
        assert sse.status_code == 502
    else:
        assert failed.json()["error"]["code"] == -32000
    await eventually(lambda: not bridge.bridge.registry.sessions, what="the failed session to end")


async def test_serve_until_stopped(caplog: pytest.LogCaptureFixture) -> None:
    from mcp_operator.bridge.server import serve

    caplog.set_level("INFO", logger="mcp_operator.bridge")
    stop = asyncio.Event()
    config = BridgeConfig(command=TINY, port=0)
    task = asyncio.create_task(serve(config, stop))
    await eventually(lambda: "bridge listening" in caplog.text, what="the bridge to listen")
    stop.set()
    await task
    assert "bridge stopped" in caplog.text


async def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code = await asyncio.to_thread(cli.main, ["--host", "127.0.0.1", "--port", str(port), "--", *TINY])
    assert code == 1
    assert "cannot listen" in capsys.readouterr().err
