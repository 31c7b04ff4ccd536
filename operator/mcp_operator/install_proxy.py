"""A loopback proxy that adds registry credentials, so that pip never holds them.

pip runs third-party code while it installs: the build backends of sdists (setup.py, hatch, ...)
in subprocesses that inherit pip's environment and can read its files. Credentials in
PIP_INDEX_URL or a config file would be theirs to read. Instead pip is pointed at this proxy, on
127.0.0.1 for the duration of the install, which forwards GET and HEAD requests to the one
registry the credentials are bound to (registries/binding.py) and adds them there; nothing else is
forwarded, and the credentials never leave this process. Links in index pages that name the
registry are rewritten to the proxy, so files on the registry's own host are fetched through it.
Third-party code running meanwhile can still fetch from that registry through the proxy (it is
the index), but never sees the token or password (docs/security.md#registry-credentials).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
from aiohttp import web

from mcp_operator.registries import bounded
from mcp_operator.registries.errors import RegistryError, TooLarge
from mcp_operator.registries.http import DEFAULT_TIMEOUT, auth_headers, redact
from mcp_operator.registries.types import Credentials

REWRITTEN = ("text/html", "application/vnd.pypi.simple", "application/json")
MAX_FILE = 512 * 1024 * 1024  # a file passed through, at most (the installer's artifact cap)
DEADLINE = 600.0  # seconds one request through the proxy may take in all
STARTED = web.RequestKey("started", web.StreamResponse)  # set once an answer's headers are sent
PASSED_HEADERS = ("content-type", "etag", "last-modified", "cache-control")


class _Proxy:
    def __init__(self, upstream: str, credentials: Credentials) -> None:
        parts = urlsplit(upstream)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.credentials = credentials
        self.base = ""  # http://127.0.0.1:<port>, once listening
        self.client: httpx.AsyncClient | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="the install proxy forwards GET and HEAD only")
        target = self.origin + request.path_qs
        # auth_headers adds nothing for a URL the credentials are not bound to.
        headers = {"Accept": request.headers.get("Accept", "*/*"), **auth_headers(self.credentials, target)}
        assert self.client is not None
        where = redact(target)
        try:
            async with asyncio.timeout(DEADLINE):
                return await self._forward(request, target, headers, where)
        except (TimeoutError, RegistryError, httpx.HTTPError) as exc:
            started = request.get(STARTED)
            if isinstance(started, web.StreamResponse):  # the answer has begun: cut it short
                if request.transport is not None:
                    request.transport.close()
                return started
            return web.Response(status=502, text=f"the install proxy could not fetch {where}: {exc}")

    async def _forward(
        self, request: web.Request, target: str, headers: dict[str, str], where: str
    ) -> web.StreamResponse:
        """Bounded like every registry read (registries/bounded.py): index pages within the document
        cap, rewritten; anything else streamed within the artifact cap."""
        assert self.client is not None
        async with bounded.streaming(self.client, request.method, target, headers=headers) as response:
            passed = {k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS}
            kind = response.headers.get("content-type", "")
            if request.method == "GET" and kind.startswith(REWRITTEN):
                cap = bounded.document_cap()
                body = await bounded.read_body(response, what="an index page", where=where, cap=cap)
                passed.pop("etag", None)
                text = body.replace(self.origin.encode(), self.base.encode())
                return web.Response(status=response.status_code, body=text, headers=passed)
            out = web.StreamResponse(status=response.status_code, headers=passed)
            await out.prepare(request)
            request[STARTED] = out
            sent = 0
            async for chunk in bounded.iter_decoded(response, what="a file", where=where):
                sent += len(chunk)
                if sent > MAX_FILE:
                    raise TooLarge(f"a file from {where} is larger than {MAX_FILE} bytes")
                await out.write(chunk)
            await out.write_eof()
            return out


@contextmanager
def credential_proxy(upstream: str, credentials: Credentials) -> Iterator[str]:
    """Serve the proxy on a loopback port in a thread of its own for the block; yields the URL that
    stands for `upstream` (same path)."""
    proxy = _Proxy(upstream, credentials)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            proxy.base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as client:
                proxy.client = client
                ready.set()
                await stop.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:
            failure.append(exc)
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, name="install-proxy", daemon=True)
    thread.start()
    ready.wait(30)
    if failure or not proxy.base:
        raise RuntimeError(f"the install proxy did not start: {failure[0] if failure else 'timeout'}")
    try:
        yield proxy.base + urlsplit(upstream).path
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
