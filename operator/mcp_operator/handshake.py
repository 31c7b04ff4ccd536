"""The operator's MCP client: one bounded handshake with a running server, nothing more.

initialize, notifications/initialized, tools/list (following nextCursor up to a bound), then the
session is ended (DELETE with its Mcp-Session-Id; for the legacy SSE transport, closing the
stream). Answers may be JSON or a text/event-stream. The whole exchange has one deadline, every
answer a size cap (read as it streams), and only same-origin 307/308 redirects are followed. Every
way it can fail is a `Failure` with the reason and message of the Verified condition; nothing else
escapes. The pure half (messages, strict parsing, bounds) is render/mcp_answers.py.

The operator does not use the `mcp` SDK at runtime: this client needs a small part of the
protocol, and being strict about that part is easier to see in one file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import ssl
import urllib.parse
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from mcp_operator.reasons import Reason
from mcp_operator.render.mcp_answers import (
    MAX_ANSWER,
    MAX_PAGES,
    EventStream,
    Failure,
    Introduction,
    ToolNames,
    Verification,
    endpoint,
    initialize,
    introduction,
    invalid,
    notification,
    parse_message,
    quote,
    redirect,
    request,
    response_in,
    result_of,
    session_id,
    tool_page,
    via,
)

SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
MAX_REDIRECTS = 2
DRAIN_GRACE = 0.5  # after its response, how long a POST's event stream may take to end
END_TIMEOUT = 2.0  # for the DELETE that ends the session, after the handshake's own deadline
Chunks = AsyncGenerator[bytes, None]


@functools.cache
def _version() -> str:
    try:
        return importlib.metadata.version("mcp-operator")
    except importlib.metadata.PackageNotFoundError:
        return "0"


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


async def handshake(
    url: str,
    *,
    address: str | None = None,
    legacy: bool = False,
    within: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
    token: str | None = None,
) -> Verification:
    """Handshake with the MCP server at `url` (Streamable HTTP, or the legacy SSE transport's
    stream URL when `legacy`), connecting to `address` when given (a cluster IP) with the URL's
    host as Host, and sending `token` as a bearer token when given (only to the URL's origin:
    redirects and the legacy endpoint must stay on it). Raises Failure, and only Failure."""
    where = f"{url} (cluster IP {address})" if address else url
    async with httpx.AsyncClient(
        transport=transport,
        trust_env=False,  # in-cluster traffic: no proxies from the environment
        follow_redirects=False,
        verify=_tls(),
        timeout=httpx.Timeout(within),
        # One connection carries the session (it lives on the pod the connection reaches); the
        # legacy transport needs a second one for its POSTs while the stream stays open.
        limits=httpx.Limits(max_connections=2 if legacy else 1, max_keepalive_connections=1),
    ) as http:
        exchange = _Exchange(http, url, address, token)
        try:
            async with asyncio.timeout(within):
                return await (exchange.legacy() if legacy else exchange.streamable())
        except TimeoutError:
            raise Failure(
                Reason.HANDSHAKE_TIMEOUT, f"{where} did not complete the handshake within {within:g} s"
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Failure(Reason.SERVER_UNREACHABLE, f"could not connect to {where}: {_said(exc)}") from None
        except httpx.TimeoutException:
            raise Failure(
                Reason.HANDSHAKE_TIMEOUT, f"{where} stopped answering during the handshake"
            ) from None
        except httpx.HTTPError as exc:
            raise Failure(
                Reason.SERVER_UNREACHABLE, f"the connection to {where} failed: {_said(exc)}"
            ) from None
        finally:
            await exchange.end()


def _said(exc: Exception) -> str:
    return quote(str(exc) or type(exc).__name__)


class _Exchange:
    """One handshake's state: where it talks to, its session, the ids it used."""

    def __init__(self, http: httpx.AsyncClient, url: str, address: str | None, token: str | None) -> None:
        self.http, self.url, self.address, self.token = http, url, address, token
        self.host = urllib.parse.urlsplit(url).netloc
        self.session: str | None = None
        self.protocol: str | None = None
        self.last_id = 0
        self.stream: httpx.Response | None = None  # the legacy transport's GET stream
        self.events: _LegacyEvents | None = None  # and its events
        self.post_url = url  # where the legacy transport's messages go (its endpoint event)

    # ---------------------------------------------------------------------------- Streamable HTTP
    async def streamable(self) -> Verification:
        response = await self.call("initialize", initialize(_version()))
        intro = introduction(response)
        self.protocol = intro.protocol_version
        await self.notify("notifications/initialized")
        return await self.tools(intro)

    async def tools(self, intro: Introduction) -> Verification:
        names = ToolNames()
        if intro.has_tools:
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                found, cursor = tool_page(await self.call("tools/list", {"cursor": cursor} if cursor else {}))
                names.add(found)
                if cursor is None:
                    break
            names.complete = cursor is None
        return Verification(intro, tuple(names.names), names.count, names.complete)

    async def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.last_id += 1
        rid = self.last_id
        if self.stream is not None:
            return await self.legacy_call(rid, method, params)
        response = await self.send("POST", method, request(rid, method, params))
        try:
            await _check(response, method)
            if method == "initialize":
                self.session = session_id(response.headers.get(SESSION_HEADER))
            kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
            async with contextlib.aclosing(_chunks(response, method)) as chunks:
                if kind == "application/json":
                    body = b"".join([chunk async for chunk in chunks])
                    return result_of(parse_message(body, method), rid, method)
                if kind == "text/event-stream":
                    return await _from_events(chunks, rid, method)
            raise invalid(
                f"{method}: the answer's Content-Type is {quote(kind)}, neither application/json nor "
                "text/event-stream"
            )
        finally:
            await response.aclose()

    async def notify(self, method: str) -> None:
        if self.stream is not None:
            return await self.legacy_post(method, notification(method))
        response = await self.send("POST", method, notification(method))
        try:
            await _check(response, method)
            async with contextlib.aclosing(_chunks(response, method)) as chunks:
                async for _ in chunks:
                    pass
        finally:
            await response.aclose()

    def headers(self, accept: str = "application/json, text/event-stream") -> dict[str, str]:
        headers = {
            "Host": self.host,
            "Accept": accept,
            "Accept-Encoding": "identity",
            "Content-Type": "application/json",
            "User-Agent": f"mcp-operator/{_version()}",
        }
        if self.session is not None:
            headers[SESSION_HEADER] = self.session
        if self.protocol is not None:
            headers[VERSION_HEADER] = self.protocol
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def send(
        self, verb: str, method: str, body: bytes | None, accept: str | None = None, url: str | None = None
    ) -> httpx.Response:
        """The streamed response, after same-origin 307/308 redirects; the caller closes it."""
        target = url or self.url
        for _ in range(MAX_REDIRECTS + 1):
            headers = self.headers(accept) if accept else self.headers()
            built = self.http.build_request(verb, via(target, self.address), content=body, headers=headers)
            response = await self.http.send(built, stream=True)
            if response.status_code not in (307, 308):
                if url is None:
                    self.url = target
                return response
            location = response.headers.get("location")
            await response.aclose()
            moved = redirect(target, location)
            if moved is None:
                raise Failure(
                    Reason.HANDSHAKE_REFUSED,
                    f"{method}: HTTP {response.status_code} redirect to {quote(location or '')}: the "
                    "operator follows redirects on the same origin only",
                )
            target = moved
        raise Failure(Reason.HANDSHAKE_REFUSED, f"{method}: more than {MAX_REDIRECTS} redirects")

    async def end(self) -> None:
        """End the session on the server: close the legacy stream, or DELETE the session (a server
        may answer 405: it keeps sessions until they idle out). Never raises."""
        stream, events, self.stream, self.events = self.stream, self.events, None, None
        with contextlib.suppress(httpx.HTTPError, TimeoutError, Failure):
            async with asyncio.timeout(END_TIMEOUT):
                if events is not None:
                    await events.chunks.aclose()
                if stream is not None:
                    await stream.aclose()
                elif self.session is not None:
                    headers = self.headers()
                    built = self.http.build_request("DELETE", via(self.url, self.address), headers=headers)
                    await (await self.http.send(built)).aclose()

    # ------------------------------------------------------------------------- legacy HTTP+SSE
    async def legacy(self) -> Verification:
        self.stream = await self.send("GET", "GET", None, accept="text/event-stream")
        await _check(self.stream, "GET")
        kind = self.stream.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "text/event-stream":
            raise invalid(f"GET: the answer's Content-Type is {quote(kind)}, not text/event-stream")
        events = self.events = _LegacyEvents(self.stream)
        event, data = await events.first()
        if event != "endpoint":
            raise invalid(f"GET: the stream's first event is {quote(event)}, not endpoint")
        self.post_url = endpoint(self.url, data)
        return await self.streamable()

    async def legacy_call(self, rid: int, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        assert self.events is not None
        await self.legacy_post(method, request(rid, method, params))
        return await self.events.response(rid, method)

    async def legacy_post(self, method: str, body: bytes) -> None:
        response = await self.send("POST", method, body, url=self.post_url)
        try:
            await _check(response, method)
        finally:
            await response.aclose()


class _LegacyEvents:
    """The events of the legacy transport's one stream, with the size cap applied per answer."""

    def __init__(self, response: httpx.Response) -> None:
        self.chunks, self.parser = _chunks(response, "GET", limit=None), EventStream()
        self.pending: list[tuple[str, bytes]] = []

    async def first(self) -> tuple[str, bytes]:
        await self._more("GET", 0)
        return self.pending.pop(0)

    async def response(self, rid: int, method: str) -> dict[str, Any]:
        size = 0
        while True:
            result = response_in(self.pending, rid, method)
            self.pending = []
            if result is not None:
                return result
            size = await self._more(method, size)

    async def _more(self, method: str, size: int) -> int:
        """Read until events are pending; the bytes read for this answer so far."""
        while not self.pending:
            try:
                chunk = await anext(self.chunks)
            except StopAsyncIteration:
                self.pending = self.parser.feed(b"", final=True)
                if self.pending:
                    break
                raise invalid(f"{method}: the event stream ended before the answer") from None
            size += len(chunk)
            if size > MAX_ANSWER:
                raise invalid(f"{method}: the answer is larger than {MAX_ANSWER // 1024} KiB")
            self.pending = self.parser.feed(chunk)
        return size


async def _check(response: httpx.Response, method: str) -> None:
    """Refuse a compressed answer (never asked for), an HTTP error, or a redirect not followed."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise invalid(f"{method}: the answer is compressed ({quote(encoding)}) though identity was asked for")
    code = response.status_code
    if code >= 300:
        said = b""
        with contextlib.suppress(httpx.HTTPError, Failure):
            async with contextlib.aclosing(_chunks(response, method)) as chunks:
                async for chunk in chunks:
                    said += chunk
                    if len(said) >= 512:
                        break
        detail = f": {quote(said.decode(errors='replace').strip())}" if said.strip() else ""
        where = f" to {quote(response.headers.get('location', ''))}" if 300 <= code < 400 else ""
        raise Failure(Reason.HANDSHAKE_REFUSED, f"{method}: HTTP {code}{where}{detail}")


async def _chunks(response: httpx.Response, method: str, limit: int | None = MAX_ANSWER) -> Chunks:
    """The answer's bytes as they arrive; Failure once they pass `limit`. (`_check` refused any
    content encoding first, so these are the bytes the server sent.)"""
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if limit is not None and size > limit:
            raise invalid(f"{method}: the answer is larger than {MAX_ANSWER // 1024} KiB")
        yield chunk


async def _from_events(chunks: Chunks, rid: int, method: str) -> dict[str, Any]:
    """The response to `rid` from a POST's event stream."""
    parser = EventStream()
    async for chunk in chunks:
        result = response_in(parser.feed(chunk), rid, method)
        if result is not None:
            await _drain(chunks)
            return result
    result = response_in(parser.feed(b"", final=True), rid, method)
    if result is None:
        raise invalid(f"{method}: the event stream ended without the response")
    return result


async def _drain(chunks: Chunks) -> None:
    """Read the rest of a stream for a moment, so that its connection can carry the next request
    (the session lives on the pod this connection reaches)."""
    with contextlib.suppress(TimeoutError, Failure):
        async with asyncio.timeout(DRAIN_GRACE):
            async for _ in chunks:
                pass


__all__ = ["Failure", "Verification", "handshake"]
