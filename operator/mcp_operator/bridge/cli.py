"""`mcp-operator bridge [OPTIONS] -- COMMAND [ARGS...]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from mcp_operator.bridge.config import BridgeConfig

USAGE = "mcp-operator bridge [OPTIONS] -- COMMAND [ARGS...]"


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    d = BridgeConfig(command=("x",))
    p = argparse.ArgumentParser(
        prog="mcp-operator bridge",
        usage=USAGE,
        description="Serve a stdio MCP server over Streamable HTTP (and legacy SSE).",
        epilog="example: mcp-operator bridge --port 8080 -- npx -y @modelcontextprotocol/server-everything",
    )
    p.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host})")
    p.add_argument("--port", type=int, default=d.port, help=f"port to listen on (default {d.port})")
    p.add_argument("--path", default=d.path, help=f"Streamable HTTP endpoint path (default {d.path})")
    p.add_argument(
        "--session-mode",
        choices=["perSession", "shared"],
        default=d.session_mode,
        help="perSession: one child process per MCP session (default); shared: one child for all",
    )
    p.add_argument("--max-sessions", type=_positive(int), default=d.max_sessions, help="default %(default)s")
    p.add_argument(
        "--max-message-bytes", type=_positive(int), default=d.max_message_bytes, help="default %(default)s"
    )
    p.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=d.idle_timeout,
        help="seconds; 0 disables (default %(default)s)",
    )
    p.add_argument(
        "--request-timeout",
        type=_positive(float),
        default=d.request_timeout,
        help="seconds; 0 disables (default %(default)s)",
    )
    p.add_argument(
        "--drain-grace", type=_positive(float), default=d.drain_grace, help="seconds (default %(default)s)"
    )
    p.add_argument(
        "--startup-timeout",
        type=_positive(float),
        default=d.startup_timeout,
        help="seconds (default %(default)s)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def resolve(command: str) -> str | None:
    if os.sep in command:
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    return shutil.which(command)


def parse_args(argv: Sequence[str]) -> tuple[BridgeConfig, str]:
    """Parse the bridge's argv; exits with status 2 and a message saying what to fix on errors."""
    args = list(argv)
    parser = build_parser()
    if "--" not in args:
        if any(a in {"-h", "--help"} for a in args):
            parser.print_help()
            raise SystemExit(0)
        parser.error(
            "missing '--' before the MCP server command, e.g. mcp-operator bridge -- mcp-server-time"
        )
    split = args.index("--")
    options, command = args[:split], args[split + 1 :]
    ns = parser.parse_args(options)
    if not command:
        parser.error("no MCP server command after '--', e.g. mcp-operator bridge -- mcp-server-time")
    if resolve(command[0]) is None:
        # Its own exit code, so the operator can tell a missing entrypoint from a crash (self-healing).
        message = (
            f"command not found or not executable: {command[0]!r}; install it or give its full path "
            "(the bridge runs it directly, without a shell)"
        )
        from mcp_operator.bridge.server import EXIT_COMMAND_NOT_FOUND, write_termination_message

        write_termination_message(message)
        parser.exit(EXIT_COMMAND_NOT_FOUND, f"{parser.prog}: error: {message}\n")
    if not ns.path.startswith("/"):
        parser.error(f"--path must start with '/', got {ns.path!r}")
    if ns.max_sessions < 1:
        parser.error("--max-sessions must be at least 1")
    return BridgeConfig(
        command=tuple(command),
        host=ns.host,
        port=ns.port,
        path=ns.path,
        session_mode=ns.session_mode,
        max_sessions=int(ns.max_sessions),
        max_message_bytes=int(ns.max_message_bytes),
        idle_timeout=ns.idle_timeout,
        request_timeout=ns.request_timeout,
        drain_grace=ns.drain_grace,
        startup_timeout=ns.startup_timeout,
    ), ns.log_level


def run(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (a third less event-loop overhead), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str]) -> int:
    try:
        config, level = parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from mcp_operator.bridge.server import serve

    try:
        return run(serve(config))
    except OSError as exc:
        print(f"mcp-operator bridge: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
