"""The aiohttp applications: Streamable HTTP on the MCP path, health and readiness on one port,
guarded by the Origin check and the optional bearer token; Prometheus metrics on another."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mcp_operator.bridge import messages
from mcp_operator.bridge.child import ChildGone
from mcp_operator.bridge.config import KNOWN_VERSIONS, STATELESS_VERSIONS, BridgeConfig
from mcp_operator.bridge.health import ReadinessProbe
from mcp_operator.bridge.metrics import CONTENT_TYPE, BridgeMetrics
from mcp_operator.bridge.security import REALM, OriginPolicy, TokenFile, bearer_problem, is_loopback
from mcp_operator.bridge.session import DedicatedBackend, Session
from mcp_operator.bridge.sessions import Refused, SessionRegistry
from mcp_operator.bridge.shared import StartFailed
from mcp_operator.bridge.streams import EventStream

log = logging.getLogger("mcp_operator.bridge")

SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# CORS, for the origins given with --allow-origin (a browser needs it to call from another origin).
CORS_ORIGIN = web.RequestKey("cors_origin", str)
CORS_ALLOW_HEADERS = (
    "Accept, Authorization, Content-Type, Last-Event-ID, Mcp-Session-Id, MCP-Protocol-Version"
)
CORS_EXPOSE_HEADERS = "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate"

Batch = list[tuple[dict[str, Any], bytes]]


class Bridge:
    """State shared by the handlers of one bridge instance."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.metrics = BridgeMetrics()
        self.registry = SessionRegistry(config, self.metrics)
        self.probe = ReadinessProbe(config, self.metrics)
        # OriginError, TokenError: the command line checked them already; an embedder gets them here.
        self.origins = OriginPolicy(config.allowed_origins, loopback=is_loopback(config.host))
        self.token = TokenFile(config.auth_token_file) if config.auth_token_file else None
        self.guarded = frozenset({config.path, "/sse", "/messages"})


BRIDGE = web.AppKey("bridge", Bridge)


def error_response(status: int, code: int, message: str, request_id: Any = None) -> web.Response:
    return web.Response(
        status=status, body=messages.error(request_id, code, message), content_type="application/json"
    )


def reject(bridge: Bridge, status: int, reason: str, code: int, message: str) -> web.Response:
    bridge.metrics.rejected.labels(reason=reason).inc()
    return error_response(status, code, message)


async def read_batch(request: web.Request, bridge: Bridge) -> tuple[Batch, bool, bytes | None] | web.Response:
    """Parse a POST body into (message, compact bytes) pairs; an error response if it is bad."""
    limit = bridge.config.max_message_bytes
    if request.content_length is not None and request.content_length > limit:
        return reject(
            bridge, 413, "too_large", messages.INVALID_REQUEST, f"message larger than {limit} bytes"
        )
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return reject(
            bridge, 413, "too_large", messages.INVALID_REQUEST, f"message larger than {limit} bytes"
        )
    peeked = messages.peek_request(body) if b"\n" not in body else None
    if peeked is not None:
        # Routed by its envelope alone; the body is returned for backends that need it parsed.
        return [(peeked, body)], False, body
    parsed = parse_batch(body, bridge)
    return parsed if isinstance(parsed, web.Response) else (*parsed, None)


def parse_batch(body: bytes, bridge: Bridge) -> tuple[Batch, bool] | web.Response:
    try:
        parsed = json.loads(body)
    except ValueError:
        return reject(bridge, 400, "bad_request", messages.PARSE_ERROR, "the body is not valid JSON")
    is_batch = isinstance(parsed, list)
    items = parsed if is_batch else [parsed]
    if not items or not all(isinstance(m, dict) for m in items):
        return reject(bridge, 400, "bad_request", messages.INVALID_REQUEST, "expected a JSON-RPC message")
    if is_batch or b"\n" in body or b"\r" in body:
        return [(m, messages.dumps(m)) for m in items], is_batch
    return [(parsed, body)], False


async def write_sse(
    request: web.Request,
    stream: EventStream,
    after: int,
    *,
    keepalive: float,
    headers: dict[str, str] | None = None,
    prefix: bytes = b"",
    ids: bool = True,
) -> web.StreamResponse:
    """Send `stream`'s events after seq `after` until it closes or another writer takes over."""
    response = web.StreamResponse(headers={**SSE_HEADERS, **(headers or {})})
    await response.prepare(request)
    stream.writer += 1
    me = stream.writer
    cursor = after
    sid = stream.id.encode()
    with contextlib.suppress(ConnectionError):
        if prefix:
            await response.write(prefix)
        while stream.writer == me:
            events = stream.events_after(cursor)
            if events:
                if ids:
                    chunk = b"".join(
                        b"id: %s/%d\nevent: message\ndata: %s\n\n" % (sid, s, d) for s, d in events
                    )
                else:
                    chunk = b"".join(b"event: message\ndata: %s\n\n" % d for _, d in events)
                await response.write(chunk)
                cursor = events[-1][0]
                stream.delivered = max(stream.delivered, cursor)
                continue
            if stream.closed:
                break
            await stream.wait(cursor, keepalive)
            if stream.last_seq <= cursor and not stream.closed and stream.writer == me:
                await response.write(b": keepalive\n\n")
    return response


def _version_error(request: web.Request, bridge: Bridge) -> web.Response | None:
    version = request.headers.get(VERSION_HEADER)
    if version is not None and version not in KNOWN_VERSIONS:
        return reject(
            bridge,
            400,
            "bad_request",
            messages.INVALID_REQUEST,
            f"unsupported {VERSION_HEADER} {version!r}; supported: {', '.join(sorted(KNOWN_VERSIONS))}",
        )
    return None


def _lookup(request: web.Request, bridge: Bridge) -> Session | web.Response | None:
    session_id = request.headers.get(SESSION_HEADER)
    if session_id is None:
        return None
    session = bridge.registry.get(session_id)
    if session is None:
        return reject(
            bridge,
            404,
            "unknown_session",
            messages.SESSION_NOT_FOUND,
            "session not found; initialize a new one",
        )
    return session


async def _open(bridge: Bridge, transport: str, params: Any) -> Session | web.Response:
    try:
        if transport == "stateless":
            return bridge.registry.ephemeral(await bridge.registry.stateless())
        return await bridge.registry.open("streamable", params if isinstance(params, dict) else None)
    except Refused as exc:
        return error_response(exc.status, messages.BRIDGE_ERROR, str(exc))
    except StartFailed as exc:
        log.error("%s", exc)
        return error_response(502, messages.BRIDGE_ERROR, str(exc))


async def post_mcp(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    bad = _version_error(request, bridge)
    if bad is not None:
        return bad
    parsed = await read_batch(request, bridge)
    if isinstance(parsed, web.Response):
        return parsed
    batch, is_batch, unparsed = parsed
    found = _lookup(request, bridge)
    if isinstance(found, web.Response):
        return found
    headers: dict[str, str] = {}
    session = found
    stateless = False
    if session is None:
        first = batch[0][0]
        if first.get("method") == "initialize":
            opened = await _open(bridge, "streamable", first.get("params"))
            if isinstance(opened, web.Response):
                return opened
            session = opened
            headers[SESSION_HEADER] = session.id
        elif request.headers.get(VERSION_HEADER) in STATELESS_VERSIONS:
            opened = await _open(bridge, "stateless", None)
            if isinstance(opened, web.Response):
                return opened
            session = opened
            stateless = True
        else:
            return reject(
                bridge,
                400,
                "bad_request",
                messages.INVALID_REQUEST,
                f"missing {SESSION_HEADER} header: send initialize first "
                f"(or {VERSION_HEADER}: 2026-07-28 for stateless requests)",
            )
    if unparsed is not None and not isinstance(session.backend, DedicatedBackend):
        # Shared children rewrite ids, which needs the whole message parsed.
        reparsed = parse_batch(unparsed, bridge)
        if isinstance(reparsed, web.Response):
            return reparsed
        batch, is_batch = reparsed
    requests = sum(1 for m, _ in batch if "method" in m and "id" in m)
    if requests == 0:
        session.submit(batch, None)
        await _flush(session)
        return web.Response(status=202, headers=headers)
    sse = "text/event-stream" in request.headers.get("Accept", "")
    stream = session.new_post_stream(requests, sse)
    session.submit(batch, stream)
    if SESSION_HEADER not in headers:
        return await _answer(request, bridge, session, stream, requests, is_batch, headers, stateless)
    # A new session whose client leaves before it learns the session id would be orphaned (a
    # child kept until the idle timeout): end it right away instead.
    try:
        response = await _answer(request, bridge, session, stream, requests, is_batch, headers, stateless)
    except asyncio.CancelledError:
        bridge.registry.close_soon(session, "the client went away during initialize")
        raise
    streamed = not isinstance(response, web.Response)
    if streamed and (not stream.closed or stream.delivered < stream.last_seq):
        bridge.registry.close_soon(session, "the client went away during initialize")
    return response


async def _answer(
    request: web.Request,
    bridge: Bridge,
    session: Session,
    stream: EventStream,
    requests: int,
    is_batch: bool,
    headers: dict[str, str],
    stateless: bool,
) -> web.StreamResponse:
    await _flush(session)
    if stream.sse:
        # Answer with plain JSON when the responses arrive before anything else (one write, no
        # chunking); switch to SSE as soon as a notification or server request needs to go first.
        await stream.wait(0)
        if not (stream.closed and stream.last_seq == requests):
            response = await write_sse(
                request, stream, 0, keepalive=bridge.config.sse_keepalive, headers=headers
            )
            if stateless and session.backend is not None:
                await session.backend.detach(session)
            return response
    await stream.done()
    payloads = stream.payloads()
    body = b"[" + b",".join(payloads) + b"]" if is_batch else payloads[0]
    return web.Response(body=body, content_type="application/json", headers=headers)


async def _flush(session: Session) -> None:
    if session.backend is not None:
        with contextlib.suppress(ChildGone):
            await session.backend.flush()


async def get_mcp(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    found = _lookup(request, bridge)
    if isinstance(found, web.Response):
        return found
    if found is None:
        return web.Response(
            status=405,
            text=f"GET needs an {SESSION_HEADER} header; stateless clients use subscriptions/listen",
            headers={"Allow": "POST, DELETE"},
        )
    session = found
    session.last_active = session.loop.time()
    last_event = request.headers.get("Last-Event-ID")
    stream = session.stream
    after = stream.delivered
    if last_event:
        stream_id, _, seq = last_event.partition("/")
        found_stream = session.find_stream(stream_id)
        if found_stream is None or not seq.isdigit():
            return reject(bridge, 400, "bad_request", messages.INVALID_REQUEST, "unknown Last-Event-ID")
        stream, after = found_stream, int(seq)
    return await write_sse(request, stream, after, keepalive=bridge.config.sse_keepalive)


async def delete_mcp(request: web.Request) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    found = _lookup(request, bridge)
    if isinstance(found, web.Response):
        return found
    if found is None:
        return reject(
            bridge, 400, "bad_request", messages.INVALID_REQUEST, f"missing {SESSION_HEADER} header"
        )
    await bridge.registry.close(found, "the client ended the session")
    return web.Response(status=200)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    bridge = request.app[BRIDGE]
    if bridge.registry.draining:
        return web.Response(status=503, text="draining\n")
    ready, detail = await bridge.probe.check()
    return web.Response(status=200 if ready else 503, text=detail + "\n")


async def metrics(request: web.Request) -> web.Response:
    bridge = request.app[BRIDGE]
    bridge.metrics.in_flight.set(bridge.registry.in_flight)
    return web.Response(body=bridge.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The MCP endpoints (Streamable HTTP and legacy SSE) check Origin, then the bearer token."""
    bridge = request.app[BRIDGE]
    if request.path not in bridge.guarded:
        return await handler(request)
    origin = request.headers.get("Origin")
    verdict = bridge.origins.check(origin, request.headers.get("Host"))
    if not verdict.allowed:
        log.debug("refused %s %s: %s", request.method, request.path, verdict.why)
        return reject(bridge, 403, "origin", messages.INVALID_REQUEST, verdict.why)
    if verdict.cross_origin and origin is not None:
        request[CORS_ORIGIN] = origin
        if request.method == "OPTIONS":  # a CORS preflight: no credentials, by design
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Methods": "GET, POST, DELETE",
                    "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                    "Access-Control-Max-Age": "600",
                },
            )
    if bridge.token is not None:
        problem = bearer_problem(request.headers.get("Authorization"), bridge.token.current())
        if problem is not None:
            code, why = problem
            bridge.metrics.rejected.labels(reason="unauthorized").inc()
            challenge = f'{REALM}, error="{code}"' if code else REALM
            return web.Response(
                status=401,
                body=messages.error(None, messages.BRIDGE_ERROR, why),
                content_type="application/json",
                headers={"WWW-Authenticate": challenge},
            )
    return await handler(request)


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer to an allowed cross-origin request, streams included (before their headers go)."""
    origin = request.get(CORS_ORIGIN)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        response.headers.add("Vary", "Origin")


def create_metrics_app(bridge: Bridge) -> web.Application:
    """/metrics alone, for the listener of its own (--metrics-port)."""
    app = web.Application()
    app[BRIDGE] = bridge
    app.router.add_get("/metrics", metrics)
    return app


def create_app(config: BridgeConfig) -> web.Application:
    from mcp_operator.bridge import sse

    app = web.Application(client_max_size=config.max_message_bytes, middlewares=[guard])
    bridge = Bridge(config)
    app[BRIDGE] = bridge
    app.on_response_prepare.append(cors_headers)
    app.router.add_post(config.path, post_mcp)
    app.router.add_get(config.path, get_mcp)
    app.router.add_delete(config.path, delete_mcp)
    app.router.add_get("/sse", sse.get_sse)
    app.router.add_post("/messages", sse.post_messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)

    async def startup(app: web.Application) -> None:
        app[BRIDGE].registry.start()

    async def cleanup(app: web.Application) -> None:
        await app[BRIDGE].probe.close()
        await app[BRIDGE].registry.shutdown()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    return app
