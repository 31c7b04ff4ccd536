"""The bridge's settings, shared by the CLI, the HTTP app and the session registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SessionMode = Literal["perSession", "shared"]

HANDSHAKE_VERSIONS: tuple[str, ...] = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
STATELESS_VERSIONS: tuple[str, ...] = ("2026-07-28",)
KNOWN_VERSIONS: frozenset[str] = frozenset(HANDSHAKE_VERSIONS + STATELESS_VERSIONS)
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[-1]


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs to know; defaults suit a pod running one MCP server."""

    command: tuple[str, ...]
    host: str = "0.0.0.0"  # noqa: S104 - the bridge is the pod's front door
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
