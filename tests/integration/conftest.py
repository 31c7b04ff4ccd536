"""Integration fixtures: a Kubernetes API (kmock's emulator), the operator in-process, registries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from tests.fixtures.cluster import Cluster, running_operator
from tests.fixtures.emulator import Emulator

NAMESPACE = "team-a"


@pytest.fixture
async def cluster(emulator: Emulator) -> AsyncIterator[Cluster]:
    client = Cluster(emulator.kubeconfig, NAMESPACE)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[Cluster]:
    # Cluster-wide: kmock 0.8 cannot parse the namespace list kopf reads to watch single namespaces.
    async with running_operator([]):
        yield cluster


@pytest.fixture
async def failing_registry() -> AsyncIterator[str]:
    """A registry that answers every request with 503, like a mirror in trouble."""

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="upstream unavailable")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", unavailable)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()
