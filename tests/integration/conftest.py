"""Integration fixtures: a Kubernetes API, the operator in-process, local registries.

Every test that asks for `operator` runs twice: against kmock's emulator (fast, API-level) and
against the real control plane built from upstream modules (schemas, controllers, admission).
"""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from tests.bridge.conftest import start_bridge  # noqa: F401 (a fixture: a real bridge on loopback)
from tests.fixtures.cluster import Cluster, collect_closed_loop_garbage, running_operator
from tests.fixtures.emulator import Emulator
from tests.fixtures.faults import FaultProxy, serve_proxy

NAMESPACE = "team-a"
ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".cache" / "bin" / "kubectl"


@pytest.fixture(scope="session")
def crds_installed(controlplane) -> Path:
    """The generated CRDs, installed once per session with server-side apply, and Established."""
    for args in (
        ["apply", "--server-side", "-f", str(ROOT / "crds")],
        ["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
    ):
        subprocess.run([str(KUBECTL), f"--kubeconfig={controlplane.kubeconfig}", *args], check=True)
    # Established is not yet served: wait until the new resources answer lists.
    deadline = time.monotonic() + 60
    with controlplane.client() as client:
        for plural in ("mcppackages", "mcpservers"):
            while client.get(f"/apis/mcp-operator.dev/v1alpha1/{plural}").status_code != 200:
                assert time.monotonic() < deadline, f"{plural} not served 60s after the CRDs were applied"
                time.sleep(0.1)
    return Path(controlplane.kubeconfig)


@pytest.fixture(params=["emulator", pytest.param("controlplane", marks=pytest.mark.controlplane)])
async def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    if request.param == "emulator":
        emulator: Emulator = request.getfixturevalue("emulator")
        client = Cluster(emulator.kubeconfig, NAMESPACE, emulator=emulator)
    else:
        kubeconfig = request.getfixturevalue("crds_installed")
        namespace = request.getfixturevalue("k8s_namespace")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        client = Cluster(kubeconfig, namespace)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def emulated(emulator: Emulator) -> AsyncIterator[Cluster]:
    """The emulator alone: for objects a real API server's schema would reject before the operator."""
    client = Cluster(emulator.kubeconfig, NAMESPACE, emulator=emulator)
    try:
        async with running_operator([]):
            yield client
    finally:
        await client.close()


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[Cluster]:
    # kmock 0.8 cannot parse the namespace list kopf reads to watch single namespaces, so the
    # operator watches the emulator cluster-wide; on the real API server it watches the test's.
    async with running_operator([] if cluster.emulator else [cluster.namespace]):
        yield cluster


def api_upstream(cluster: Cluster, request: pytest.FixtureRequest) -> tuple[str, ssl.SSLContext | None]:
    """Where the Kubernetes API of this parametrization answers, and how to trust it."""
    if cluster.emulator is not None:
        return cluster.emulator.url, None
    controlplane = request.getfixturevalue("controlplane")
    return controlplane.server, controlplane.state.ssl_context()


@contextlib.asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """An aiohttp app on a free loopback port, for as long as the block runs; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


@pytest.fixture
async def failing_registry() -> AsyncIterator[str]:
    """A registry that answers every request with 503, like a mirror in trouble."""

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="upstream unavailable")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", unavailable)
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def faulty(
    cluster: Cluster, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Cluster, FaultProxy]]:
    """The operator talking to the API through a proxy that fails the requests a test names.

    Retries are capped at 2 s and API requests time out after 2 s, so recovery is quick to see.
    """
    upstream, context = api_upstream(cluster, request)
    with serve_proxy(upstream, context, tmp_path / "proxy.kubeconfig") as proxy:
        monkeypatch.setenv("KUBECONFIG", str(proxy.kubeconfig))
        monkeypatch.setenv("MCP_OPERATOR_RETRY_CAP", "2")
        monkeypatch.setenv("MCP_OPERATOR_API_TIMEOUT", "2")
        async with running_operator([] if cluster.emulator else [cluster.namespace]):
            yield cluster, proxy
    # Connections this fixture broke on purpose (hung answers, streams cut when the proxy stops)
    # belong to this test: collect them here, not in some later test.
    collect_closed_loop_garbage()
