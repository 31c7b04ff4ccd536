"""spec.bridge on a real API server: the CRD schema refuses bad values with messages, fills in the
bridge's defaults, and a pod with the bearer-token Secret volume passes the restricted Pod Security
Standard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cluster import ApiRejected, Cluster

from mcp_operator.models import MCPPackageSpec, MCPPackageStatus, MCPServerSpec
from mcp_operator.render import deployment as render_deployment
from mcp_operator.render.inputs import ObjectRef, ServerInput, Settings

pytestmark = [pytest.mark.integration, pytest.mark.controlplane]
API = "mcp-operator.dev/v1alpha1"


@pytest.fixture
async def real(
    crds_installed: Path, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cluster]:
    monkeypatch.setenv("KUBECONFIG", str(crds_installed))
    client = Cluster(crds_installed, k8s_namespace)
    try:
        yield client
    finally:
        await client.close()


def mcp_server(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"package": "x", **spec},
    }


BAD = [
    ({"bridge": {"maxSessions": 0}}, "spec.bridge.maxSessions"),
    ({"bridge": {"maxMessageBytes": 10}}, "spec.bridge.maxMessageBytes"),
    ({"bridge": {"sessionIdleTimeout": "0s"}}, "spec.bridge.sessionIdleTimeout"),
    ({"bridge": {"requestTimeout": "10 minutes"}}, "spec.bridge.requestTimeout"),
    ({"bridge": {"allowedOrigins": ["app.example"]}}, "spec.bridge.allowedOrigins[0]"),
    ({"bridge": {"auth": {}}}, "spec.bridge.auth.secretRef: Required value"),
    ({"bridge": {"auth": {"secretRef": {"name": "s", "key": "a key"}}}}, "spec.bridge.auth.secretRef.key"),
    (
        {"transport": "sse", "bridge": {"auth": {"secretRef": {"name": "s"}}}},
        "spec.bridge.auth needs transport stdio",
    ),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
async def test_bad_bridge_settings_are_refused(real: Cluster, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiRejected) as caught:
        await real.create("mcpservers", mcp_server("bad", **spec))
    assert caught.value.code == 422
    assert message in caught.value.text
    # The operator's own check refuses it too.
    with pytest.raises(ValueError, match="validation error"):
        MCPServerSpec.model_validate({"package": "x", **spec})


async def test_the_bridge_defaults_are_the_bridges_own(real: Cluster) -> None:
    created = await real.create(
        "mcpservers", mcp_server("defaults", bridge={"auth": {"secretRef": {"name": "mcp-token"}}})
    )
    assert created["spec"]["bridge"] == {
        "sessionMode": "perSession",
        "auth": {"secretRef": {"name": "mcp-token", "key": "token"}},
        "maxSessions": 100,
        "maxMessageBytes": 16777216,
        "sessionIdleTimeout": "30m",
        "requestTimeout": "10m",
    }
    good = {
        "allowedOrigins": ["https://app.example", "http://localhost:*", "*", "null"],
        "requestTimeout": "1h0m",
    }
    await real.create("mcpservers", mcp_server("good", bridge=good))
    assert MCPServerSpec.model_validate(created["spec"]).bridge.auth is not None


async def test_a_pod_with_the_token_volume_passes_the_restricted_standard(real: Cluster) -> None:
    response = await real.http.patch(
        f"/api/v1/namespaces/{real.namespace}",
        json={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    response.raise_for_status()
    inp = ServerInput(
        server=ObjectRef(kind="MCPServer", name="auth", namespace=real.namespace, uid="u", generation=1),
        spec=MCPServerSpec.model_validate(
            {
                "package": "p",
                "bridge": {"auth": {"secretRef": {"name": "mcp-token"}}, "allowedOrigins": ["*"]},
            }
        ),
        package=ObjectRef(kind="MCPPackage", name="p", namespace=real.namespace, uid="p"),
        package_spec=MCPPackageSpec.model_validate({"source": {"type": "npm", "package": "p"}}),
        package_status=MCPPackageStatus.model_validate(
            {"resolvedVersion": "1.0.0", "integrity": "sha512-x", "detectedCommand": ["p"]}
        ),
    )
    template = render_deployment.deployment(inp, Settings())["spec"]["template"]
    assert any("secret" in volume for volume in template["spec"]["volumes"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "auth"}, "spec": template["spec"]}
    created = await real.http.post(
        f"/api/v1/namespaces/{real.namespace}/pods", json=pod, params={"dryRun": "All"}
    )
    assert created.status_code == 201, created.text
