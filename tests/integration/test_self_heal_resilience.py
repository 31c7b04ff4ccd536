"""Self-healing converges through API faults and the operator's restart, and decides one reinstall,
not one per retry (issue 9 items 8-10). The emulator has no kubelet: failing pods are written as
the kubelet would report them (a named fake, fake_failing_pod); tests/e2e/test_self_heal.py does
the same with real pods on the real node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cluster import Cluster, running_operator
from tests.fixtures.emulator import Emulator
from tests.fixtures.faults import serve_proxy
from tests.integration.conftest import NAMESPACE
from tests.integration.helpers import emulated_rollout, package, ready, server

from mcp_operator.render.labels import SERVER_LABEL, VERSION_ANNOTATION
from mcp_operator.render.self_heal import REINSTALL_ANNOTATION

pytestmark = pytest.mark.integration
BIN = {"tiny": "index.js"}


def reinstall(obj: dict[str, Any]) -> dict[str, Any]:
    return (obj.get("status") or {}).get("reinstall") or {}


async def fake_failing_pod(cluster: Cluster, name: str, server_name: str, token: str | None = None) -> None:
    """A FAKE, for kmock's emulator only: a pod of the server whose install init container exited
    with the installer's code 4, as the kubelet reports it."""
    annotations = {VERSION_ANNOTATION: "1.0.0", **({REINSTALL_ANNOTATION: token} if token else {})}
    await cluster.create(
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": {SERVER_LABEL: server_name, "app.kubernetes.io/managed-by": "mcp-operator"},
                "annotations": annotations,
            },
            "spec": {"containers": [{"name": "server", "image": "x"}]},
            "status": {
                "phase": "Pending",
                "initContainerStatuses": [
                    {"name": "install", "state": {"terminated": {"exitCode": 4, "reason": "Error"}}}
                ],
            },
        },
        api_version="v1",
    )


@pytest.fixture
async def through_proxy(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Cluster, Any]]:
    """The emulator with the operator's requests going through a fault-injecting proxy; the test
    starts and stops the operator."""
    client = Cluster(emulator.kubeconfig, NAMESPACE, emulator=emulator)
    with serve_proxy(emulator.url, None, tmp_path / "proxy.kubeconfig") as proxy:
        monkeypatch.setenv("KUBECONFIG", str(proxy.kubeconfig))
        monkeypatch.setenv("MCP_OPERATOR_RETRY_CAP", "2")
        monkeypatch.setenv("MCP_OPERATOR_API_TIMEOUT", "2")
        try:
            yield client, proxy
        finally:
            await client.close()


async def test_one_reinstall_through_api_faults_and_a_restart(
    through_proxy: tuple[Cluster, Any], npm_registry
) -> None:
    cluster, proxy = through_proxy
    pkg = cluster.unique("heal-faults")
    npm_registry.publish_npm(pkg, "1.0.0", bin=BIN)
    base = f"/namespaces/{cluster.namespace}"
    async with running_operator([]):
        await cluster.create("mcppackages", package("hf", "npm", pkg, npm_registry.url, "1.0.0"))
        await cluster.wait_for("mcppackages", "hf", ready)
        await cluster.create("mcpservers", server("hf", "hf"))
        dep = await cluster.wait_for("deployments", "hf", lambda o: True, api_version="apps/v1")
        await emulated_rollout(cluster, "hf")
        # The reinstall's status write fails twice, the package's refresh request once.
        proxy.fail("PATCH", base + "/mcpservers/hf/status$", status=500, times=2)
        proxy.fail("PATCH", base + "/mcppackages/hf$", status=503, times=1)
        await fake_failing_pod(cluster, "hf-1", "hf")
        obj = await cluster.wait_for("mcpservers", "hf", lambda o: reinstall(o).get("outcome") == "pending")
        token = reinstall(obj)["token"]
        dep = await cluster.wait_for(
            "deployments",
            "hf",
            lambda d: d["spec"]["template"]["metadata"]["annotations"].get(REINSTALL_ANNOTATION) == token,
            api_version="apps/v1",
        )
        assert len(proxy.injected()) == 3, proxy.injected()
        # Each retry decided the same reinstall (its token comes from the failing pods, not the time).
        said = [e for e in await cluster.events("hf") if e.get("reason") == "Reinstalling"]
        # Announced once, though the retries after the injected faults decided it three times.
        assert [e["message"] for e in said] == [
            "InstallFailed: reinstalling 1.0.0 cleanly (new pods, empty install volume, metadata re-read)"
        ]

    # Restarted, the operator neither forgets the reinstall nor starts another one: when the pods
    # of the reinstall fail too, it is the same reinstall that failed.
    async with running_operator([]):
        await fake_failing_pod(cluster, "hf-2", "hf", token=token)
        obj = await cluster.wait_for("mcpservers", "hf", lambda o: reinstall(o).get("outcome") == "failed")
        assert reinstall(obj)["token"] == token
        assert obj["status"]["phase"] == "Failed"
        dep = await cluster.get("deployments", "hf", api_version="apps/v1")
        assert dep is not None
        assert dep["spec"]["template"]["metadata"]["annotations"][REINSTALL_ANNOTATION] == token
        events = [e for e in await cluster.events("hf") if e.get("reason") == "InstallFailed"]
        assert len(events) == 1, events  # "a clean reinstall of 1.0.0 did not help", once
