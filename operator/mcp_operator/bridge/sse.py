"""The legacy HTTP+SSE transport (2024-11-05): GET /sse for the stream, POST /messages to send."""

from __future__ import annotations

from aiohttp import web

from mcp_operator.bridge import messages
from mcp_operator.bridge.app import BRIDGE, _flush, error_response, parse_batch, read_batch, reject, write_sse
from mcp_operator.bridge.session import DedicatedBackend
from mcp_operator.bridge.sessions import Refused
from mcp_operator.bridge.shared import StartFailed

MESSAGES_PATH = "/messages"


async def get_sse(request: web.Request) -> web.StreamResponse:
    """Open a session; the stream lives exactly as long as the HTTP connection."""
    bridge = request.app[BRIDGE]
    registry = bridge.registry
    try:
        session = await registry.open("sse")
    except Refused as exc:
        return error_response(exc.status, messages.BRIDGE_ERROR, str(exc))
    except StartFailed as exc:
        return error_response(502, messages.BRIDGE_ERROR, str(exc))
    endpoint = b"event: endpoint\ndata: %s?sessionId=%s\n\n" % (MESSAGES_PATH.encode(), session.id.encode())
    try:
        return await write_sse(
            request, session.stream, 0, keepalive=bridge.config.sse_keepalive, prefix=endpoint, ids=False
        )
    finally:
        # The client went away (or the session ended): the session and its child go with it.
        registry.close_soon(session, "the SSE stream closed")


async def post_messages(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    session = bridge.registry.get(request.query.get("sessionId", ""))
    if session is None:
        return reject(bridge, 404, "unknown_session", messages.SESSION_NOT_FOUND, "session not found")
    parsed = await read_batch(request, bridge)
    if isinstance(parsed, web.Response):
        return parsed
    batch, _, unparsed = parsed
    if unparsed is not None and not isinstance(session.backend, DedicatedBackend):
        reparsed = parse_batch(unparsed, bridge)
        if isinstance(reparsed, web.Response):
            return reparsed
        batch = reparsed[0]
    session.submit(batch, None)
    await _flush(session)
    return web.Response(status=202, text="Accepted")
