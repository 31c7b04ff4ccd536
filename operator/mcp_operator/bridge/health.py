"""Readiness: can the command be started, and does it answer an MCP initialize handshake?

The check runs in a task of its own, never in the request that asked for it: a kubelet probe
that times out (1 s by default) cancels its request, and a check tied to that request would leave
its child process behind, once per probe. Here one check runs at a time, every request waits for
it only briefly (then answers 503 "still starting"), and the check always stops its child.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from mcp_operator.bridge.config import LATEST_HANDSHAKE_VERSION, BridgeConfig
from mcp_operator.bridge.metrics import BridgeMetrics
from mcp_operator.bridge.shared import SharedChild, StartFailed

log = logging.getLogger("mcp_operator.bridge")

READY_TTL = 300.0
NOT_READY_TTL = 2.0
# Seconds a /readyz request waits for a running check: under the 3 s timeoutSeconds the operator
# renders. A probe with the kubelet's default 1 s gives up sooner; the check goes on regardless.
ANSWER_WITHIN = 2.5


class ReadinessProbe:
    """Starts the command once, runs `initialize`, stops it, and caches the verdict."""

    def __init__(self, config: BridgeConfig, metrics: BridgeMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.ever_ready = False
        # Called once when the server exits before it ever answered: nothing will make it work
        # without a change, so the bridge ends (the kubelet restarts it: CrashLoopBackOff).
        self.on_crash: Callable[[str], None] | None = None
        self._task: asyncio.Task[tuple[bool, str]] | None = None
        self._verdict: tuple[bool, str] | None = None
        self._expires = 0.0
        self._closed = False
        self.checks = 0  # checks started, for tests and metrics

    def start(self) -> None:
        """Begin a check unless one is running (or the bridge is stopping): at the bridge's start
        (server.serve) and whenever a request finds no fresh verdict."""
        if self._task is None and not self._closed:
            self.checks += 1
            self._task = asyncio.create_task(self._run(), name="readyz check")

    async def check(self, wait: float = ANSWER_WITHIN) -> tuple[bool, str]:
        """The cached verdict while fresh; else the verdict of a check, if it comes within `wait`."""
        loop = asyncio.get_running_loop()
        if self._verdict is not None and loop.time() < self._expires:
            return self._verdict
        if self._closed:
            return False, "stopping"
        self.start()
        assert self._task is not None
        try:
            async with asyncio.timeout(wait):
                return await asyncio.shield(self._task)
        except TimeoutError:
            return False, "starting: the MCP server has not answered initialize yet"

    async def _run(self) -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        try:
            verdict = await self._probe()
        finally:
            self._task = None
        self._verdict = verdict
        self._expires = loop.time() + (READY_TTL if verdict[0] else NOT_READY_TTL)
        return verdict

    async def _probe(self) -> tuple[bool, str]:
        probe = SharedChild(
            self.config.command,
            label="readyz",
            metrics=self.metrics,
            max_line=self.config.max_message_bytes,
            on_exit=lambda _: None,
            purpose="readiness",
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
            code = probe.child.returncode
            if code is not None and not probe.child.stopping and not self.ever_ready:
                self._crashed(code, list(probe.child.stderr_tail))
            return False, str(exc)
        finally:
            await probe.stop()  # started or not, answered or cancelled: no child stays behind
        self.ever_ready = True
        info = probe.init_result.get("serverInfo", {})
        name = info.get("name", "?") if isinstance(info, dict) else "?"
        return True, f"ready: {name} speaks MCP {probe.negotiated}"

    def _crashed(self, code: int, stderr: list[str]) -> None:
        command = " ".join(self.config.command)
        said = f"; it said: {' | '.join(stderr)}" if stderr else " without output on stderr"
        message = f"the MCP server ({command}) exited with code {code} before answering initialize{said}"
        log.error("%s", message)
        if self.on_crash is not None:
            self.on_crash(message)

    async def close(self) -> None:
        """Stop a running check (and its child); later requests get 'stopping'."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
