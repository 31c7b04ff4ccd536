"""The Service in front of an MCPServer, its URL, and the NetworkPolicy for spec.network."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_operator.models import MCPPackageSpec, MCPPackageStatus, MCPServerSpec
from mcp_operator.render import network
from mcp_operator.render.inputs import ObjectRef, ServerInput, Settings

SETTINGS = Settings()
DNS = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def make_input(name: str = "time", namespace: str = "tools", **server: Any) -> ServerInput:
    return ServerInput(
        server=ObjectRef(kind="MCPServer", name=name, namespace=namespace, uid="uid-1"),
        spec=MCPServerSpec.model_validate({"package": "time-pkg", **server}),
        package=ObjectRef(kind="MCPPackage", name="time-pkg", namespace=namespace),
        package_spec=MCPPackageSpec.model_validate({"source": {"type": "npm", "package": "mcp-time"}}),
        package_status=MCPPackageStatus(resolved_version="2.0.0", integrity="sha512-x"),
    )


# ---------------------------------------------------------------------------------------------
# Service and URL
# ---------------------------------------------------------------------------------------------


def test_service_shape() -> None:
    svc = network.service(make_input(), SETTINGS)
    assert svc["apiVersion"] == "v1"
    assert svc["kind"] == "Service"
    assert svc["metadata"]["name"] == "time"
    assert svc["metadata"]["namespace"] == "tools"
    assert svc["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "mcp-operator.dev/v1alpha1",
            "kind": "MCPServer",
            "name": "time",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert svc["metadata"]["labels"]["app.kubernetes.io/version"] == "2.0.0"
    assert svc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mcp-operator"
    assert svc["spec"] == {
        "type": "ClusterIP",
        "selector": {"app.kubernetes.io/name": "mcp-server", "app.kubernetes.io/instance": "time"},
        "ports": [{"name": "mcp", "port": 8080, "targetPort": "mcp", "protocol": "TCP"}],
    }


def test_service_port_follows_the_spec() -> None:
    svc = network.service(make_input(port=9443), SETTINGS)
    assert svc["spec"]["ports"] == [{"name": "mcp", "port": 9443, "targetPort": "mcp", "protocol": "TCP"}]


def test_service_selector_matches_the_deployment_selector() -> None:
    from mcp_operator.render.labels import selector

    assert network.service(make_input(name="other"), SETTINGS)["spec"]["selector"] == selector("other")


def test_service_extra_labels() -> None:
    svc = network.service(make_input(), Settings(extra_labels={"team": "ai"}))
    assert svc["metadata"]["labels"]["team"] == "ai"


@pytest.mark.parametrize(
    ("server", "settings", "expected"),
    [
        ({}, SETTINGS, "http://time.tools.svc:8080/mcp"),
        ({"transport": "stdio"}, SETTINGS, "http://time.tools.svc:8080/mcp"),
        ({"transport": "streamable-http"}, SETTINGS, "http://time.tools.svc:8080/mcp"),
        ({"transport": "sse"}, SETTINGS, "http://time.tools.svc:8080/sse"),
        ({"port": 9000}, SETTINGS, "http://time.tools.svc:9000/mcp"),
        ({}, Settings(service_suffix="svc.cluster.local"), "http://time.tools.svc.cluster.local:8080/mcp"),
    ],
)
def test_url(server: dict[str, Any], settings: Settings, expected: str) -> None:
    assert network.url(make_input(**server), settings) == expected


# ---------------------------------------------------------------------------------------------
# NetworkPolicy
# ---------------------------------------------------------------------------------------------


def test_no_policy_when_egress_is_allowed() -> None:
    assert network.network_policy(make_input(), SETTINGS) is None
    allowed = make_input(network={"egress": "allow", "egressAllow": [{"cidr": "10.0.0.0/8"}]})
    assert network.network_policy(allowed, SETTINGS) is None


def test_deny_allows_only_dns() -> None:
    policy = network.network_policy(make_input(network={"egress": "deny"}), SETTINGS)
    assert policy is not None
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["kind"] == "NetworkPolicy"
    assert policy["metadata"]["name"] == "time"
    assert policy["metadata"]["ownerReferences"][0]["controller"] is True
    assert policy["spec"] == {
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/name": "mcp-server", "app.kubernetes.io/instance": "time"}
        },
        "policyTypes": ["Egress"],
        "egress": [DNS],
    }


def test_deny_without_dns_denies_everything() -> None:
    policy = network.network_policy(make_input(network={"egress": "deny", "allowDns": False}), SETTINGS)
    assert policy is not None
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["policyTypes"] == ["Egress"]


def test_deny_with_allowed_destinations() -> None:
    inp = make_input(
        network={
            "egress": "deny",
            "egressAllow": [
                {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/16"], "ports": [{"port": 443}]},
                {"cidr": "192.168.0.0/24"},
                {
                    "cidr": "fd00::/8",
                    "ports": [{"port": 5432, "protocol": "TCP"}, {"port": 514, "protocol": "UDP"}],
                },
            ],
        }
    )
    policy = network.network_policy(inp, SETTINGS)
    assert policy is not None
    assert policy["spec"]["egress"] == [
        DNS,
        {
            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/16"]}}],
            "ports": [{"port": 443, "protocol": "TCP"}],
        },
        {"to": [{"ipBlock": {"cidr": "192.168.0.0/24"}}]},
        {
            "to": [{"ipBlock": {"cidr": "fd00::/8"}}],
            "ports": [{"port": 5432, "protocol": "TCP"}, {"port": 514, "protocol": "UDP"}],
        },
    ]


def test_allowed_destinations_without_dns() -> None:
    inp = make_input(network={"egress": "deny", "allowDns": False, "egressAllow": [{"cidr": "1.1.1.1/32"}]})
    policy = network.network_policy(inp, SETTINGS)
    assert policy is not None
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "1.1.1.1/32"}}]}]
    assert all(53 not in [p["port"] for p in rule.get("ports", [])] for rule in policy["spec"]["egress"])


def test_policy_does_not_share_lists_with_the_spec() -> None:
    inp = make_input(
        network={"egress": "deny", "egressAllow": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]}
    )
    policy = network.network_policy(inp, SETTINGS)
    assert policy is not None
    policy["spec"]["egress"][1]["to"][0]["ipBlock"]["except"].append("10.9.0.0/16")
    assert inp.spec.network.egress_allow[0].except_ == ["10.1.0.0/16"]
