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

from mcp_operator.bridge.config import DEFAULT_METRICS_PORT, BridgeConfig
from mcp_operator.bridge.security import OriginError, OriginPolicy, TokenError, read_token

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
    p.add_argument(
        "--host",
        default=d.host,
        help=f"address to listen on (default {d.host}: this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument("--port", type=_port, default=d.port, help=f"port to listen on (default {d.port})")
    p.add_argument(
        "--metrics-port",
        type=_port,
        default=DEFAULT_METRICS_PORT,
        help="port of the Prometheus /metrics listener, on the same host; 0 disables (default %(default)s)",
    )
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
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an Origin browsers may call from besides the same origin, like https://app.example, "
        "http://localhost:* or '*'; repeat it or separate with commas (default: the same origin only)",
    )
    p.add_argument(
        "--auth-token-file",
        metavar="PATH",
        help="require 'Authorization: Bearer <token>' on the MCP endpoints, with the token in this file "
        "(read again when it changes); /healthz and /readyz stay open",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {text}")
    return value


def _origins(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


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
    if not ns.path.startswith("/"):
        parser.error(f"--path must start with '/', got {ns.path!r}")
    if ns.max_sessions < 1:
        parser.error("--max-sessions must be at least 1")
    if ns.metrics_port and ns.metrics_port == ns.port:
        parser.error(f"--metrics-port must differ from --port (both {ns.port}); or 0 to serve no metrics")
    origins = _origins(ns.allow_origin)
    try:
        OriginPolicy(origins, loopback=False)
    except OriginError as exc:
        parser.error(f"--allow-origin: {exc}")
    if ns.auth_token_file is not None:
        try:
            read_token(ns.auth_token_file)
        except TokenError as exc:
            # Its own exit code: a bridge told to require a token never serves without one.
            from mcp_operator.bridge.server import EXIT_AUTH_TOKEN, write_termination_message

            write_termination_message(str(exc))
            parser.exit(EXIT_AUTH_TOKEN, f"{parser.prog}: error: {exc}\n")
    if resolve(command[0]) is None:
        # Its own exit code, so the operator can tell a missing entrypoint from a crash (self-healing).
        message = (
            f"command not found or not executable: {command[0]!r}; install it or give its full path "
            "(the bridge runs it directly, without a shell)"
        )
        from mcp_operator.bridge.server import EXIT_COMMAND_NOT_FOUND, write_termination_message

        write_termination_message(message)
        parser.exit(EXIT_COMMAND_NOT_FOUND, f"{parser.prog}: error: {message}\n")
    return BridgeConfig(
        command=tuple(command),
        host=ns.host,
        port=ns.port,
        metrics_port=ns.metrics_port or None,
        allowed_origins=origins,
        auth_token_file=ns.auth_token_file,
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
    from mcp_operator.bridge.server import EXIT_AUTH_TOKEN, ListenError, serve

    try:
        return run(serve(config))
    except ListenError as exc:
        print(f"mcp-operator bridge: {exc.strerror}; choose another port", file=sys.stderr)
        return 1
    except TokenError as exc:  # checked above; the file may have gone since
        print(f"mcp-operator bridge: error: {exc}", file=sys.stderr)
        return EXIT_AUTH_TOKEN
    except OSError as exc:
        print(f"mcp-operator bridge: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
