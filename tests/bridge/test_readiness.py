"""/readyz for real servers: slow starts, probes that time out, and stopping with a check in flight.

A kubelet probe that times out cancels its request. The readiness check must neither die with it
(leaving its child behind) nor start again on every probe."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from mcp_operator.render.deployment import probes
from tests.bridge.conftest import TINY, StartBridge, eventually
from tests.fixtures.registries import free_port

pytestmark = pytest.mark.bridge


def slow_tiny(delay: float) -> tuple[tuple[str, ...], str]:
    """The tiny server starting `delay` seconds late, with a marker to find its processes by."""
    marker = f"--marker={uuid.uuid4().hex}"
    return ("/usr/bin/env", f"TINY_START_DELAY={delay}", *TINY, marker), marker


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        # The bridge's own command line names the server too: count only the server processes.
        if marker.encode() in cmdline and b"mcp_operator" not in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def eventually_none(marker: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while processes_with(marker):
        assert asyncio.get_running_loop().time() < deadline, f"children left behind: {processes_with(marker)}"
        await asyncio.sleep(0.05)


async def test_a_slow_server_becomes_ready_through_timed_out_probes(start_bridge: StartBridge) -> None:
    command, marker = slow_tiny(2.0)
    bridge = await start_bridge(command, startup_timeout=20)
    most = 0
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            try:
                # Like a kubelet with timeoutSeconds well under the server's start time.
                response = await http.get("/readyz", timeout=0.2)
            except httpx.TimeoutException:
                response = None
            most = max(most, len(processes_with(marker)))
            if response is not None and response.status_code == 200:
                break
            assert asyncio.get_running_loop().time() < deadline, "never ready"
            await asyncio.sleep(0.1)
    assert "tiny" in response.text
    assert most <= 1, f"{most} readiness children at once"
    assert bridge.bridge.probe.checks == 1
    await eventually_none(marker)  # the check stopped its child once it had its answer


async def test_an_answer_within_the_probe_timeout_while_still_starting(start_bridge: StartBridge) -> None:
    command, _ = slow_tiny(5.0)
    bridge = await start_bridge(command, startup_timeout=20)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=5) as http:
        started = asyncio.get_running_loop().time()
        response = await http.get("/readyz")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 503
    assert "starting" in response.text
    timeout = probes("stdio", "/mcp")["readinessProbe"]["timeoutSeconds"]
    assert elapsed < timeout  # the probe the operator renders gets an answer, not a timeout


async def test_a_server_that_starts_within_the_probe_timeout_is_ready_at_the_first_probe(
    start_bridge: StartBridge,
) -> None:
    """A server that needs a second to start is Ready at the kubelet's first probe: the probe
    waits for the check (within its timeout) instead of coming back 5 s later."""
    command, _ = slow_tiny(1.0)
    bridge = await start_bridge(command, startup_timeout=20)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=5) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert bridge.bridge.probe.checks == 1


async def test_stopping_with_a_check_in_flight_leaves_no_child(start_bridge: StartBridge) -> None:
    command, marker = slow_tiny(30.0)
    bridge = await start_bridge(command, startup_timeout=60)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=5) as http:
        assert (await http.get("/readyz")).status_code == 503
    assert len(processes_with(marker)) == 1
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bridge.stop(grace=2)
    assert loop.time() - started < 10
    await eventually_none(marker)


async def test_sigterm_ends_the_bridge_within_its_grace_after_cancelled_probes() -> None:
    command, marker = slow_tiny(30.0)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mcp_operator", "bridge", "--host", "127.0.0.1", "--port", str(port),
        "--drain-grace", "3", "--startup-timeout", "60", "--", *command,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            answered = 0
            while answered < 5:
                try:
                    await http.get("/readyz", timeout=0.1)
                    answered += 1
                except httpx.TimeoutException:
                    answered += 1  # a probe the kubelet gave up on
                except httpx.TransportError:
                    assert loop.time() < deadline, "the bridge did not start"
                await asyncio.sleep(0.05)
        assert len(processes_with(marker)) == 1
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
        await eventually_none(marker)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


CRASHING = (
    sys.executable,
    "-c",
    "import sys; print('unknown time zone: Not/AZone', file=sys.stderr); sys.exit(7)",
)


async def test_a_server_that_dies_before_answering_ends_the_bridge_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing will make such a server ready without a change: the bridge ends (the kubelet then
    restarts it and reports CrashLoopBackOff) and leaves the reason where the kubelet reads it."""
    from mcp_operator.bridge import server as bridge_server
    from mcp_operator.bridge.config import BridgeConfig

    log = tmp_path / "termination-log"
    log.write_text("")
    monkeypatch.setattr(bridge_server, "TERMINATION_LOG", log)
    port = free_port()
    config = BridgeConfig(command=CRASHING, host="127.0.0.1", port=port, drain_grace=1)
    serving = asyncio.create_task(bridge_server.serve(config, asyncio.Event()))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
        deadline = asyncio.get_running_loop().time() + 20
        while not serving.done():
            try:
                response = await http.get("/readyz")
                assert response.status_code == 503
            except httpx.TransportError:
                pass
            assert asyncio.get_running_loop().time() < deadline, "the bridge kept running"
            await asyncio.sleep(0.05)
    assert serving.result() == bridge_server.EXIT_SERVER_CRASHED
    said = log.read_text()
    assert "exited with code 7 before answering initialize" in said
    assert "unknown time zone: Not/AZone" in said


async def test_serve_checks_at_start_before_any_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What pods run (serve) starts the first readiness check with the bridge: a crash at start ends
    it without any request, and a good server's first /readyz answers from a verdict already made."""
    from mcp_operator.bridge import server as bridge_server
    from mcp_operator.bridge.config import BridgeConfig

    log = tmp_path / "termination-log"
    log.write_text("")
    monkeypatch.setattr(bridge_server, "TERMINATION_LOG", log)
    config = BridgeConfig(command=CRASHING, host="127.0.0.1", port=free_port(), drain_grace=1)
    async with asyncio.timeout(20):  # no request at all: the check at start finds the crash
        assert await bridge_server.serve(config, asyncio.Event()) == bridge_server.EXIT_SERVER_CRASHED
    assert "exited with code 7 before answering initialize" in log.read_text()

    started: list[bridge_server.BridgeServer] = []
    original = bridge_server.BridgeServer.start

    async def recorded(self: bridge_server.BridgeServer) -> None:
        started.append(self)
        await original(self)

    monkeypatch.setattr(bridge_server.BridgeServer, "start", recorded)
    stop = asyncio.Event()
    config = BridgeConfig(command=TINY, host="127.0.0.1", port=free_port(), drain_grace=1)
    serving = asyncio.create_task(bridge_server.serve(config, stop))
    try:
        await eventually(lambda: bool(started) and started[0].bridge.probe.ever_ready, what="a verdict")
        assert started[0].bridge.probe.checks == 1  # made before anyone asked
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{config.port}", timeout=5) as http:
            response = await http.get("/readyz")
        assert response.status_code == 200
        assert started[0].bridge.probe.checks == 1  # the cached verdict answered
    finally:
        stop.set()
        assert await serving == 0


async def test_a_server_that_was_ready_once_does_not_end_the_bridge_when_a_check_fails(
    start_bridge: StartBridge, tmp_path: Path
) -> None:
    """Once ready, a failing check only makes the pod unready: sessions in flight keep their server."""
    flag = tmp_path / "broken"
    script = (
        "import os, runpy, sys\n"
        f"if os.path.exists({str(flag)!r}): sys.exit(5)\n"
        f"sys.argv = [{TINY[-1]!r}]\n"
        f"runpy.run_path({TINY[-1]!r}, run_name='__main__')\n"
    )
    bridge = await start_bridge((sys.executable, "-c", script), startup_timeout=20)
    probe = bridge.bridge.probe
    crashed: list[str] = []
    probe.on_crash = crashed.append
    assert (await probe.check(wait=20))[0] is True
    flag.write_text("")
    probe._expires = 0.0  # the cached verdict is stale: the next request checks again
    ok, why = await probe.check(wait=20)
    assert not ok
    assert "exited with code 5" in why
    assert crashed == []
