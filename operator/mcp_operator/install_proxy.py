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

from mcp_operator.registries.http import DEFAULT_TIMEOUT, auth_headers
from mcp_operator.registries.types import Credentials

REWRITTEN = ("text/html", "application/vnd.pypi.simple", "application/json")
MAX_PAGE = 64 * 1024 * 1024  # an index page rewritten in memory, at most
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
        upstream = self.client.build_request(request.method, target, headers=headers)
        response = await self.client.send(upstream, stream=True, follow_redirects=True)
        try:
            passed = {k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS}
            kind = response.headers.get("content-type", "")
            if request.method == "GET" and kind.startswith(REWRITTEN):
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_PAGE:
                        return web.Response(status=502, text="index page too large for the install proxy")
                text = bytes(body).replace(self.origin.encode(), self.base.encode())
                passed.pop("etag", None)
                return web.Response(status=response.status_code, body=text, headers=passed)
            out = web.StreamResponse(status=response.status_code, headers=passed)
            await out.prepare(request)
            async for chunk in response.aiter_bytes():
                await out.write(chunk)
            await out.write_eof()
            return out
        finally:
            await response.aclose()


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
