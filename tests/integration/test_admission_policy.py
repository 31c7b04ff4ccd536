"""The admission policy example in deploy/policies/ (docs/security.md) works on a real API server:
an MCPPackage from a registry the admin did not list is refused at create, with the policy's
message; one from a listed registry is admitted. The binding is narrowed to the test's namespace
so that other tests on the shared control plane are not affected."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fixtures.cluster import ApiRejected, Cluster
from tests.integration.helpers import package

pytestmark = [pytest.mark.integration, pytest.mark.controlplane]
POLICY = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "allowed-sources.yaml"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def documents(namespace: str, registries: str) -> list[dict[str, Any]]:
    policy, binding, params = list(yaml.safe_load_all(POLICY.read_text()))
    suffix = f"-{namespace}"
    policy["metadata"]["name"] += suffix
    binding["metadata"]["name"] += suffix
    binding["spec"]["policyName"] = policy["metadata"]["name"]
    binding["spec"]["paramRef"]["namespace"] = namespace
    binding["spec"]["matchResources"] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    params["metadata"]["namespace"] = namespace
    params["data"]["registries"] = registries
    return [policy, binding, params]


async def test_the_shipped_policy_refuses_registries_not_listed(
    controlplane: Any, crds_installed: Path, k8s_namespace: str, npm_registry: Any
) -> None:
    policy, binding, params = documents(k8s_namespace, f"{npm_registry.url} ghcr.io/acme/")
    cluster = Cluster(crds_installed, k8s_namespace)
    with controlplane.client(timeout=10) as client:
        assert client.post(f"/api/v1/namespaces/{k8s_namespace}/configmaps", json=params).status_code == 201
        assert client.post(f"{ADMISSION}/validatingadmissionpolicies", json=policy).status_code == 201
        assert client.post(f"{ADMISSION}/validatingadmissionpolicybindings", json=binding).status_code == 201
        try:
            # The policy takes effect asynchronously: wait (bounded) until a refusal shows it does.
            deadline = time.monotonic() + 30
            while True:
                try:
                    await cluster.create("mcppackages", package("probe", "npm", "x", "https://evil.example"))
                except ApiRejected as exc:
                    refused = str(exc)
                    break
                await cluster.delete("mcppackages", "probe")
                assert time.monotonic() < deadline, "the admission policy never took effect"
            assert "https://evil.example is not an allowed registry" in refused
            assert npm_registry.url in refused
            assert "ask the cluster admin" in refused
            default = package("default", "npm", "x", "https://x.example")
            del default["spec"]["source"]["registry"]  # registry.npmjs.org
            with pytest.raises(ApiRejected, match="the public default registry is not an allowed registry"):
                await cluster.create("mcppackages", default)
            await cluster.create("mcppackages", package("listed", "npm", "x", npm_registry.url))
            image = package("image", "oci", "ghcr.io/acme/srv", "https://x.example")
            del image["spec"]["source"]["registry"]
            await cluster.create("mcppackages", image)
            other = package("other", "oci", "quay.io/acme/srv", "https://x.example")
            del other["spec"]["source"]["registry"]
            with pytest.raises(ApiRejected, match=r"quay\.io/acme/srv is not an allowed registry"):
                await cluster.create("mcppackages", other)
        finally:
            name = binding["metadata"]["name"]
            client.delete(f"{ADMISSION}/validatingadmissionpolicybindings/{name}")
            client.delete(f"{ADMISSION}/validatingadmissionpolicies/{policy['metadata']['name']}")
            await cluster.close()
