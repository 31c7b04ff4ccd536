"""Smoke tests of the local control plane: each checks one thing only a real API server
and controller manager do."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.controlplane import ControlPlane

pytestmark = pytest.mark.controlplane

KUBERNETES_VERSION = "v1.36.3"


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll condition() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def api(controlplane: ControlPlane) -> Iterator[httpx.Client]:
    with controlplane.client() as client:
        yield client


def test_api_server_answers(controlplane: ControlPlane, api: httpx.Client) -> None:
    assert controlplane.kubeconfig.is_file()
    assert controlplane.server.startswith("https://127.0.0.1:")
    assert api.get("/readyz").status_code == 200
    assert api.get("/version").json()["gitVersion"] == KUBERNETES_VERSION
    # Anonymous requests are not cluster admin: RBAC is in force.
    trust = ssl.create_default_context(cafile=str(controlplane.ca_cert))
    with httpx.Client(base_url=controlplane.server, verify=trust) as anonymous:
        assert anonymous.get("/api/v1/namespaces").status_code in (401, 403)


def test_deployment_gets_a_replicaset(api: httpx.Client, k8s_namespace: str) -> None:
    labels = {"app": "smoke"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "smoke"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "registry.invalid/smoke:1"}]},
            },
        },
    }
    response = api.post(f"/apis/apps/v1/namespaces/{k8s_namespace}/deployments", json=deployment)
    assert response.status_code == 201, response.text
    uid = response.json()["metadata"]["uid"]

    def owned_replicasets() -> list[dict[str, Any]]:
        items = api.get(f"/apis/apps/v1/namespaces/{k8s_namespace}/replicasets").json()["items"]
        return [
            rs for rs in items if any(ref["uid"] == uid for ref in rs["metadata"].get("ownerReferences", []))
        ]

    replicasets = wait_for(owned_replicasets, 60, "the deployment controller to create a ReplicaSet")
    assert replicasets[0]["spec"]["replicas"] == 1


def test_owner_deletion_garbage_collects_dependents(api: httpx.Client, k8s_namespace: str) -> None:
    base = f"/api/v1/namespaces/{k8s_namespace}/configmaps"
    owner = api.post(base, json={"metadata": {"name": "owner"}, "data": {"k": "v"}})
    assert owner.status_code == 201, owner.text
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.json()["metadata"]["uid"],
    }
    owned = api.post(base, json={"metadata": {"name": "owned", "ownerReferences": [reference]}})
    assert owned.status_code == 201, owned.text
    bystander = api.post(base, json={"metadata": {"name": "bystander"}})
    assert bystander.status_code == 201, bystander.text

    assert api.delete(f"{base}/owner").status_code == 200
    wait_for(
        lambda: api.get(f"{base}/owned").status_code == 404,
        90,
        "the garbage collector to delete the owned ConfigMap",
    )
    assert api.get(f"{base}/bystander").status_code == 200


def test_privileged_pod_rejected_by_pod_security(api: httpx.Client, k8s_namespace: str) -> None:
    patched = api.patch(
        f"/api/v1/namespaces/{k8s_namespace}",
        json={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    pods = f"/api/v1/namespaces/{k8s_namespace}/pods"

    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [{"name": "main", "image": "busybox", "securityContext": {"privileged": True}}]
        },
    }
    rejected = api.post(pods, json=privileged)
    assert rejected.status_code == 403, rejected.text
    assert 'violates PodSecurity "restricted:latest"' in rejected.json()["message"]
    assert "privileged" in rejected.json()["message"]

    # A pod that meets the restricted profile is admitted: the rejection above is PodSecurity's.
    restricted = {
        "metadata": {"name": "restricted"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    admitted = api.post(pods, json=restricted)
    assert admitted.status_code == 201, admitted.text
