"""What only a real API server can answer: schemas, RBAC, Pod Security, GC, server-side apply."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fixtures.cluster import ApiRejected, Cluster, running_operator
from tests.fixtures.rbac import RBAC_DIR
from tests.integration.conftest import KUBECTL
from tests.integration.helpers import package, ready, server

from mcp_operator.k8s import Kube
from mcp_operator.models import MCPPackageSpec, MCPPackageStatus, MCPServerSpec
from mcp_operator.render import deployment as render_deployment
from mcp_operator.render import network as render_network
from mcp_operator.render.inputs import ObjectRef, ServerInput, Settings

pytestmark = [pytest.mark.integration, pytest.mark.controlplane]
APPS = "apps/v1"
API = "mcp-operator.dev/v1alpha1"


@pytest.fixture
async def real(crds_installed: Path, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KUBECONFIG", str(crds_installed))
    client = Cluster(crds_installed, k8s_namespace)
    try:
        yield client
    finally:
        await client.close()


# ------------------------------------------------------------------------------------------ schema

BAD_OBJECTS = [
    (
        "mcppackages",
        {"source": {"type": "npm", "package": "Bad_Name"}},
        "spec.source.package is not a valid npm name",
    ),
    (
        "mcppackages",
        {"source": {"type": "npm", "package": "@scope/" + "a" * 210}},
        "at most 214 characters",
    ),
    (
        "mcppackages",
        {"source": {"type": "pypi", "package": "-leading-dash"}},
        "not a valid PyPI project name",
    ),
    ("mcppackages", {"source": {"type": "oci", "package": "ghcr.io/a/b:latest"}}, "without tag or digest"),
    (
        "mcppackages",
        {"source": {"type": "npm", "package": "ok", "version": "1.2.3; rm -rf /"}},
        "spec.source.version",
    ),
    (
        "mcppackages",
        {"source": {"type": "npm", "package": "ok", "version": "not a range"}},
        "npm version or range",
    ),
    ("mcppackages", {"source": {"type": "pypi", "package": "ok", "version": ">>1"}}, "PEP 440"),
    ("mcppackages", {"source": {"type": "cargo", "package": "ok"}}, "spec.source.type: Unsupported value"),
    ("mcppackages", {"source": {"package": "ok"}}, "spec.source.type: Required value"),
    (
        "mcppackages",
        {"source": {"type": "npm", "package": "ok", "registry": "ftp://mirror"}},
        "spec.source.registry",
    ),
    ("mcpservers", {"package": "x", "transport": "pigeon"}, "spec.transport: Unsupported value"),
    ("mcpservers", {"package": "x", "replicas": -1}, "spec.replicas"),
    ("mcpservers", {"replicas": 1}, "spec.package: Required value"),
    (
        "mcpservers",
        {
            "package": "x",
            "env": [{"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        },
        "set value or valueFrom, not both",
    ),
    ("mcpservers", {"package": "x", "network": {"egress": "maybe"}}, "spec.network.egress"),
]


@pytest.mark.parametrize(("plural", "spec", "message"), BAD_OBJECTS)
async def test_api_server_rejects_invalid_objects_with_our_messages(
    real: Cluster, plural: str, spec: dict[str, Any], message: str
) -> None:
    kind = "MCPPackage" if plural == "mcppackages" else "MCPServer"
    with pytest.raises(ApiRejected) as caught:
        await real.create(
            plural, {"apiVersion": API, "kind": kind, "metadata": {"name": "bad"}, "spec": spec}
        )
    assert caught.value.code == 422
    assert message in caught.value.text


async def test_defaults_come_from_the_schema(real: Cluster) -> None:
    created = await real.create(
        "mcppackages",
        {
            "apiVersion": API,
            "kind": "MCPPackage",
            "metadata": {"name": "d"},
            "spec": {"source": {"type": "npm", "package": "x"}},
        },
    )
    assert created["spec"]["source"]["version"] == "latest"
    assert created["spec"]["install"] == {
        "method": "initContainer",
        "allowScripts": False,
        "wheelsOnly": False,
    }
    created = await real.create(
        "mcpservers",
        {"apiVersion": API, "kind": "MCPServer", "metadata": {"name": "d"}, "spec": {"package": "d"}},
    )
    assert created["spec"]["enabled"] is True
    assert created["spec"]["transport"] == "stdio"
    assert created["spec"]["bridge"] == {
        "sessionMode": "perSession",
        "maxSessions": 100,
        "maxMessageBytes": 16 * 1024 * 1024,
        "sessionIdleTimeout": "30m",
        "requestTimeout": "10m",
    }


# -------------------------------------------------------------------------------- pod security


def _inputs() -> list[ServerInput]:
    status = MCPPackageStatus(resolved_version="1.0.0", integrity="sha512-abc", detected_command=["srv"])
    oci_status = MCPPackageStatus(resolved_version="1.0", integrity="sha256:" + "a" * 64)
    variants = [
        ({"source": {"type": "npm", "package": "srv"}}, {}, status),
        (
            {
                "source": {
                    "type": "npm",
                    "package": "@s/srv",
                    "registry": "https://npm.example",
                    "registryAuthSecret": "c",
                }
            },
            {"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
            status,
        ),
        (
            {"source": {"type": "pypi", "package": "srv"}, "install": {"allowScripts": True}},
            {"bridge": {"sessionMode": "shared"}},
            status,
        ),
        (
            {"source": {"type": "npm", "package": "srv"}},
            {"transport": "sse", "resources": {"limits": {"memory": "256Mi"}}},
            status,
        ),
        (
            {"source": {"type": "oci", "package": "ghcr.io/acme/srv", "version": "1.0"}},
            {"transport": "streamable-http"},
            oci_status,
        ),
    ]
    return [
        ServerInput(
            server=ObjectRef("MCPServer", f"s{i}", "ns", "uid"),
            spec=MCPServerSpec.model_validate({"package": "p", **srv}),
            package=ObjectRef("MCPPackage", "p", "ns"),
            package_spec=MCPPackageSpec.model_validate(pkg),
            package_status=st,
        )
        for i, (pkg, srv, st) in enumerate(variants)
    ]


async def test_every_rendered_pod_passes_the_restricted_pod_security_standard(real: Cluster) -> None:
    # Namespaces are cluster-scoped: label this one for the restricted standard.
    response = await real.http.patch(
        f"/api/v1/namespaces/{real.namespace}",
        json={"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    response.raise_for_status()
    for inp in _inputs():
        template = render_deployment.deployment(inp, Settings())["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": inp.server.name, **template["metadata"]},
            "spec": template["spec"],
        }
        created = await real.http.post(
            f"/api/v1/namespaces/{real.namespace}/pods", json=pod, params={"dryRun": "All"}
        )
        assert created.status_code == 201, f"{inp.spec} / {inp.package_spec}: {created.text}"
    # The check can fail: a privileged variant of the same pod is refused.
    template = render_deployment.deployment(_inputs()[0], Settings())["spec"]["template"]
    template["spec"]["containers"][0]["securityContext"]["privileged"] = True
    template["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": template["spec"]}
    refused = await real.http.post(
        f"/api/v1/namespaces/{real.namespace}/pods", json=pod, params={"dryRun": "All"}
    )
    assert refused.status_code == 403
    assert "violates PodSecurity" in refused.text


# ------------------------------------------------------------------------------------------- RBAC


def _token_kubeconfig(
    controlplane: Any, namespace: str, tmp: Path, rules: str = "operator-rbac.yaml"
) -> Path:
    """A ServiceAccount bound only to the roles in deploy/rbac/`rules`, and a kubeconfig with its token.

    Every Role in the file is bound in `namespace`, which is also the operator's own namespace.
    """
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "mcp-operator", "namespace": namespace},
    }
    with controlplane.client() as client:
        assert client.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", json=sa).status_code == 201
        for role in yaml.safe_load_all((RBAC_DIR / rules).read_text()):
            namespaced = role["kind"] == "Role"
            role["metadata"]["name"] = f"{role['metadata']['name']}-{namespace}"
            if namespaced:
                role["metadata"]["namespace"] = namespace
            binding = {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding" if namespaced else "ClusterRoleBinding",
                "metadata": {
                    "name": role["metadata"]["name"],
                    **({"namespace": namespace} if namespaced else {}),
                },
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": role["kind"],
                    "name": role["metadata"]["name"],
                },
                "subjects": [{"kind": "ServiceAccount", "name": "mcp-operator", "namespace": namespace}],
            }
            base = f"/apis/rbac.authorization.k8s.io/v1{'/namespaces/' + namespace if namespaced else ''}"
            plural = "roles" if namespaced else "clusterroles"
            bindings = "rolebindings" if namespaced else "clusterrolebindings"
            assert client.post(f"{base}/{plural}", json=role).status_code == 201
            assert client.post(f"{base}/{bindings}", json=binding).status_code == 201
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        }
        answer = client.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/mcp-operator/token", json=request
        )
        assert answer.status_code == 201, answer.text
        token = answer.json()["status"]["token"]
    ca = base64.b64encode(Path(controlplane.ca_cert).read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "cp", "cluster": {"server": controlplane.server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [
            {"name": "op", "context": {"cluster": "cp", "user": "operator", "namespace": namespace}}
        ],
        "current-context": "op",
    }
    path = tmp / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_namespaced_permissions_only_start_and_work_without_retrying_403s(
    real: Cluster,
    controlplane: Any,
    npm_registry: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kubeconfig = _token_kubeconfig(controlplane, real.namespace, tmp_path, "operator-role-namespaced.yaml")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    npm_registry.publish_npm("it-nsrbac", "1.0.0", bin={"it-nsrbac": "index.js"})
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    async with running_operator([real.namespace]):
        await real.create("mcppackages", package("nsrbac", "npm", "it-nsrbac", npm_registry.url))
        await real.create("mcpservers", server("nsrbac", "nsrbac", network={"egress": "deny"}))
        await real.wait_for("mcppackages", "nsrbac", ready, timeout=20)
        await real.wait_for("networkpolicies", "nsrbac", lambda o: True, api_version="networking.k8s.io/v1")
        await real.wait_for("mcpservers", "nsrbac", lambda o: (o.get("status") or {}).get("url"), timeout=20)
    assert time.monotonic() - started < 30
    forbidden = [
        r.getMessage() for r in caplog.records if re.search(r"Forbidden|is forbidden", r.getMessage())
    ]
    # kopf may say once that it cannot watch CRDs cluster-wide; nothing of ours is refused, nothing retried.
    ours = [m for m in forbidden if "customresourcedefinitions" not in m]
    assert ours == [], ours
    assert len(forbidden) <= 2, forbidden


# ------------------------------------------------------------------------------ garbage collection


async def test_deleting_a_package_collects_its_server_and_children(real: Cluster, npm_registry: Any) -> None:
    npm_registry.publish_npm("it-gc", "1.0.0", bin={"it-gc": "index.js"})
    async with running_operator([real.namespace]):
        pkg = await real.create("mcppackages", package("gc", "npm", "it-gc", npm_registry.url))
        await real.wait_for("mcppackages", "gc", ready)
        owned = server("gc", "gc")
        # What the install flows (CLI, HTTP API) create: a server owned by its package.
        owned["metadata"]["ownerReferences"] = [
            {
                "apiVersion": API,
                "kind": "MCPPackage",
                "name": "gc",
                "uid": pkg["metadata"]["uid"],
                "blockOwnerDeletion": True,
            }
        ]
        await real.create("mcpservers", owned)
        await real.wait_for("deployments", "gc", lambda o: True, api_version=APPS)
        await real.wait_for("services", "gc", lambda o: True, api_version="v1")
        await real.delete("mcppackages", "gc")
        for plural, api_version in (("mcpservers", API), ("deployments", APPS), ("services", "v1")):
            await real.wait_gone(plural, "gc", api_version=api_version, timeout=60)


# ------------------------------------------------------------------------- server-side apply


async def test_reapplying_unchanged_children_changes_nothing(real: Cluster) -> None:
    # A real owner: the garbage collector deletes children whose owner does not exist.
    owner = await real.create("mcpservers", server("ssa", "p"))
    inp = _inputs()[0]
    inp = ServerInput(
        server=ObjectRef("MCPServer", "ssa", real.namespace, owner["metadata"]["uid"]),
        spec=inp.spec,
        package=inp.package,
        package_spec=inp.package_spec,
        package_status=inp.package_status,
    )
    manifests = [render_deployment.deployment(inp, Settings()), render_network.service(inp, Settings())]
    kube = Kube.from_env()
    try:
        created = [await kube.apply(m) for m in manifests]
        assert created[0]["metadata"]["generation"] == 1
        for manifest, plural, api_version in zip(
            manifests, ("deployments", "services"), (APPS, "v1"), strict=True
        ):
            # Controllers write status meanwhile; an unchanged apply must not write anything itself.
            unchanged = 0
            for _ in range(20):
                before = await real.get(plural, manifest["metadata"]["name"], api_version=api_version)
                assert before is not None
                after = await kube.apply(manifest)
                unchanged += after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
                assert after["metadata"].get("generation") == before["metadata"].get("generation")
                if unchanged >= 3:
                    break
            assert unchanged >= 3, f"re-applying the unchanged {plural} kept writing new resourceVersions"
    finally:
        await kube.close()


async def test_a_field_changed_by_another_manager_is_taken_back(real: Cluster, npm_registry: Any) -> None:
    npm_registry.publish_npm("it-drift", "1.0.0", bin={"it-drift": "index.js"})
    async with running_operator([real.namespace]):
        await real.create("mcppackages", package("drift", "npm", "it-drift", npm_registry.url))
        await real.wait_for("mcppackages", "drift", ready)
        await real.create("mcpservers", server("drift", "drift", replicas=1))
        await real.wait_for("deployments", "drift", lambda o: True, api_version=APPS)
        # Someone scales the Deployment by hand (another field manager): the MCPServer owns replicas.
        subprocess.run(
            [
                str(KUBECTL),
                f"--kubeconfig={real.kubeconfig}",
                "-n",
                real.namespace,
                "scale",
                "deployment/drift",
                "--replicas=3",
            ],
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while True:
            dep = await real.get("deployments", "drift", api_version=APPS)
            assert dep is not None
            if dep["spec"]["replicas"] == 1 and dep["metadata"]["generation"] > 1:
                break
            assert time.monotonic() < deadline, f"replicas not restored: {dep['spec']['replicas']}"
            await asyncio.sleep(0.05)
        managers = {m["manager"] for m in dep["metadata"]["managedFields"]}
        assert "mcp-operator" in managers


async def test_a_foreign_object_with_the_same_name_is_left_alone(real: Cluster, npm_registry: Any) -> None:
    npm_registry.publish_npm("it-clash", "1.0.0", bin={"it-clash": "index.js"})
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "clash"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "theirs"}},
    }
    await real.create("services", foreign, api_version="v1")
    async with running_operator([real.namespace]):
        await real.create("mcppackages", package("clash", "npm", "it-clash", npm_registry.url))
        await real.wait_for("mcppackages", "clash", ready)
        await real.create("mcpservers", server("clash", "clash"))
        obj = await real.wait_for(
            "mcpservers",
            "clash",
            lambda o: any(
                c.get("reason") == "NameConflict" for c in (o.get("status") or {}).get("conditions", [])
            ),
        )
        assert "rename the MCPServer" in obj["status"]["message"]
    svc = await real.get("services", "clash", api_version="v1")
    assert svc is not None
    assert svc["spec"]["selector"] == {"app": "theirs"}


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
async def test_every_example_is_accepted_by_the_api_server(real: Cluster, path: Path) -> None:
    """examples/ are what users copy: each document must pass the CRD schema (a server-side dry
    run, nothing is stored)."""
    for doc in yaml.safe_load_all(path.read_text()):
        plural = {"MCPPackage": "mcppackages", "MCPServer": "mcpservers", "Secret": "secrets"}[doc["kind"]]
        api_version = "v1" if doc["kind"] == "Secret" else API
        url = real.path(api_version, plural, real.namespace) + "?dryRun=All"
        body = {**doc, "metadata": {**doc["metadata"], "namespace": real.namespace}}
        response = await real.http.post(url, json=body)
        assert response.status_code == 201, (
            f"{path.name}: {doc['kind']} {doc['metadata']['name']}: {response.text}"
        )
