"""Child processes: crashes, timeouts, idle reaping, drain, and no leaks after 1,000 sessions."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest
from mcp.shared.exceptions import McpError

from tests.bridge.conftest import TINY, StartBridge, eventually, init_body, mcp_client, text_of

pytestmark = pytest.mark.bridge

ACCEPT = {"Accept": "application/json"}


async def open_session(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post("/mcp", json=init_body(), headers=ACCEPT)
    assert response.status_code == 200, response.text
    return {**ACCEPT, "Mcp-Session-Id": response.headers["Mcp-Session-Id"]}


def call(name: str, request_id: int = 1, **arguments: object) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of the processes whose parent is `pid`, zombies included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append((int(entry.name), fields[0]))
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_child_exit_fails_in_flight_and_ends_only_that_session(start_bridge: StartBridge) -> None:
    bridge = await start_bridge()
    registry = bridge.bridge.registry
    async with mcp_client(bridge.url) as a, mcp_client(bridge.url) as b:
        long_call = asyncio.create_task(
            a.call_tool("trigger-long-running-operation", {"duration": 30, "steps": 1})
        )
        await eventually(
            lambda: any(s.pending for s in registry.sessions.values()), what="the call in flight"
        )
        busy = next(s for s in registry.sessions.values() if s.pending)
        pid = busy.backend.child.pid  # type: ignore[union-attr]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(McpError, match="exited"):
            await long_call
        await eventually(lambda: busy.id not in registry.sessions, what="the session to end")
        assert len(registry.sessions) == 1
        # The other session is untouched.
        assert text_of(await b.call_tool("echo", {"message": "still here"})) == "Echo: still here"
    metrics = bridge.bridge.metrics.render().decode()
    assert 'mcp_bridge_child_exits_total{purpose="session",reason="exited"} 1.0' in metrics
    assert 'outcome="child_exit"' in metrics


async def test_child_exit_over_plain_http(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        first, second = await open_session(http), await open_session(http)
        reply = (await http.post("/mcp", json=call("exit", code=7), headers=first)).json()
        assert reply["error"]["code"] == -32000
        assert "code 7" in reply["error"]["message"]
        await eventually(lambda: first["Mcp-Session-Id"] not in bridge.bridge.registry.sessions)
        assert (await http.post("/mcp", json=call("echo", text="x"), headers=first)).status_code == 404
        ok = (await http.post("/mcp", json=call("echo", text="fine"), headers=second)).json()
        assert ok["result"]["content"][0]["text"] == "fine"


async def test_request_timeout(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(request_timeout=0.3)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        headers = await open_session(http)
        slow = call("trigger-long-running-operation", duration=1, steps=1)
        reply = (await http.post("/mcp", json=slow, headers=headers)).json()
        assert "error" in reply, reply
        assert reply["error"]["code"] == -32001
        assert "did not answer" in reply["error"]["message"]
        # Until the server answers, the id stays reserved so a late answer cannot be mistaken.
        again = (await http.post("/mcp", json=call("echo", message="reuse"), headers=headers)).json()
        assert "in flight" in again["error"]["message"]
        # The request was cancelled at the server; the session keeps working.
        ok = (await http.post("/mcp", json=call("echo", 2, message="after"), headers=headers)).json()
        assert ok["result"]["content"][0]["text"] == "Echo: after"


async def test_idle_sessions_are_reaped(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, idle_timeout=0.3)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        headers = await open_session(http)
        session = bridge.bridge.registry.get(headers["Mcp-Session-Id"])
        assert session is not None
        pid = session.backend.child.pid  # type: ignore[union-attr]
        await eventually(lambda: not bridge.bridge.registry.sessions, what="the idle session to be reaped")
        assert (await http.post("/mcp", json=call("echo"), headers=headers)).status_code == 404
        await eventually(
            lambda: pid not in [p for p, _ in children_of(os.getpid())], what="the child to exit"
        )


async def test_drain_finishes_in_flight_requests_and_refuses_new_sessions(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        headers = await open_session(http)
        # Long enough that the checks below run while it is still in flight, even on a busy machine.
        slow = asyncio.create_task(http.post("/mcp", json=call("sleep", seconds=3), headers=headers))
        await eventually(lambda: bridge.bridge.registry.in_flight == 1, what="the request in flight")
        stopping = asyncio.create_task(bridge.stop(grace=10))
        await eventually(lambda: bridge.bridge.registry.draining, what="draining")
        refused = await http.post("/mcp", json=init_body(), headers=ACCEPT)
        assert refused.status_code == 503
        assert (await http.get("/readyz")).status_code == 503
        reply = (await slow).json()
        assert reply["result"]["content"][0]["text"] == "slept"
        await stopping
    assert not [p for p, _ in children_of(os.getpid())]


async def test_drain_grace_expires(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        headers = await open_session(http)
        slow = asyncio.create_task(http.post("/mcp", json=call("sleep", seconds=30), headers=headers))
        await eventually(lambda: bridge.bridge.registry.in_flight == 1, what="the request in flight")
        await bridge.stop(grace=0.2)
        reply = (await slow).json()
        assert "shutting down" in reply["error"]["message"]
    assert not children_of(os.getpid())


async def test_no_leaks_after_1000_sessions(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, max_sessions=50)
    me = os.getpid()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:

        async def one_session() -> None:
            headers = await open_session(http)
            reply = (await http.post("/mcp", json=call("echo", text="x"), headers=headers)).json()
            assert reply["result"]["content"][0]["text"] == "x"
            assert (await http.delete("/mcp", headers=headers)).status_code == 200

        async def worker(n: int) -> None:
            for _ in range(n):
                await one_session()

        # Warm up with the same concurrency (8 pooled connections), then take the baseline.
        await asyncio.gather(*(worker(1) for _ in range(8)))
        await eventually(lambda: not children_of(me), what="the warm-up children to exit")
        fds_before = open_fds()

        await asyncio.gather(*(worker(125) for _ in range(8)))
        assert not bridge.bridge.registry.sessions
        await eventually(lambda: not children_of(me), what="all children (and zombies) to be gone")
        await eventually(
            lambda: open_fds() <= fds_before, what=f"fds back to {fds_before} (now {open_fds()})"
        )
    text = bridge.bridge.metrics.render().decode()
    assert 'mcp_bridge_child_starts_total{purpose="session"} 1008.0' in text
    assert 'mcp_bridge_child_exits_total{purpose="session",reason="stopped"} 1008.0' in text


@pytest.mark.parametrize("mode", ["perSession", "shared"])
async def test_client_leaving_during_initialize_leaves_no_child(start_bridge: StartBridge, mode: str) -> None:
    """A client that gives up while a slow server starts must not leave an orphaned session."""
    slow_start = (
        TINY[0],
        "-I",
        "-S",
        "-c",
        "import runpy, sys, time; time.sleep(0.6); sys.argv = ['tiny']; "
        f"runpy.run_path({TINY[-1]!r}, run_name='__main__')",
    )
    bridge = await start_bridge(slow_start, session_mode=mode)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                "/mcp", json=init_body(), headers={"Accept": "application/json, text/event-stream"}
            )
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/sse")
    registry = bridge.bridge.registry
    await eventually(
        lambda: not registry.sessions and not registry._opening, what="the sessions to be discarded"
    )
    if mode == "perSession":
        await eventually(lambda: not children_of(os.getpid()), what="the children to exit")


async def test_a_stop_cancelled_as_the_child_exits_stays_cancelled() -> None:
    """The session reaper is cancelled at shutdown while it stops an idle child. If the child exits
    in the same loop iteration, asyncio.wait_for on Python 3.11 returned normally and the
    cancellation was lost: the reaper ran on and shutdown waited for it forever (a CI hang)."""
    from mcp_operator.bridge.child import Child

    stopping: asyncio.Task[None] | None = None

    def cancel_the_stopper(child: Child, code: int | None, reason: str) -> None:
        # Runs right after the child's exit is signalled, before the stopper has resumed.
        assert stopping is not None
        stopping.cancel()

    child = Child(["cat"], label="race", on_message=lambda _: None, on_exit=cancel_the_stopper, max_line=1024)
    await child.start()
    stopping = asyncio.create_task(child.stop(grace=5))
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await stopping
    assert child.returncode == 0
