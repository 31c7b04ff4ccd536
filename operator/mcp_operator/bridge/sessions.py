"""The session registry: opening sessions (and their children), limits, idle reaping, drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from mcp_operator.bridge import messages
from mcp_operator.bridge.child import Child
from mcp_operator.bridge.config import LATEST_HANDSHAKE_VERSION, BridgeConfig
from mcp_operator.bridge.metrics import BridgeMetrics
from mcp_operator.bridge.session import DedicatedBackend, Session, Transport
from mcp_operator.bridge.shared import SharedChild, StartFailed

log = logging.getLogger("mcp_operator.bridge")

BRIDGE_INFO = {"name": "mcp-operator-bridge", "version": "0.1.0"}
RELAYED_CAPABILITIES: dict[str, Any] = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}


class Refused(Exception):
    """A new session cannot be opened now; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class SessionRegistry:
    def __init__(self, config: BridgeConfig, metrics: BridgeMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.sessions: dict[str, Session] = {}
        self.draining = False
        self._shared: SharedChild | None = None
        self._stateless: SharedChild | None = None
        self._shared_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._opening = 0

    def start(self) -> None:
        if self.config.idle_timeout > 0:
            self._reaper = asyncio.create_task(self._reap(), name="bridge-reaper")

    def get(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    @property
    def in_flight(self) -> int:
        return sum(len(s.pending) for s in self.sessions.values())

    # -- opening ------------------------------------------------------------------------------

    def _check_capacity(self) -> None:
        if self.draining:
            self.metrics.rejected.labels(reason="draining").inc()
            raise Refused(503, "draining", "the bridge is shutting down and accepts no new sessions")
        if len(self.sessions) + self._opening >= self.config.max_sessions:
            self.metrics.rejected.labels(reason="max_sessions").inc()
            raise Refused(
                503,
                "max_sessions",
                f"too many sessions: this bridge allows {self.config.max_sessions} at once "
                "(--max-sessions); close an idle session or retry later",
            )

    async def open(self, transport: Transport, init_params: dict[str, Any] | None = None) -> Session:
        """Open a session with its own child (perSession) or on the shared child (shared).

        If the caller is cancelled (the client went away), the opening completes and the new
        session is closed at once, so that no child is left behind.
        """
        task = asyncio.ensure_future(self._open(transport, init_params))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._discard)
            raise

    def _discard(self, task: asyncio.Future[Session]) -> None:
        if not task.cancelled() and task.exception() is None:
            self.close_soon(task.result(), "the client went away while the session was opening")

    async def _open(self, transport: Transport, init_params: dict[str, Any] | None) -> Session:
        self._check_capacity()
        self._opening += 1
        try:
            session = self._new_session(transport)
            if self.config.session_mode == "shared":
                shared = await self._shared_child(init_params)
                shared.attach(session)
                session.backend = shared
            else:
                session.backend = DedicatedBackend(await self._spawn(session))
        finally:
            self._opening -= 1
        self.sessions[session.id] = session
        self.metrics.sessions.labels(transport=transport).inc()
        self.metrics.sessions_total.labels(transport=transport).inc()
        log.debug("session %s opened (%s)", session.id, transport)
        return session

    def _new_session(self, transport: Transport) -> Session:
        return Session(
            uuid.uuid4().hex,
            transport,
            metrics=self.metrics,
            request_timeout=self.config.request_timeout,
            startup_timeout=self.config.startup_timeout,
            replay_events=self.config.replay_events,
        )

    async def _spawn(self, session: Session) -> Child:
        child = Child(
            self.config.command,
            label=session.id,
            on_message=session.on_child_line,
            on_exit=lambda c, code, reason: self._child_exited(session, c, code, reason),
            max_line=self.config.max_message_bytes,
        )
        try:
            await child.start()
        except OSError as exc:
            raise StartFailed(f"cannot start the MCP server {self.config.command[0]!r}: {exc}") from exc
        self.metrics.child_starts.labels(purpose="session").inc()
        return child

    def _child_exited(self, session: Session, child: Child, code: int | None, reason: str) -> None:
        ended = "stopped" if child.stopping else "exited"
        self.metrics.child_exits.labels(purpose="session", reason=ended).inc()
        if session.closed:
            return
        log.warning(
            "session %s: MCP server process %s with code %s; ending the session", session.id, reason, code
        )
        session.fail_all(
            messages.CHILD_EXITED, f"the MCP server process {reason} (code {code})", "child_exit"
        )
        self._spawn_task(self.close(session))

    async def _shared_child(self, init_params: dict[str, Any] | None) -> SharedChild:
        async with self._shared_lock:
            if self._shared is None or not self._shared.alive:
                version = (init_params or {}).get("protocolVersion", LATEST_HANDSHAKE_VERSION)
                self._shared = await self._start_shared("shared", version)
            return self._shared

    async def stateless(self) -> SharedChild:
        """The child that serves session-less (2026-07-28) requests; started on first use."""
        if self.config.session_mode == "shared":
            return await self._shared_child(None)
        async with self._shared_lock:
            if self._stateless is None or not self._stateless.alive:
                self._stateless = await self._start_shared("stateless", LATEST_HANDSHAKE_VERSION)
            return self._stateless

    async def _start_shared(self, label: str, version: str) -> SharedChild:
        # The bridge declares every client capability it can relay; a server-to-client request
        # goes to the session that caused it, whose client answers it (or returns an error).
        params = {"protocolVersion": version, "capabilities": RELAYED_CAPABILITIES, "clientInfo": BRIDGE_INFO}
        shared = SharedChild(
            self.config.command,
            label=label,
            metrics=self.metrics,
            max_line=self.config.max_message_bytes,
            on_exit=self._shared_exited,
            purpose="shared",
        )
        await shared.start(params, self.config.startup_timeout)
        return shared

    def _shared_exited(self, shared: SharedChild) -> None:
        if not shared.child.stopping:
            log.warning("shared MCP server process %s exited; ending its sessions", shared.label)
        for session in list(shared.sessions.values()):
            self._spawn_task(self.close(session))

    def ephemeral(self, backend: SharedChild) -> Session:
        """A one-request pseudo-session for a stateless (2026-07-28) POST."""
        session = self._new_session("stateless")
        session.backend = backend
        return session

    # -- closing ------------------------------------------------------------------------------

    async def close(self, session: Session, message: str = "the session ended") -> None:
        if session.closed:
            return
        session.closed = True
        if self.sessions.pop(session.id, None) is not None:
            self.metrics.sessions.labels(transport=session.transport).dec()
        session.fail_all(messages.CHILD_EXITED, message, "session_closed")
        session.close_streams()
        if session.backend is not None:
            await session.backend.detach(session)
        log.debug("session %s closed", session.id)

    def close_soon(self, session: Session, message: str = "the session ended") -> None:
        self._spawn_task(self.close(session, message))

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap(self) -> None:
        idle = self.config.idle_timeout
        interval = max(0.05, min(idle / 4, 30.0))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for session in list(self.sessions.values()):
                since = session.idle_since
                if since is not None and now - since >= idle:
                    log.info("session %s: idle for %.0fs, closing it", session.id, now - since)
                    # A task of its own, which shutdown waits for: cancelling the reaper must not
                    # cut a close short and leave the session's child running.
                    self.close_soon(session, "the session was idle for too long")

    async def drain(self, grace: float) -> None:
        """Refuse new sessions, let in-flight requests finish within `grace`, then stop everything."""
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.in_flight and loop.time() < deadline:  # noqa: ASYNC110 - a count across sessions
            await asyncio.sleep(0.02)
        if self.in_flight:
            log.warning("drain: %d requests still in flight after %.1fs; failing them", self.in_flight, grace)
        await self.shutdown("the bridge is shutting down")

    async def shutdown(self, message: str = "the bridge is shutting down") -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        await asyncio.gather(*(self.close(s, message) for s in list(self.sessions.values())))
        for shared in (self._shared, self._stateless):
            if shared is not None:
                await shared.stop()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
