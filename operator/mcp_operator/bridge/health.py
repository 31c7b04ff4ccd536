"""Readiness: can the command be started, and does it answer an MCP initialize handshake?"""

from __future__ import annotations

import asyncio
import logging

from mcp_operator.bridge.config import LATEST_HANDSHAKE_VERSION, BridgeConfig
from mcp_operator.bridge.metrics import BridgeMetrics
from mcp_operator.bridge.shared import SharedChild, StartFailed

log = logging.getLogger("mcp_operator.bridge")

READY_TTL = 300.0
NOT_READY_TTL = 2.0


class ReadinessProbe:
    """Starts the command once, runs `initialize`, stops it, and caches the verdict."""

    def __init__(self, config: BridgeConfig, metrics: BridgeMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self._lock = asyncio.Lock()
        self._verdict: tuple[bool, str] | None = None
        self._expires = 0.0

    async def check(self) -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._verdict is None or loop.time() >= self._expires:
                self._verdict = await self._probe()
                self._expires = loop.time() + (READY_TTL if self._verdict[0] else NOT_READY_TTL)
            return self._verdict

    async def _probe(self) -> tuple[bool, str]:
        probe = SharedChild(
            self.config.command,
            label="readyz",
            metrics=self.metrics,
            max_line=self.config.max_message_bytes,
            on_exit=lambda _: None,
        )
        params = {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-operator-bridge-readyz", "version": "0.1.0"},
        }
        try:
            await probe.start(params, self.config.startup_timeout)
        except StartFailed as exc:
            log.warning("readyz: %s", exc)
            return False, str(exc)
        info = probe.init_result.get("serverInfo", {})
        await probe.stop()
        name = info.get("name", "?") if isinstance(info, dict) else "?"
        return True, f"ready: {name} speaks MCP {probe.negotiated}"
