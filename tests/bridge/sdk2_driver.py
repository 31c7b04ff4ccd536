"""Drive a bridge with the official MCP Python SDK 2.x (`mcp==2.3.0`) and report what it saw.

Run with the SDK 2 venv that `make deps` creates (the project's venv pins `mcp` below 2):

    .cache/venvs/sdk2/bin/python tests/bridge/sdk2_driver.py http://127.0.0.1:PORT/mcp --scenario NAME

Prints one JSON object on stdout. Exit status 0 when every step of the scenario worked; otherwise 1,
with `"ok": false`, the step that failed and the error in the JSON (what was observed before it is
kept) and a one-line message on stderr. Only the SDK's client API is used:

* `mcp.Client(url, mode="auto")` (the default) probes `server/discover` at the SDK's newest
  revision (2026-07-28) and runs stateless; it falls back to `initialize` only if that fails.
* `mcp.Client(url, mode="legacy")` runs the `initialize` handshake; SDK 2.3.0 always offers its
  newest handshake revision, 2025-11-25 (`mode` takes no other handshake version).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

import anyio
import mcp_types as types
from mcp import Client

SCENARIOS = {
    # name: (Client mode, steps)
    "discover": ("auto", ("connect",)),
    "everything": ("auto", ("connect", "tools", "echo", "resource", "prompt", "progress")),
    "everything-session": (
        "legacy",
        ("connect", "tools", "echo", "resource", "prompt", "progress", "sampling"),
    ),
    "time": ("auto", ("connect", "tools", "time")),
    "time-session": ("legacy", ("connect", "tools", "time")),
}
TIMEOUT = 60.0


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="sampled by sdk2"),
        model="sdk2-test-model",
    )


def texts(blocks: Any) -> list[str]:
    return [block.text for block in blocks if isinstance(block, types.TextContent)]


def tool_text(result: types.CallToolResult) -> str:
    if result.is_error:
        raise RuntimeError(f"the tool answered with an error: {texts(result.content)}")
    return "".join(texts(result.content))


async def run(url: str, scenario: str, seen: dict[str, Any]) -> None:
    mode, steps = SCENARIOS[scenario]
    seen["mode"] = mode
    progress: list[list[float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append([value, total])

    async with Client(url, mode=mode, read_timeout_seconds=30, sampling_callback=sampling) as client:

        async def connect() -> None:
            info = client.server_info
            seen["protocol_version"] = client.protocol_version
            seen["server_info"] = None if info is None else {"name": info.name, "version": info.version}
            caps = client.server_capabilities.model_dump(exclude_none=True)
            seen["capabilities"] = sorted(caps)

        async def tools() -> None:
            listed = await client.list_tools()
            seen["tools"] = [tool.name for tool in listed.tools]

        async def echo() -> None:
            if "echo" not in seen["tools"]:
                raise RuntimeError(f"no echo tool in {seen['tools']}")
            seen["echo"] = tool_text(await client.call_tool("echo", {"message": "hello from sdk2"}))

        async def resource() -> None:
            listed = await client.list_resources()
            if not listed.resources:
                raise RuntimeError("resources/list returned no resources")
            uri = str(listed.resources[0].uri)
            read = await client.read_resource(uri)
            first = read.contents[0]
            text = first.text if isinstance(first, types.TextResourceContents) else None
            seen["resource"] = {"uri": uri, "contents": len(read.contents), "text": text}

        async def prompt() -> None:
            listed = await client.list_prompts()
            plain = [p.name for p in listed.prompts if not any(a.required for a in p.arguments or [])]
            if not plain:
                raise RuntimeError(f"no prompt without required arguments in {listed.prompts}")
            got = await client.get_prompt(plain[0])
            seen["prompt"] = {"name": plain[0], "messages": [texts([m.content]) for m in got.messages]}

        async def progress_step() -> None:
            args = {"duration": 0.2, "steps": 2}
            name = "trigger-long-running-operation"
            result = await client.call_tool(name, args, progress_callback=on_progress)
            seen["long_running"] = tool_text(result)

        async def sampling_step() -> None:
            result = await client.call_tool("trigger-sampling-request", {"prompt": "hi", "maxTokens": 10})
            seen["sampling"] = tool_text(result)

        async def time() -> None:
            if "get_current_time" not in seen["tools"]:
                raise RuntimeError(f"no get_current_time tool in {seen['tools']}")
            text = tool_text(await client.call_tool("get_current_time", {"timezone": "UTC"}))
            seen["time"] = json.loads(text)

        actions: dict[str, Callable[[], Awaitable[None]]] = {
            "connect": connect,
            "tools": tools,
            "echo": echo,
            "resource": resource,
            "prompt": prompt,
            "progress": progress_step,
            "sampling": sampling_step,
            "time": time,
        }
        try:
            for step in steps:
                seen["step"] = step
                await actions[step]()
        finally:
            if "progress" in steps:
                seen["progress"] = progress
    del seen["step"]


def describe(exc: BaseException) -> str:
    """The innermost errors of an exception group (task groups wrap what the SDK raises)."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}".replace("\n", " | ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the bridge's Streamable HTTP endpoint, e.g. http://127.0.0.1:8080/mcp")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = parser.parse_args()
    seen: dict[str, Any] = {"scenario": args.scenario, "sdk": version("mcp")}

    async def bounded() -> None:
        with anyio.fail_after(TIMEOUT):
            await run(args.url, args.scenario, seen)

    try:
        anyio.run(bounded)
    except Exception as exc:  # report any failure as data; the exit status says it failed
        seen["ok"] = False
        seen["error"] = describe(exc)
        print(json.dumps(seen))
        failed = f"sdk2_driver: scenario {args.scenario} failed at {seen.get('step')}: {seen['error']}"
        print(failed, file=sys.stderr)
        return 1
    seen["ok"] = True
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
