"""Least privilege, proven on the real control plane: the operator runs under exactly the RBAC we ship
(deploy/rbac/), in each mode, through a proxy that logs every API request it makes, while it does its
main flows. Every request must be one the shipped RBAC allows (this fails when the code needs a verb
the RBAC lacks), none may be answered 403, and every grant must be used by some request of the run
or be listed in UNUSED_BUT_KEPT with the reason (so grants the code does not use cannot creep back).
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fixtures.cluster import Cluster, running_operator
from tests.fixtures.faults import serve_proxy
from tests.fixtures.rbac import CLUSTER_WIDE, NAMESPACED, Logged, check_requests, grants
from tests.integration.helpers import package, ready, server
from tests.integration.test_api_server import _token_kubeconfig
from tests.integration.test_predefined import marks, release_all, wait_marks

from mcp_operator.predefined import FINALIZER

pytestmark = [pytest.mark.integration, pytest.mark.controlplane]
BIN = {"tiny": "index.js"}

# Grants that no request of the run below uses, and why they stay, keyed by mode and then by the
# grant as str(Grant) prints it, e.g. "ClusterRole mcp-operator: get core/secrets": "why". Empty: every
# rule we ship is used by the main flows. A grant listed here that the run uses, or that the manifest
# no longer makes, fails the test too, so the list cannot go stale.
UNUSED_BUT_KEPT: dict[str, dict[str, str]] = {
    "cluster-wide": {},
    "namespaced": {},
}


async def annotate(cluster: Cluster, plural: str, name: str, key: str, value: str) -> None:
    await cluster.patch(plural, name, {"metadata": {"annotations": {f"mcp-operator.dev/{key}": value}}})


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


async def main_flows(admin: Cluster, npm_registry: Any, name: str) -> None:
    """What the operator does for users: a predefined package started, a package resolved with
    registry credentials, a server with its children, an update check, an upgrade, a retry, egress
    back to allow, uninstalls, a predefined package installed again."""
    ns = admin.namespace
    # The predefined package of the start (MCP_OPERATOR_PREDEFINED): created with its server.
    await admin.wait_for("mcppackages", "pre", lambda o: FINALIZER in o["metadata"].get("finalizers", []))
    await admin.wait_for("mcpservers", "pre", lambda o: True)
    # A package with registry credentials (Secrets get), checked for updates.
    spec = package("main", "npm", name, npm_registry.url, "^1", updates={"check": True, "interval": "24h"})
    spec["spec"]["source"]["registryAuthSecret"] = "creds"
    await admin.create("mcppackages", spec)
    await admin.wait_for("mcppackages", "main", ready)
    # A server with a NetworkPolicy: Deployment, Service and NetworkPolicy created by server-side apply.
    await admin.create("mcpservers", server("main", "main", network={"egress": "deny"}))
    for plural, api_version in (
        ("deployments", "apps/v1"),
        ("services", "v1"),
        ("networkpolicies", "networking.k8s.io/v1"),
    ):
        await admin.wait_for(plural, "main", lambda o: True, api_version=api_version)
    await admin.wait_for("mcpservers", "main", lambda o: (o.get("status") or {}).get("url") is not None)
    # An update check on demand, then an upgrade request: both annotations are consumed.
    npm_registry.publish_npm(name, "1.1.0", bin=BIN)
    await annotate(admin, "mcppackages", "main", "check", "now")
    await admin.wait_for(
        "mcppackages",
        "main",
        lambda o: (
            (o.get("status") or {}).get("latestVersion") == "1.1.0"
            and "mcp-operator.dev/check" not in annotations_of(o)
        ),
        what="the update check",
    )
    await annotate(admin, "mcppackages", "main", "upgrade", "latest")
    await admin.wait_for(
        "mcppackages",
        "main",
        lambda o: (
            (o.get("status") or {}).get("resolvedVersion") == "1.1.0"
            and "mcp-operator.dev/upgrade" not in annotations_of(o)
        ),
        what="the upgrade",
    )
    await admin.wait_for(
        "deployments",
        "main",
        lambda o: "1.1.0" in json.dumps(o["spec"]["template"]),
        api_version="apps/v1",
        what="the upgraded pod template",
    )
    # A user asks a server to try again (handlers/heal.py): the request is consumed.
    await annotate(admin, "mcpservers", "main", "retry", "1")
    await admin.wait_for("mcpservers", "main", lambda o: "mcp-operator.dev/retry" not in annotations_of(o))
    # Egress back to allow: the NetworkPolicy is deleted.
    await admin.patch("mcpservers", "main", {"spec": {"network": {"egress": "allow"}}})
    await admin.wait_gone("networkpolicies", "main", api_version="networking.k8s.io/v1")
    # Uninstalls: a server, the packages; the predefined one is marked in the state ConfigMap first.
    await admin.delete("mcpservers", "main")
    await admin.wait_gone("deployments", "main", api_version="apps/v1", timeout=60)
    await admin.delete("mcppackages", "main")
    await admin.delete("mcppackages", "pre")
    await admin.wait_gone("mcppackages", "pre")
    assert await marks(admin) == {f"uninstalled.{ns}.pre": f"{ns}/pre"}
    # Installed again explicitly: the mark is cleared (the state ConfigMap patched).
    await admin.create("mcppackages", package("pre", "npm", f"{name}-pre", npm_registry.url))
    await wait_marks(admin, lambda data: data == {}, "cleared the mark")


def token_of(kubeconfig: Path) -> str:
    config = yaml.safe_load(kubeconfig.read_text())
    return str(config["users"][0]["user"]["token"])


@pytest.mark.parametrize(
    ("mode", "rules"),
    [("cluster-wide", CLUSTER_WIDE), ("namespaced", NAMESPACED)],
)
async def test_the_operator_uses_exactly_the_rbac_we_ship(
    mode: str,
    rules: Path,
    crds_installed: Path,
    k8s_namespace: str,
    controlplane: Any,
    npm_registry: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ns = k8s_namespace
    admin = Cluster(crds_installed, ns)
    token = token_of(_token_kubeconfig(controlplane, ns, tmp_path, str(rules)))
    name = f"it-rbac-{mode}"
    npm_registry.publish_npm(name, "1.0.0", bin=BIN)
    npm_registry.publish_npm(f"{name}-pre", "1.0.0", bin=BIN)
    predefined = tmp_path / "predefined.yaml"
    entry = {"name": "pre", "source": {"type": "npm", "package": f"{name}-pre", "registry": npm_registry.url}}
    predefined.write_text(json.dumps({"packages": [entry]}))
    monkeypatch.setenv("MCP_OPERATOR_PREDEFINED", str(predefined))
    monkeypatch.setenv("MCP_OPERATOR_NAMESPACE", ns)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # Registry credentials made for it (docs/security.md): a typed Secret bound to the registry.
    creds = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "type": "mcp-operator.dev/registry-auth",
        "stringData": {"registry": npm_registry.url, "token": "t"},
    }
    await admin.create("secrets", creds, api_version="v1")
    caplog.set_level(logging.DEBUG)
    log: list[Logged] = []
    stuck: AssertionError | None = None
    # The proxy trusts the API server's CA and presents no client certificate: the API sees only the
    # operator's ServiceAccount token, which the operator sends through the proxy.
    upstream_tls = ssl.create_default_context(cafile=str(controlplane.ca_cert))
    try:
        with serve_proxy(controlplane.server, upstream_tls, tmp_path / "proxy.kubeconfig") as proxy:
            config = yaml.safe_load(proxy.kubeconfig.read_text())
            config["users"][0]["user"] = {"token": token}
            config["contexts"][0]["context"]["namespace"] = ns
            proxy.kubeconfig.write_text(yaml.safe_dump(config))
            monkeypatch.setenv("KUBECONFIG", str(proxy.kubeconfig))
            async with running_operator([] if mode == "cluster-wide" else [ns]):
                try:
                    await main_flows(admin, npm_registry, name)
                except AssertionError as exc:  # a flow stuck: the requests below may say why
                    stuck = exc
            log = [Logged(*entry) for entry in proxy.forwarded]
    finally:
        await release_all(admin)
        await admin.close()

    summary = sorted(
        {f"{e.method} {e.path}{' (watch)' if 'watch=' in e.query else ''} {e.status}" for e in log}
    )

    # Every request is one the shipped RBAC allows (or a discovery read, which every user may make):
    # this is what fails when the code needs a verb the RBAC lacks.
    not_allowed, used = check_requests(log, rules, ns)
    assert not_allowed == [], "\n".join([*not_allowed, "all requests:", *summary])
    if stuck is not None:
        raise stuck

    # Zero 403s: none answered, none logged by the operator or kopf. Cluster-wide, the operator also
    # sees other tests' objects on this shared control plane; a write into a namespace being deleted
    # is answered 403 too ("being terminated"): that is not RBAC, so only this test's namespace and
    # cluster-scoped requests count.
    def ours(path: str) -> bool:
        return f"/namespaces/{ns}/" in path or "/namespaces/" not in path

    assert [str(e) for e in log if e.status == 403 and ours(e.path)] == []
    # httpcore's trace of each response is the request log again (checked just above, per namespace).
    said = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpcore", "httpx"))]
    forbidden = [m for m in said if re.search(r"Forbidden|is forbidden", m)]
    assert [m for m in forbidden if "because it is being terminated" not in m] == []

    # Every grant is used by the run, or kept for a reason written down in UNUSED_BUT_KEPT.
    bound = {str(g) for g in grants(rules)}
    kept = UNUSED_BUT_KEPT[mode]
    unused = sorted(bound - {str(g) for g in used} - set(kept))
    assert unused == [], "\n".join(["granted but not used:", *unused, "all requests:", *summary])
    stale = sorted(k for k in kept if k in {str(g) for g in used} or k not in bound)
    assert stale == [], f"UNUSED_BUT_KEPT lists grants that are used or not granted: {stale}"
