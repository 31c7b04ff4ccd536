"""The bridge driven by the official MCP Python SDK 2.x (mcp==2.3.0), which speaks 2026-07-28.

The project's venv pins `mcp` below 2, so SDK 2 lives in its own venv (`make deps` creates
`.cache/venvs/sdk2`) and runs `sdk2_driver.py` in a subprocess that reports what it saw as JSON.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bridge.conftest import EVERYTHING, ROOT, TIME, StartBridge

pytestmark = pytest.mark.bridge

SDK2_PYTHON = ROOT / ".cache" / "venvs" / "sdk2" / "bin" / "python"
DRIVER = Path(__file__).with_name("sdk2_driver.py")
DRIVER_TIMEOUT = 90.0

# These tests found that the bridge forwarded handshake-era results unchanged at 2026-07-28,
# without the resultType every result needs (and ttlMs/cacheScope on cacheable results).


async def drive(url: str, scenario: str) -> dict[str, Any]:
    """Run the SDK 2 driver against `url`; its JSON report, after checking it succeeded."""
    if not SDK2_PYTHON.exists():
        pytest.fail(f"{SDK2_PYTHON.relative_to(ROOT)} is missing: run `make deps` to create the SDK 2 venv")
    proc = await asyncio.create_subprocess_exec(
        str(SDK2_PYTHON),
        "-I",
        "-W",
        "error",
        str(DRIVER),
        url + "/mcp",
        "--scenario",
        scenario,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(DRIVER_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"sdk2_driver --scenario {scenario} did not finish within {DRIVER_TIMEOUT}s")
    assert proc.returncode == 0, f"sdk2_driver failed ({proc.returncode}): {err.decode()}\n{out.decode()}"
    report: dict[str, Any] = json.loads(out)
    assert report["ok"] is True
    assert report["sdk"] == "2.3.0"
    return report


def check_everything(report: dict[str, Any]) -> None:
    assert report["server_info"]["name"] == "mcp-servers/everything"
    assert {"tools", "resources", "prompts"} <= set(report["capabilities"])
    assert "echo" in report["tools"]
    assert report["echo"] == "Echo: hello from sdk2"
    assert report["resource"]["uri"].startswith("demo://")
    assert report["resource"]["contents"] >= 1
    assert report["resource"]["text"]
    assert report["prompt"]["name"] == "simple-prompt"
    assert report["prompt"]["messages"] == [["This is a simple prompt without arguments."]]
    assert report["long_running"].startswith("Long running operation completed")
    assert report["progress"] == [[1, 2], [2, 2]]


def check_time(report: dict[str, Any]) -> None:
    assert report["server_info"]["name"] == "mcp-time"
    assert "get_current_time" in report["tools"]
    assert report["time"]["timezone"] == "UTC"
    assert datetime.fromisoformat(report["time"]["datetime"]).utcoffset() is not None


async def test_sdk2_discovers_stateless_revision(start_bridge: StartBridge) -> None:
    """SDK 2's default connect probes server/discover, which the bridge answers itself."""
    bridge = await start_bridge(EVERYTHING)
    report = await drive(bridge.url, "discover")
    assert report["mode"] == "auto"
    assert report["protocol_version"] == "2026-07-28"
    assert report["server_info"] == {"name": "mcp-servers/everything", "version": "2.0.0"}
    assert {"tools", "resources", "prompts"} <= set(report["capabilities"])


async def test_sdk2_stateless_everything(start_bridge: StartBridge) -> None:
    """(a) The SDK's newest revision, 2026-07-28: tools, echo, a resource, a prompt and progress."""
    bridge = await start_bridge(EVERYTHING)
    report = await drive(bridge.url, "everything")
    assert report["protocol_version"] == "2026-07-28"
    check_everything(report)


async def test_sdk2_session_everything(start_bridge: StartBridge) -> None:
    """(b) The initialize handshake (SDK 2 offers 2025-11-25): the same, plus a sampling request."""
    bridge = await start_bridge(EVERYTHING)
    report = await drive(bridge.url, "everything-session")
    assert report["mode"] == "legacy"
    assert report["protocol_version"] == "2025-11-25"
    check_everything(report)
    assert "trigger-sampling-request" in report["tools"]
    assert "sampled by sdk2" in report["sampling"]


async def test_sdk2_stateless_time(start_bridge: StartBridge) -> None:
    """(c) mcp-server-time at 2026-07-28: list tools and get the current time in UTC."""
    bridge = await start_bridge(TIME)
    report = await drive(bridge.url, "time")
    assert report["protocol_version"] == "2026-07-28"
    check_time(report)


async def test_sdk2_session_time(start_bridge: StartBridge) -> None:
    """(c) mcp-server-time over the initialize handshake (2025-11-25)."""
    bridge = await start_bridge(TIME)
    report = await drive(bridge.url, "time-session")
    assert report["protocol_version"] == "2025-11-25"
    check_time(report)
