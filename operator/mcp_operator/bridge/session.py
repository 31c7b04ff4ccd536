"""One MCP session: its in-flight requests, its event streams, and the backend it talks to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from typing import Any, Literal, Protocol

from mcp_operator.bridge import messages
from mcp_operator.bridge.child import Child, ChildGone
from mcp_operator.bridge.metrics import BridgeMetrics
from mcp_operator.bridge.streams import EventStream

log = logging.getLogger("mcp_operator.bridge")

Transport = Literal["streamable", "sse", "stateless"]
KEEP_POST_STREAMS = 16


class Backend(Protocol):
    """Where a session's client messages go: its own child, or a shared one."""

    def forward(self, session: Session, msg: dict[str, Any], data: bytes) -> None: ...

    async def flush(self) -> None: ...

    def cancel(self, session: Session, request_id: Any) -> None: ...

    async def detach(self, session: Session) -> None: ...


class Pending:
    __slots__ = ("method", "started", "stream", "timer", "token")

    def __init__(self, stream: EventStream, method: str, started: float) -> None:
        self.stream = stream
        self.method = method
        self.started = started
        self.timer: asyncio.TimerHandle | None = None
        self.token: Any = None


class Session:
    def __init__(
        self,
        session_id: str,
        transport: Transport,
        *,
        metrics: BridgeMetrics,
        request_timeout: float,
        startup_timeout: float = 30.0,
        replay_events: int,
    ) -> None:
        self.id = session_id
        self.transport: Transport = transport
        self.metrics = metrics
        self.request_timeout = request_timeout
        self.startup_timeout = startup_timeout
        # Ids of timed-out requests the server may still answer, with when to forget them;
        # reusing one before then could pair the late answer with the new request.
        self.abandoned: dict[Any, float] = {}
        self.backend: Backend | None = None
        self.pending: dict[Any, Pending] = {}
        self.tokens: dict[Any, EventStream] = {}
        # The standalone stream: GET /mcp for Streamable HTTP, the one stream of legacy SSE.
        self.stream = EventStream(keep=replay_events)
        self.post_streams: OrderedDict[str, EventStream] = OrderedDict()
        self.active: list[EventStream] = []
        self.loop = asyncio.get_running_loop()
        self.last_active = self.loop.time()
        self.closed = False
        self.protocol_version = ""

    # -- client -> server -------------------------------------------------------------------

    def new_post_stream(self, expected: int, sse: bool) -> EventStream:
        stream = EventStream(expected=expected, sse=sse)
        if sse:
            self.active.append(stream)
            posts = self.post_streams
            posts[stream.id] = stream
            if len(posts) > KEEP_POST_STREAMS:
                for key, old in list(posts.items()):
                    if old.closed:
                        del posts[key]
                    if len(posts) <= KEEP_POST_STREAMS:
                        break
        return stream

    def find_stream(self, stream_id: str) -> EventStream | None:
        if stream_id == self.stream.id:
            return self.stream
        return self.post_streams.get(stream_id)

    def submit(self, batch: list[tuple[dict[str, Any], bytes]], stream: EventStream | None) -> None:
        """Forward client messages to the backend, tracking requests so answers find `stream`."""
        self.last_active = self.loop.time()
        backend = self.backend
        assert backend is not None
        for msg, data in batch:
            if "method" in msg and "id" in msg:
                target = stream or self.stream
                if not self._register(msg, target):
                    continue
            try:
                backend.forward(self, msg, data)
            except ChildGone as exc:
                if "method" in msg and "id" in msg:
                    self.fail(msg["id"], messages.CHILD_EXITED, str(exc), "child_exit")

    def _register(self, msg: dict[str, Any], stream: EventStream) -> bool:
        request_id = msg["id"]
        method = self.metrics.method_label(str(msg["method"]))
        if self.closed:
            self._respond(stream, messages.error(request_id, messages.CHILD_EXITED, "the session has ended"))
            return False
        if not messages.hashable(request_id):
            self._respond(stream, messages.error(None, messages.INVALID_REQUEST, "invalid request id"))
            return False
        if request_id in self.pending or (self.abandoned and self._still_abandoned(request_id)):
            self._respond(
                stream, messages.error(request_id, messages.INVALID_REQUEST, "request id in flight")
            )
            return False
        pending = Pending(stream, method, self.loop.time())
        timeout = self.request_timeout
        if method == "initialize" and timeout > 0:
            timeout = max(timeout, self.startup_timeout)
        if timeout > 0:
            pending.timer = self.loop.call_later(timeout, self._timed_out, request_id, timeout)
        token = messages.progress_token(msg)
        if token is not None and messages.hashable(token):
            pending.token = token
            self.tokens[token] = stream
        self.pending[request_id] = pending
        return True

    def _still_abandoned(self, request_id: Any) -> bool:
        until = self.abandoned.get(request_id)
        if until is None:
            return False
        if self.loop.time() < until:
            return True
        del self.abandoned[request_id]
        return False

    def _timed_out(self, request_id: Any, timeout: float) -> None:
        if request_id in self.pending:
            self.fail(
                request_id,
                messages.REQUEST_TIMEOUT,
                f"the MCP server did not answer within {timeout:g}s",
                "timeout",
            )
            now = self.loop.time()
            if len(self.abandoned) >= 1024:
                self.abandoned = {k: t for k, t in self.abandoned.items() if t > now}
            self.abandoned[request_id] = now + max(timeout, 60.0)
            if self.backend is not None:
                self.backend.cancel(self, request_id)

    def fail(self, request_id: Any, code: int, message: str, outcome: str) -> None:
        pending = self.pending.pop(request_id, None)
        if pending is not None:
            self._finish(pending, outcome)
            self._respond(pending.stream, messages.error(request_id, code, message))

    def fail_all(self, code: int, message: str, outcome: str) -> None:
        for request_id in list(self.pending):
            self.fail(request_id, code, message, outcome)

    def _finish(self, pending: Pending, outcome: str) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.token is not None:
            self.tokens.pop(pending.token, None)
        self.metrics.observe(pending.method, outcome, self.loop.time() - pending.started)

    def _respond(self, stream: EventStream, data: bytes) -> None:
        if stream is self.stream:
            stream.push(data)
            return
        stream.push_response(data)
        if stream.closed and stream.sse:
            with contextlib.suppress(ValueError):
                self.active.remove(stream)

    def respond_now(self, stream: EventStream | None, data: bytes) -> None:
        """A response the bridge produces itself (e.g. a shared-mode `initialize`)."""
        self._respond(stream or self.stream, data)

    # -- server -> client -------------------------------------------------------------------

    def on_child_line(self, line: bytes) -> None:
        """A message from a dedicated child, passed on as the same bytes."""
        peeked = messages.peek_response(line)
        if peeked is not None:
            self.deliver_response(peeked[0], peeked[1], line)
            return
        try:
            msg = json.loads(line)
        except ValueError:
            log.warning("session %s: ignoring non-JSON output from the MCP server: %.200r", self.id, line)
            return
        if isinstance(msg, dict):
            self.deliver(msg, line)
        elif isinstance(msg, list):
            for item in msg:
                if isinstance(item, dict):
                    self.deliver(item, messages.dumps(item))

    def deliver(self, msg: dict[str, Any], data: bytes) -> None:
        if "method" not in msg:
            self.deliver_response(msg.get("id"), "error" in msg, data)
            return
        if "id" not in msg and msg["method"] == "notifications/progress":
            params = msg.get("params")
            token = params.get("progressToken") if isinstance(params, dict) else None
            stream = self.tokens.get(token) if messages.hashable(token) else None
            if stream is not None and stream.sse and not stream.closed:
                stream.push(data)
                return
        self.push_unsolicited(data)

    def deliver_response(self, request_id: Any, is_error: bool, data: bytes) -> None:
        pending = self.pending.pop(request_id, None) if messages.hashable(request_id) else None
        if pending is None:
            if self.abandoned:
                self.abandoned.pop(request_id, None)
            log.debug("session %s: dropping a response to unknown request %r", self.id, request_id)
            return
        self._finish(pending, "error" if is_error else "ok")
        self._respond(pending.stream, data)

    def push_unsolicited(self, data: bytes) -> None:
        """Server-initiated requests and notifications: on the newest open POST stream, else GET."""
        active = self.active
        while active:
            stream = active[-1]
            if not stream.closed:
                stream.push(data)
                return
            active.pop()
        self.stream.push(data)

    @property
    def idle_since(self) -> float | None:
        return None if self.pending else self.last_active

    def close_streams(self) -> None:
        self.stream.close()
        for stream in self.active:
            stream.close()
        self.active.clear()


class DedicatedBackend:
    """perSession mode: the session owns one child; messages pass through byte for byte."""

    def __init__(self, child: Child) -> None:
        self.child = child

    def forward(self, session: Session, msg: dict[str, Any], data: bytes) -> None:
        self.child.send(data)

    async def flush(self) -> None:
        await self.child.drain()

    def cancel(self, session: Session, request_id: Any) -> None:
        with contextlib.suppress(ChildGone):
            self.child.send(messages.cancelled(request_id))

    async def detach(self, session: Session) -> None:
        await self.child.stop()
