"""The Service in front of an MCPServer, and the NetworkPolicy its spec.network asks for."""

from __future__ import annotations

from typing import Any

from mcp_operator.models import EgressMode, MCPServerSpec, Transport
from mcp_operator.render.inputs import ServerInput, Settings
from mcp_operator.render.labels import selector, server_labels


def url(inp: ServerInput, settings: Settings) -> str:
    return server_url(inp.server.name, inp.server.namespace, inp.spec, settings)


def server_url(name: str, namespace: str, spec: MCPServerSpec, settings: Settings) -> str:
    """The in-cluster endpoint clients use, like http://NAME.NS.svc:8080/mcp."""
    path = "/sse" if spec.transport == Transport.SSE else "/mcp"
    return f"http://{name}.{namespace}.{settings.service_suffix}:{spec.port}{path}"


def _metadata(inp: ServerInput, settings: Settings) -> dict[str, Any]:
    version = inp.package_status.resolved_version
    return {
        "name": inp.server.name,
        "namespace": inp.server.namespace,
        "labels": {**settings.extra_labels, **server_labels(inp.server.name, inp.package.name, version)},
        "ownerReferences": [inp.server.owner_reference()],
    }


def service(inp: ServerInput, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(inp, settings),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(inp.server.name),
            "ports": [
                {"name": "mcp", "port": inp.spec.port, "targetPort": "mcp", "protocol": "TCP"},
            ],
        },
    }


def network_policy(inp: ServerInput, settings: Settings) -> dict[str, Any] | None:
    """None when egress is allowed: there is nothing to restrict (and any old policy goes)."""
    net = inp.spec.network
    if net.egress == EgressMode.ALLOW:
        return None
    egress: list[dict[str, Any]] = []
    if net.allow_dns:
        egress.append({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]})
    for rule in net.egress_allow:
        block: dict[str, Any] = {"cidr": rule.cidr}
        if rule.except_:
            block["except"] = list(rule.except_)
        entry: dict[str, Any] = {"to": [{"ipBlock": block}]}
        if rule.ports:
            entry["ports"] = [p.dump() for p in rule.ports]
        egress.append(entry)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(inp, settings),
        "spec": {
            "podSelector": {"matchLabels": selector(inp.server.name)},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    }
