"""The bridge's settings, shared by the CLI, the HTTP app and the session registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SessionMode = Literal["perSession", "shared"]

HANDSHAKE_VERSIONS: tuple[str, ...] = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
STATELESS_VERSIONS: tuple[str, ...] = ("2026-07-28",)
KNOWN_VERSIONS: frozenset[str] = frozenset(HANDSHAKE_VERSIONS + STATELESS_VERSIONS)
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[-1]
DEFAULT_METRICS_PORT = 9090  # the command line's default; a BridgeConfig has no metrics listener unless told


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs to know. It listens on loopback unless told otherwise (the
    operator's pods pass --host 0.0.0.0)."""

    command: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8080
    path: str = "/mcp"
    session_mode: SessionMode = "perSession"
    max_sessions: int = 100
    max_message_bytes: int = 16 * 1024 * 1024
    idle_timeout: float = 1800.0
    request_timeout: float = 600.0
    drain_grace: float = 20.0
    startup_timeout: float = 30.0
    sse_keepalive: float = 15.0
    replay_events: int = 256
    # Prometheus /metrics on a listener of its own (same host), never on the MCP port. None: no
    # metrics listener; 0: a free port (see BridgeServer.metrics_port).
    metrics_port: int | None = None
    # Origins (scheme://host[:port], "*", "null") a browser may send besides the same origin.
    allowed_origins: tuple[str, ...] = ()
    # A file holding the bearer token every MCP request must carry; None: no authentication.
    auth_token_file: str | None = None
