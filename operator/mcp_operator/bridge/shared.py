"""Shared mode: one child serves many sessions, with request ids rewritten so answers never cross."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from mcp_operator.bridge import messages
from mcp_operator.bridge.child import Child, ChildGone
from mcp_operator.bridge.config import HANDSHAKE_VERSIONS, STATELESS_VERSIONS
from mcp_operator.bridge.metrics import BridgeMetrics
from mcp_operator.bridge.session import Session

log = logging.getLogger("mcp_operator.bridge")

INIT_ID = "mcp-bridge-initialize"
BROADCAST = frozenset(
    {
        "notifications/tools/list_changed",
        "notifications/resources/list_changed",
        "notifications/prompts/list_changed",
        "notifications/resources/updated",
    }
)


class StartFailed(Exception):
    """The MCP server could not be started or did not complete the initialize handshake."""


def pick_version(requested: Any, negotiated: str) -> str:
    """The version to answer a client's `initialize` with, given what the shared child agreed to."""
    if requested in HANDSHAKE_VERSIONS and negotiated in HANDSHAKE_VERSIONS:
        return min(str(requested), negotiated, key=HANDSHAKE_VERSIONS.index)
    return negotiated


# Results of these methods carry ttlMs and cacheScope from 2026-07-28 on.
CACHEABLE_METHODS = frozenset(
    {
        "prompts/list",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "server/discover",
        "tools/list",
    }
)


def stateless_result(method: str, result: dict[str, Any]) -> dict[str, Any]:
    """A pre-2026 server's result in the 2026-07-28 shape: every result says it is complete, and
    cacheable ones say they may not be cached (the server promised nothing about caching)."""
    upgraded = {"resultType": "complete", **result}
    if method in CACHEABLE_METHODS:
        upgraded.setdefault("ttlMs", 0)
        upgraded.setdefault("cacheScope", "private")
    return upgraded


class SharedChild:
    """A child multiplexed over sessions.

    Each client request gets a fresh integer id on the way in and its own id back on the way out;
    progress tokens are rewritten the same way. Server-initiated requests and notifications go to
    the session that most recently sent a request; list-changed notifications go to every session.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        label: str,
        metrics: BridgeMetrics,
        max_line: int,
        on_exit: Callable[[SharedChild], None],
        purpose: str,
    ) -> None:
        self.label = label
        self.purpose = purpose  # "shared" or "readiness", for the metrics
        self.metrics = metrics
        self.child = Child(
            command, label=label, on_message=self._on_line, on_exit=self._exited, max_line=max_line
        )
        self._on_exit = on_exit
        self._ids = itertools.count(1)
        self.routes: dict[int, tuple[Session, Any, str]] = {}
        self.child_ids: dict[tuple[str, Any], int] = {}
        self.tokens: dict[str, tuple[Session, Any]] = {}
        self.sessions: dict[str, Session] = {}
        self.last_session: Session | None = None
        self.init_result: dict[str, Any] = {}
        self._init: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    @property
    def alive(self) -> bool:
        return self.child.alive

    async def start(self, init_params: dict[str, Any], startup_s: float) -> None:
        try:
            await self.child.start()
        except OSError as exc:
            raise StartFailed(f"cannot start {self.child.command[0]!r}: {exc}") from exc
        self.metrics.child_starts.labels(purpose=self.purpose).inc()
        request = {"jsonrpc": "2.0", "id": INIT_ID, "method": "initialize", "params": init_params}
        try:
            self.child.send(messages.dumps(request))
            async with asyncio.timeout(startup_s):
                reply = await asyncio.shield(self._init)
        except (ChildGone, TimeoutError) as exc:
            await self.child.stop()
            raise StartFailed(f"the MCP server did not answer initialize: {exc or 'timed out'}") from exc
        if "result" not in reply or not isinstance(reply["result"], dict):
            await self.child.stop()
            raise StartFailed(f"the MCP server refused initialize: {reply.get('error')}")
        self.init_result = reply["result"]
        self.child.send(messages.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))

    @property
    def negotiated(self) -> str:
        return str(self.init_result.get("protocolVersion", ""))

    def attach(self, session: Session) -> None:
        self.sessions[session.id] = session

    # -- client -> child ----------------------------------------------------------------------

    def forward(self, session: Session, msg: dict[str, Any], data: bytes) -> None:
        method = msg.get("method")
        if method is None:
            # An answer to a server-initiated request: its id is already in the child's space.
            self.child.send(data)
            return
        if "id" not in msg:
            if method == "notifications/initialized":
                return
            if method == "notifications/cancelled":
                params = msg.get("params")
                if isinstance(params, dict):
                    nid = self.child_ids.get((session.id, params.get("requestId")))
                    if nid is None:
                        return
                    data = messages.dumps({**msg, "params": {**params, "requestId": nid}})
            self.child.send(data)
            return
        request_id = msg["id"]
        if method == "initialize":
            params = msg.get("params")
            requested = params.get("protocolVersion") if isinstance(params, dict) else None
            result = {**self.init_result, "protocolVersion": pick_version(requested, self.negotiated)}
            session.protocol_version = result["protocolVersion"]
            self._answer(session, request_id, result)
            return
        if method == "server/discover":
            self._answer(session, request_id, self.discover_result())
            return
        nid = next(self._ids)
        self.routes[nid] = (session, request_id, str(method))
        self.child_ids[(session.id, request_id)] = nid
        out = {**msg, "id": nid}
        token = messages.progress_token(msg)
        if token is not None:
            params = msg["params"]
            new_token = f"b{nid}"
            self.tokens[new_token] = (session, token)
            out["params"] = {**params, "_meta": {**params["_meta"], "progressToken": new_token}}
        self.last_session = session
        self.child.send(messages.dumps(out))

    def _answer(self, session: Session, request_id: Any, result: dict[str, Any]) -> None:
        reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
        session.deliver(reply, messages.dumps(reply))

    def discover_result(self) -> dict[str, Any]:
        """`server/discover` for a child that predates it, built from its initialize result."""
        init = self.init_result
        result: dict[str, Any] = {
            "resultType": "complete",
            "supportedVersions": list(STATELESS_VERSIONS),
            "capabilities": init.get("capabilities", {}),
            "cacheScope": "public",
            "ttlMs": 0,
        }
        if "instructions" in init:
            result["instructions"] = init["instructions"]
        if "serverInfo" in init:
            result["_meta"] = {"io.modelcontextprotocol/serverInfo": init["serverInfo"]}
        return result

    async def flush(self) -> None:
        await self.child.drain()

    def cancel(self, session: Session, request_id: Any) -> None:
        nid = self.child_ids.pop((session.id, request_id), None)
        if nid is not None:
            self.routes.pop(nid, None)
            self.tokens.pop(f"b{nid}", None)
            with contextlib.suppress(ChildGone):
                self.child.send(messages.cancelled(nid))

    async def detach(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        if self.last_session is session:
            self.last_session = None
        for request_id in list(session.pending):
            self.cancel(session, request_id)

    async def stop(self) -> None:
        await self.child.stop()

    # -- child -> clients ---------------------------------------------------------------------

    def _on_line(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            log.warning("shared %s: ignoring non-JSON output from the MCP server: %.200r", self.label, line)
            return
        for item in msg if isinstance(msg, list) else [msg]:
            if isinstance(item, dict):
                self._route(item, line if item is msg else messages.dumps(item))

    def _route(self, msg: dict[str, Any], data: bytes) -> None:
        if "method" not in msg:
            nid = msg.get("id")
            if nid == INIT_ID:
                if not self._init.done():
                    self._init.set_result(msg)
                return
            route = self.routes.pop(nid, None) if isinstance(nid, int) else None
            if route is None:
                return
            session, request_id, method = route
            self.child_ids.pop((session.id, request_id), None)
            self.tokens.pop(f"b{nid}", None)
            out = {**msg, "id": request_id}
            if session.transport == "stateless" and isinstance(msg.get("result"), dict):
                out["result"] = stateless_result(method, msg["result"])
            session.deliver(out, messages.dumps(out))
            return
        method = msg["method"]
        if method == "notifications/progress" and "id" not in msg:
            params = msg.get("params")
            token = params.get("progressToken") if isinstance(params, dict) else None
            target = self.tokens.get(token) if isinstance(token, str) else None
            if target is not None and isinstance(params, dict):
                session, original = target
                out = {**msg, "params": {**params, "progressToken": original}}
                session.deliver(out, messages.dumps(out))
            return
        if method in BROADCAST:
            for session in self.sessions.values():
                session.push_unsolicited(data)
            return
        last = self.last_session
        if last is not None and not last.closed:
            last.push_unsolicited(data)
        else:
            log.debug("shared %s: no session to deliver %s to", self.label, method)

    def _exited(self, child: Child, code: int | None, reason: str) -> None:
        ended = "stopped" if child.stopping else "exited"
        self.metrics.child_exits.labels(purpose=self.purpose, reason=ended).inc()
        if not self._init.done():
            self._init.set_exception(ChildGone(f"exited with code {code} before answering"))
            self._init.exception()  # retrieved: start() reports it
        message = f"the shared MCP server process {reason} (code {code})"
        for session, request_id, _method in list(self.routes.values()):
            session.fail(request_id, messages.CHILD_EXITED, message, "child_exit")
        self.routes.clear()
        self._on_exit(self)
