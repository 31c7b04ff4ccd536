"""The operator's MCP client (handshake.py) against fake servers in an httpx.MockTransport: what it
sends, JSON and event-stream answers, and every hostile answer ending as a Failure with a reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from mcp_operator.handshake import handshake
from mcp_operator.reasons import Reason
from mcp_operator.render.mcp_answers import MAX_PAGES, Failure

URL = "http://srv.ns.svc:8080/mcp"
IP = "10.96.0.7"
Answer = Callable[[httpx.Request, dict[str, Any]], Awaitable[httpx.Response] | httpx.Response]


def sse(*messages: dict[str, Any], eol: str = "\n") -> bytes:
    return "".join(f"event: message{eol}data: {json.dumps(m)}{eol}{eol}" for m in messages).encode()


class FakeServer:
    """A Streamable HTTP MCP server; `answers[method]` replaces its answer to that method."""

    def __init__(self, *, events: bool = False, capabilities: dict[str, Any] | None = None) -> None:
        self.events = events
        self.capabilities = {"tools": {}} if capabilities is None else capabilities
        self.answers: dict[str, Answer] = {}
        self.requests: list[httpx.Request] = []
        self.pages = {None: (["echo", "add"], "page-2"), "page-2": (["time"], None)}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def seen(self) -> list[tuple[str, str]]:
        return [
            (r.method, json.loads(r.content).get("method", "") if r.content else r.url.path)
            for r in self.requests
        ]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "DELETE":
            return httpx.Response(200)
        body = json.loads(request.content)
        method = body.get("method")
        if method in self.answers:
            answer = self.answers[method](request, body)
            return await answer if isinstance(answer, Awaitable) else answer
        if "id" not in body:
            return httpx.Response(202)
        if method == "initialize":
            result: dict[str, Any] = {
                "protocolVersion": "2025-06-18",
                "capabilities": self.capabilities,
                "serverInfo": {"name": "fake", "version": "3.1.4"},
            }
        else:
            names, cursor = self.pages[(body.get("params") or {}).get("cursor")]
            result = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in names]}
            if cursor:
                result["nextCursor"] = cursor
        headers = {"Mcp-Session-Id": "session-1"} if method == "initialize" else {}
        return self.reply({"jsonrpc": "2.0", "id": body["id"], "result": result}, headers)

    def reply(self, message: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        if not self.events:
            return httpx.Response(200, json=message, headers=headers)
        # What a native server may send first: a log notification and a request of its own.
        first = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}}
        ping = {"jsonrpc": "2.0", "id": "srv-1", "method": "ping"}
        body = b": hello\r\n\r\n" + sse(first, ping, message, eol="\r\n")
        return httpx.Response(200, content=body, headers={**headers, "Content-Type": "text/event-stream"})


async def shake(server: FakeServer, within: float = 5.0, url: str = URL) -> Any:
    return await handshake(url, address=IP, within=within, transport=server.transport())


async def failure(server: FakeServer, within: float = 5.0) -> Failure:
    with pytest.raises(Failure) as caught:
        await shake(server, within)
    return caught.value


@pytest.mark.parametrize("events", [False, True], ids=["json", "event-stream"])
async def test_a_handshake_reads_server_info_and_every_tool_page_then_ends_the_session(events: bool) -> None:
    server = FakeServer(events=events)
    found = await shake(server)
    assert found.introduction.name == "fake"
    assert found.introduction.version == "3.1.4"
    assert found.introduction.protocol_version == "2025-06-18"
    assert found.introduction.capabilities == ("tools",)
    assert found.tools == ("echo", "add", "time")
    assert (found.tool_count, found.complete) == (3, True)
    assert server.seen() == [
        ("POST", "initialize"),
        ("POST", "notifications/initialized"),
        ("POST", "tools/list"),
        ("POST", "tools/list"),
        ("DELETE", "/mcp"),
    ]
    first, *rest = server.requests
    for request in server.requests:
        assert request.url.host == IP
        assert request.url.port == 8080
        assert request.headers["host"] == "srv.ns.svc:8080"  # what a client of status.url sends
        assert request.headers["accept-encoding"] == "identity"
    assert first.headers["accept"] == "application/json, text/event-stream"
    assert json.loads(first.content)["params"]["protocolVersion"] == "2025-11-25"
    assert "mcp-session-id" not in first.headers
    for request in rest:
        assert request.headers["mcp-session-id"] == "session-1"
        assert request.headers["mcp-protocol-version"] == "2025-06-18"
    assert json.loads(server.requests[3].content)["params"] == {"cursor": "page-2"}


async def test_a_server_without_tools_is_not_asked_for_them() -> None:
    server = FakeServer(capabilities={"prompts": {}})
    found = await shake(server)
    assert found.tools == ()
    assert found.tool_count == 0
    assert [m for _, m in server.seen()] == ["initialize", "notifications/initialized", "/mcp"]


async def test_tool_pages_are_followed_up_to_a_bound() -> None:
    server = FakeServer()
    server.answers["tools/list"] = lambda _, body: httpx.Response(
        200,
        json={
            "jsonrpc": "2.0",
            "id": body["id"],
            "result": {"tools": [{"name": f"t{body['id']}-{i}"} for i in range(40)], "nextCursor": "again"},
        },
    )
    found = await shake(server)
    assert found.complete is False
    assert found.tool_count == 40 * MAX_PAGES
    assert len(found.tools) == 256
    assert [m for _, m in server.seen()].count("tools/list") == MAX_PAGES


async def endless(_: httpx.Request, __: dict[str, Any]) -> httpx.Response:
    async def chunks() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536

    return httpx.Response(200, content=chunks(), headers={"Content-Type": "application/json"})


def answer(status: int = 200, body: bytes = b"", **headers: str) -> Answer:
    return lambda _, __: httpx.Response(status, content=body, headers=headers)


def wrong_id(_: httpx.Request, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"] + 1, "result": {}})


def error(_: httpx.Request, body: dict[str, Any]) -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32603, "message": "boom\nbang"}}
    return httpx.Response(200, json=message)


def no_server_info(_: httpx.Request, body: dict[str, Any]) -> httpx.Response:
    result = {"protocolVersion": "2025-06-18", "capabilities": {}}
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})


def stream_without_answer(_: httpx.Request, body: dict[str, Any]) -> httpx.Response:
    note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}
    return httpx.Response(200, content=sse(note), headers={"Content-Type": "text/event-stream"})


JSON = {"Content-Type": "application/json"}
HOSTILE: list[tuple[str, str, Answer, Reason, str]] = [
    ("not-json", "initialize", answer(200, b"<html>hi</html>", **JSON), Reason.HANDSHAKE_INVALID, "not JSON"),
    ("huge", "initialize", endless, Reason.HANDSHAKE_INVALID, "larger than 1024 KiB"),
    ("wrong-id", "initialize", wrong_id, Reason.HANDSHAKE_INVALID, "not the response to request id 1"),
    ("no-server-info", "initialize", no_server_info, Reason.HANDSHAKE_INVALID, "no serverInfo.name"),
    ("error", "initialize", error, Reason.HANDSHAKE_REFUSED, "initialize answered error -32603: boom?bang"),
    (
        "401",
        "initialize",
        answer(401, b"token required"),
        Reason.HANDSHAKE_REFUSED,
        "HTTP 401: token required",
    ),
    ("empty-404", "initialize", answer(404), Reason.HANDSHAKE_REFUSED, "initialize: HTTP 404"),
    (
        "302",
        "initialize",
        answer(302, location="http://evil.example/mcp"),
        Reason.HANDSHAKE_REFUSED,
        "HTTP 302 to http://evil.example/mcp",
    ),
    (
        "307-elsewhere",
        "initialize",
        answer(307, location="http://evil.example/mcp"),
        Reason.HANDSHAKE_REFUSED,
        "on the same origin only",
    ),
    (
        "html",
        "initialize",
        answer(200, b"{}", **{"Content-Type": "text/html"}),
        Reason.HANDSHAKE_INVALID,
        "text/html",
    ),
    (
        "gzip",
        "initialize",
        answer(200, b"x", **JSON, **{"Content-Encoding": "gzip"}),
        Reason.HANDSHAKE_INVALID,
        "gzip",
    ),
    (
        "notification-refused",
        "notifications/initialized",
        answer(400, b"bad"),
        Reason.HANDSHAKE_REFUSED,
        "HTTP 400",
    ),
    ("tools-error", "tools/list", error, Reason.HANDSHAKE_REFUSED, "tools/list answered error -32603"),
    (
        "tools-stream-ends",
        "tools/list",
        stream_without_answer,
        Reason.HANDSHAKE_INVALID,
        "ended without the response",
    ),
    ("tools-wrong-id", "tools/list", wrong_id, Reason.HANDSHAKE_INVALID, "not the response to request id 2"),
]


@pytest.mark.parametrize(
    ("method", "bad", "reason", "says"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
async def test_a_hostile_answer_is_a_failure_with_a_reason(
    method: str, bad: Answer, reason: Reason, says: str
) -> None:
    server = FakeServer()
    server.answers[method] = bad
    caught = await failure(server)
    assert caught.reason == reason
    assert says in caught.message
    assert method in caught.message
    # A session that was opened is ended, whatever went wrong after.
    opened = method != "initialize"
    assert (server.seen()[-1] == ("DELETE", "/mcp")) is opened


async def test_a_redirect_on_the_same_origin_is_followed_and_kept() -> None:
    server = FakeServer()
    inner = server.handle

    async def moved(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/mcp":
            server.requests.append(request)
            return httpx.Response(307, headers={"Location": "/mcp/"})
        return await inner(request)

    found = await handshake(URL, address=IP, transport=httpx.MockTransport(moved))
    assert found.tools == ("echo", "add", "time")
    assert [r.url.path for r in server.requests] == ["/mcp", "/mcp/", "/mcp/", "/mcp/", "/mcp/", "/mcp/"]
    assert server.requests[-1].method == "DELETE"


async def test_a_server_that_never_answers_times_out_within_the_bound() -> None:
    server = FakeServer()
    never = asyncio.Event()

    async def hang(_: httpx.Request, __: dict[str, Any]) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    server.answers["initialize"] = hang
    loop = asyncio.get_running_loop()
    started = loop.time()
    caught = await failure(server, within=0.3)
    assert loop.time() - started < 2.0
    assert caught.reason == Reason.HANDSHAKE_TIMEOUT
    assert caught.message == f"{URL} (cluster IP {IP}) did not complete the handshake within 0.3 s"


async def test_a_stream_of_keepalives_times_out_and_the_session_is_still_ended() -> None:
    server = FakeServer()

    def keepalives(_: httpx.Request, __: dict[str, Any]) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                yield b": keepalive\n\n"
                await asyncio.sleep(0.01)

        return httpx.Response(200, content=chunks(), headers={"Content-Type": "text/event-stream"})

    server.answers["tools/list"] = keepalives
    caught = await failure(server, within=0.3)
    assert caught.reason == Reason.HANDSHAKE_TIMEOUT
    assert server.seen()[-1] == ("DELETE", "/mcp")


async def test_no_connection_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(Failure) as caught:
        await handshake(URL, address=IP, transport=httpx.MockTransport(refuse))
    assert caught.value.reason == Reason.SERVER_UNREACHABLE
    assert (
        caught.value.message
        == f"could not connect to {URL} (cluster IP {IP}): [Errno 111] Connection refused"
    )


async def test_a_connection_cut_midway_is_unreachable() -> None:
    server = FakeServer()

    def cut(request: httpx.Request, _: dict[str, Any]) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    server.answers["tools/list"] = cut
    caught = await failure(server)
    assert caught.reason == Reason.SERVER_UNREACHABLE
    assert "peer closed connection" in caught.message


class LegacyServer:
    """The legacy HTTP+SSE transport: GET /sse streams the answers to POST /messages."""

    def __init__(self, endpoint: bytes = b"/messages?session_id=abc") -> None:
        self.endpoint = endpoint
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.posts: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, stream=Stream(self), headers={"Content-Type": "text/event-stream"})
        body = json.loads(request.content)
        self.posts.append(f"{request.url.path}?{request.url.query.decode()} {body['method']}")
        if body["method"] == "initialize":
            result: dict[str, Any] = {
                "protocolVersion": "2024-11-05",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "old", "version": "0.9"},
            }
            await self.outbox.put({"jsonrpc": "2.0", "id": body["id"], "result": result})
        elif body["method"] == "tools/list":
            await self.outbox.put(
                {"jsonrpc": "2.0", "id": body["id"], "result": {"tools": [{"name": "echo"}]}}
            )
        return httpx.Response(202)


class Stream(httpx.AsyncByteStream):
    """The GET stream; closing it (the client's only way to end a legacy session) is recorded."""

    def __init__(self, server: LegacyServer) -> None:
        self.server = server

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"event: endpoint\ndata: " + self.server.endpoint + b"\n\n"
        while True:
            yield sse(await self.server.outbox.get())

    async def aclose(self) -> None:
        self.server.closed.set()


async def test_the_legacy_sse_transport_is_spoken_too() -> None:
    server = LegacyServer()
    found = await handshake(
        "http://old.ns.svc:8080/sse", address=IP, legacy=True, transport=httpx.MockTransport(server.handle)
    )
    assert (found.introduction.name, found.introduction.protocol_version, found.tools) == (
        "old",
        "2024-11-05",
        ("echo",),
    )
    assert server.posts == [
        "/messages?session_id=abc initialize",
        "/messages?session_id=abc notifications/initialized",
        "/messages?session_id=abc tools/list",
    ]
    assert server.closed.is_set()  # closing the stream is how a legacy session ends


async def test_a_legacy_endpoint_elsewhere_is_refused() -> None:
    server = LegacyServer(endpoint=b"http://evil.example/messages")
    with pytest.raises(Failure) as caught:
        await handshake(
            "http://old.ns.svc:8080/sse",
            address=IP,
            legacy=True,
            transport=httpx.MockTransport(server.handle),
        )
    assert caught.value.reason == Reason.HANDSHAKE_INVALID
    assert "another origin" in caught.value.message
    assert server.posts == []
