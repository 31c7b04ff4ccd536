"""The pydantic models: defaults, wire form, and the rules the operator enforces again in code."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mcp_operator import models as m


def package_spec(**source: Any) -> m.MCPPackageSpec:
    return m.MCPPackageSpec.model_validate({"source": {"type": "npm", "package": "left-pad", **source}})


def server_spec(**fields: Any) -> m.MCPServerSpec:
    return m.MCPServerSpec.model_validate({"package": "time", **fields})


# ---------------------------------------------------------------------------------------------
# defaults and the wire form
# ---------------------------------------------------------------------------------------------


def test_package_defaults() -> None:
    spec = package_spec()
    assert spec.source.version == "latest"
    assert spec.source.registry is None
    assert spec.source.registry_auth_secret is None
    assert spec.install.method == m.InstallMethod.INIT_CONTAINER == "initContainer"
    assert spec.install.allow_scripts is False
    assert spec.entrypoint is None
    assert spec.updates.check is False
    assert spec.updates.interval == "24h"
    assert spec.updates.policy == "none"


def test_server_defaults() -> None:
    spec = server_spec()
    assert spec.enabled is True
    assert spec.replicas == 1
    assert spec.transport == m.Transport.STDIO == "stdio"
    assert spec.port == 8080
    assert spec.bridge.session_mode == m.SessionMode.PER_SESSION == "perSession"
    assert spec.network.egress == m.EgressMode.ALLOW == "allow"
    assert spec.network.allow_dns is True
    assert spec.network.egress_allow == []
    assert spec.args == []
    assert spec.env == []
    assert spec.env_from == []
    assert spec.resources is None
    assert spec.service_account_name is None
    assert spec.node_selector == {}
    assert spec.tolerations == []
    assert spec.runtime_class_name is None


def test_enum_values_are_plain_strings() -> None:
    spec = server_spec(transport="sse")
    assert type(spec.transport) is str
    assert type(package_spec().source.type) is str


def test_package_dump_is_camel_case_without_unset_optionals() -> None:
    spec = package_spec(registry="https://npm.example.com", registryAuthSecret="npm-creds")
    assert spec.dump() == {
        "source": {
            "type": "npm",
            "package": "left-pad",
            "version": "latest",
            "registry": "https://npm.example.com",
            "registryAuthSecret": "npm-creds",
        },
        "install": {"method": "initContainer", "allowScripts": False, "wheelsOnly": False},
        "updates": {"check": False, "interval": "24h", "policy": "none", "rolloutDeadline": "10m"},
    }


def test_server_dump_is_camel_case() -> None:
    spec = server_spec(
        env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        envFrom=[{"configMapRef": {"name": "cm"}}],
        network={"egress": "deny", "egressAllow": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]},
        serviceAccountName="sa",
        runtimeClassName="gvisor",
        tolerations=[{"key": "k", "operator": "Exists", "tolerationSeconds": 5}],
    )
    out = spec.dump()
    assert out["env"] == [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    assert out["envFrom"] == [{"configMapRef": {"name": "cm"}}]
    assert out["bridge"] == {
        "sessionMode": "perSession",
        "allowedOrigins": [],
        "maxSessions": 100,
        "maxMessageBytes": 16777216,
        "sessionIdleTimeout": "30m",
        "requestTimeout": "10m",
    }
    assert out["network"] == {
        "egress": "deny",
        "egressAllow": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"], "ports": []}],
        "allowDns": True,
    }
    assert out["serviceAccountName"] == "sa"
    assert out["runtimeClassName"] == "gvisor"
    assert out["tolerations"] == [{"key": "k", "operator": "Exists", "tolerationSeconds": 5}]
    assert "resources" not in out
    assert not any("_" in key for key in out)


def test_snake_case_names_are_accepted_too() -> None:
    spec = m.MCPServerSpec(package="p", service_account_name="sa", env_from=[])
    assert spec.service_account_name == "sa"


def test_dump_round_trips() -> None:
    spec = server_spec(args=["--x"], network={"egress": "deny", "allowDns": False})
    assert m.MCPServerSpec.model_validate(spec.dump()) == spec
    pkg = package_spec(version="^1.2.3")
    assert m.MCPPackageSpec.model_validate(pkg.dump()) == pkg


# ---------------------------------------------------------------------------------------------
# Source: the rules depend on the type
# ---------------------------------------------------------------------------------------------

SOURCES_OK = [
    {"type": "npm", "package": "@modelcontextprotocol/server-everything", "version": "^1.2.3"},
    {"type": "npm", "package": "left-pad", "version": ">= 1.2.3 <2"},
    {"type": "npm", "package": "left-pad", "version": "1.2.3"},
    {"type": "pypi", "package": "mcp-server-time", "version": "~=1.4"},
    {"type": "pypi", "package": "Mcp_Server.Time", "version": ">=1.2,<2"},
    {"type": "pypi", "package": "mcp-server-time", "version": "2025.1"},
    {"type": "oci", "package": "ghcr.io/org/server", "version": "v1.2.3"},
    {"type": "oci", "package": "localhost:5000/mcp/time"},
    {"type": "npm", "package": "x", "registry": "http://127.0.0.1:4873"},
    {"type": "pypi", "package": "x", "registry": "https://pypi.example.com/simple/"},
]
SOURCES_BAD = [
    ({"type": "npm", "package": "Left-Pad"}, "not a valid npm package name"),
    ({"type": "npm", "package": "a" * 215}, "at most 214"),
    ({"type": "npm", "package": "left-pad", "version": "~=1.4"}, "not an npm version or range"),
    ({"type": "npm", "package": "Mcp_Server.Time"}, "not a valid npm package name"),
    ({"type": "pypi", "package": "@scope/name"}, "not a valid PyPI project name"),
    ({"type": "pypi", "package": "x", "version": "^1.2.3"}, "not a PEP 440 version or specifier"),
    ({"type": "oci", "package": "ghcr.io/org/server:1.0"}, "includes a tag or digest"),
    ({"type": "oci", "package": "ghcr.io/org/server@sha256:abc"}, "includes a tag or digest"),
    ({"type": "oci", "package": "ghcr.io/Org/server"}, "not a valid image repository"),
    ({"type": "oci", "package": "mcp/time", "version": "^1.2"}, "not a valid image tag"),
    ({"type": "npm", "package": "x", "version": "1.2.3; rm -rf /"}, "should match pattern"),
    ({"type": "npm", "package": "x", "version": ""}, "should match pattern"),
    ({"type": "npm", "package": "x", "version": "a" * 129}, "at most 128"),
    ({"type": "npm", "package": ""}, "at least 1 character"),
    ({"type": "cargo", "package": "x"}, "'npm', 'pypi' or 'oci'"),
    ({"package": "x"}, "Field required"),
    ({"type": "npm", "package": "x", "registry": "ftp://x"}, "is not a registry URL: write http"),
    ({"type": "npm", "package": "x", "registry": "https://x/ b"}, "is not a registry URL: write http"),
    ({"type": "npm", "package": "x", "registry": "https://u:p@x"}, "must not contain credentials"),
    ({"type": "npm", "package": "x", "registryAuthSecret": "Bad_Name"}, "should match pattern"),
    ({"type": "npm", "package": "x", "tag": "next"}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize("source", SOURCES_OK)
def test_source_ok(source: dict[str, Any]) -> None:
    parsed = m.Source.model_validate(source)
    assert parsed.dump()["package"] == source["package"]
    assert parsed.version == source.get("version", "latest")


@pytest.mark.parametrize(("source", "message"), SOURCES_BAD)
def test_source_bad(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        m.Source.model_validate(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"type": "npm", "package": "left-pad\n"}, "not a valid npm package name"),
        ({"type": "pypi", "package": "mcp-server-time\n"}, "not a valid PyPI project name"),
        ({"type": "oci", "package": "mcp/time\n"}, "not a valid image repository"),
    ],
)
def test_source_package_with_trailing_newline_is_rejected(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        m.Source.model_validate(source)
    assert m.Source.model_validate({**source, "package": source["package"][:-1]})


@pytest.mark.parametrize(
    "source",
    [
        {"type": "npm", "package": "left-pad", "version": "1.2.3\n"},
        {"type": "npm", "package": "left-pad", "version": "\u00a01.2.3"},
        {"type": "pypi", "package": "mcp-server-time", "version": "1.2.3\n"},
        {"type": "pypi", "package": "mcp-server-time", "version": ">=1.0\u2003"},
        {"type": "oci", "package": "mcp/time", "version": "latest\n"},
    ],
)
def test_source_version_with_a_newline_or_unicode_space_is_rejected(source: dict[str, Any]) -> None:
    # check_npm_version alone lets whitespace around a range through (as the CEL rule does); the
    # field's VERSION_CHARS pattern, here and in the CRD, allows no newline or non-ASCII space.
    with pytest.raises(ValidationError, match="should match pattern"):
        m.Source.model_validate(source)


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("1.0-1", True),
        ("===weird", True),
        ("==1.0.*", True),
        ("~=1.4", True),
        ("LATEST", False),
        (" 1.0 ", False),
        (">=1.0,", False),
        (",>=1", False),
        (">=1.0.*", False),
        ("~=1", False),
    ],
)
def test_source_pypi_versions(version: str, ok: bool) -> None:
    source = {"type": "pypi", "package": "mcp-server-time", "version": version}
    if ok:
        assert m.Source.model_validate(source).version == version
    else:
        with pytest.raises(ValidationError, match="not a PEP 440 version or specifier"):
            m.Source.model_validate(source)


# ---------------------------------------------------------------------------------------------
# updates, entrypoint, install
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", ["1s", "30m", "6h", "1h30m", "7d"])
def test_updates_interval_ok(interval: str) -> None:
    assert m.Updates(interval=interval).interval == interval


@pytest.mark.parametrize(("interval", "message"), [("0s", "is zero"), ("1w", "pattern"), ("", "pattern")])
def test_updates_interval_bad(interval: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        m.Updates(interval=interval)


@pytest.mark.parametrize("policy", ["none", "patch", "minor", "major"])
def test_updates_policy(policy: str) -> None:
    assert m.Updates.model_validate({"policy": policy}).policy == policy


def test_updates_policy_bad() -> None:
    with pytest.raises(ValidationError):
        m.Updates.model_validate({"policy": "always"})


def test_entrypoint_limits() -> None:
    assert m.Entrypoint().command == []
    assert m.Entrypoint().args == []
    with pytest.raises(ValidationError):
        m.Entrypoint(command=[""])
    with pytest.raises(ValidationError):
        m.Entrypoint(command=["x"] * 65)
    with pytest.raises(ValidationError):
        m.Entrypoint(args=["a"] * 257)
    assert m.Entrypoint(args=[""]).args == [""]


def test_install_method_enum() -> None:
    assert m.Install.model_validate({"method": "image"}).method == "image"
    with pytest.raises(ValidationError):
        m.Install.model_validate({"method": "docker"})


# ---------------------------------------------------------------------------------------------
# env
# ---------------------------------------------------------------------------------------------


def test_env_value_and_value_from_together_is_rejected() -> None:
    with pytest.raises(ValidationError, match="env A: set value or valueFrom, not both"):
        m.EnvVar.model_validate(
            {"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        )


@pytest.mark.parametrize(
    "source",
    [
        {"secretKeyRef": {"name": "s", "key": "k"}},
        {"configMapKeyRef": {"name": "c", "key": "k", "optional": True}},
        {"fieldRef": {"fieldPath": "metadata.name"}},
    ],
)
def test_env_var_source_exactly_one_ok(source: dict[str, Any]) -> None:
    var = m.EnvVar.model_validate({"name": "A", "valueFrom": source})
    assert var.dump() == {"name": "A", "valueFrom": source}


@pytest.mark.parametrize(
    "source",
    [
        {},
        {"secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}},
        {"secretKeyRef": {"name": "s", "key": "k"}, "fieldRef": {"fieldPath": "x"}},
        {
            "secretKeyRef": {"name": "s", "key": "k"},
            "configMapKeyRef": {"name": "c", "key": "k"},
            "fieldRef": {"fieldPath": "x"},
        },
    ],
)
def test_env_var_source_needs_exactly_one(source: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="valueFrom takes exactly one of"):
        m.EnvVarSource.model_validate(source)


@pytest.mark.parametrize(
    "var",
    [
        {"name": "1BAD"},
        {"name": ""},
        {"name": "A B"},
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "Bad", "key": "k"}}},
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": ""}}},
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": ""}}},
    ],
)
def test_env_var_bad(var: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        m.EnvVar.model_validate(var)


def test_env_var_plain_value_and_no_value() -> None:
    assert m.EnvVar(name="A", value="").dump() == {"name": "A", "value": ""}
    assert m.EnvVar(name="A").dump() == {"name": "A"}


def test_duplicate_env_names_are_rejected() -> None:
    with pytest.raises(ValidationError, match="env A is listed twice: keep one entry"):
        server_spec(env=[{"name": "A", "value": "1"}, {"name": "B"}, {"name": "A", "value": "2"}])


def test_distinct_env_names_are_fine() -> None:
    spec = server_spec(env=[{"name": "A", "value": "1"}, {"name": "a", "value": "2"}])
    assert [e.name for e in spec.env] == ["A", "a"]


# ---------------------------------------------------------------------------------------------
# network
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cidr", ["10.0.0.0/8", "0.0.0.0/0", "192.168.1.7/32", "10.1.2.3/8", "::/0", "fd00::/8"]
)
def test_egress_rule_cidr_ok(cidr: str) -> None:
    assert m.EgressRule(cidr=cidr).cidr == cidr


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.0/33", "is not a CIDR network"),
        ("999.0.0.0/8", "is not a CIDR network"),
        ("fd00::/129", "is not a CIDR network"),
        ("10.0.0.0", "should match pattern"),
        ("example.com/8", "should match pattern"),
        ("", "should match pattern"),
    ],
)
def test_egress_rule_cidr_bad(cidr: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        m.EgressRule(cidr=cidr)


def test_egress_rule_except_alias_and_ports() -> None:
    rule = m.EgressRule.model_validate(
        {
            "cidr": "10.0.0.0/8",
            "except": ["10.1.0.0/16"],
            "ports": [{"port": 443}, {"port": 53, "protocol": "UDP"}],
        }
    )
    assert rule.except_ == ["10.1.0.0/16"]
    assert rule.dump() == {
        "cidr": "10.0.0.0/8",
        "except": ["10.1.0.0/16"],
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
    }
    with pytest.raises(ValidationError):
        m.EgressRule.model_validate({"cidr": "10.0.0.0/8", "except": ["nope"]})


@pytest.mark.parametrize("port", [{"port": 0}, {"port": 65536}, {"port": 80, "protocol": "ICMP"}])
def test_port_rule_bad(port: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        m.PortRule.model_validate(port)


@pytest.mark.parametrize("bad", ["10.0.0.0/99", "999.1.1.1/8", "fd00::/129"])
def test_egress_rule_except_is_validated_like_cidr(bad: str) -> None:
    with pytest.raises(ValidationError, match=f"'{bad}' is not a CIDR network"):
        m.EgressRule.model_validate({"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", bad]})


@pytest.mark.parametrize("bad", ["10.0.0.0", "example.com/8", ""])
def test_egress_rule_except_keeps_its_pattern(bad: str) -> None:
    with pytest.raises(ValidationError, match="should match pattern"):
        m.EgressRule.model_validate({"cidr": "10.0.0.0/8", "except": [bad]})


def test_egress_rule_except_accepts_networks_like_cidr() -> None:
    good = ["10.1.0.0/16", "10.1.2.3/16", "fd00::/8", "0.0.0.0/0"]
    rule = m.EgressRule.model_validate({"cidr": "10.0.0.0/8", "except": good})
    assert rule.except_ == good


def test_network_egress_mode() -> None:
    assert m.Network.model_validate({"egress": "deny"}).egress == "deny"
    with pytest.raises(ValidationError):
        m.Network.model_validate({"egress": "block"})


# ---------------------------------------------------------------------------------------------
# server spec bounds
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"package": "Bad_Name"},
        {"package": ""},
        {"replicas": -1},
        {"replicas": 101},
        {"port": 80},
        {"port": 65536},
        {"transport": "websocket"},
        {"bridge": {"sessionMode": "pooled"}},
        {"serviceAccountName": "Bad"},
        {"runtimeClassName": "Bad"},
        {"tolerations": [{"operator": "Maybe"}]},
        {"tolerations": [{"effect": "Sometimes"}]},
        {"args": ["x" * 4097]},
        {"envFrom": [{"secretRef": {"name": "Bad"}}]},
    ],
)
def test_server_spec_bad(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        server_spec(**fields)


@pytest.mark.parametrize("transport", ["stdio", "streamable-http", "sse"])
def test_server_transports(transport: str) -> None:
    assert server_spec(transport=transport).transport == transport


def test_server_spec_edges_ok() -> None:
    assert server_spec(replicas=0).replicas == 0
    assert server_spec(replicas=100).replicas == 100
    assert server_spec(port=1024).port == 1024
    assert server_spec(port=65535).port == 65535


# ---------------------------------------------------------------------------------------------
# extra fields: forbidden in specs, ignored in status
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (m.MCPPackageSpec, {"source": {"type": "npm", "package": "x"}, "unknown": 1}),
        (m.MCPPackageSpec, {"source": {"type": "npm", "package": "x"}, "install": {"scripts": True}}),
        (m.MCPServerSpec, {"package": "x", "replica": 2}),
        (m.MCPServerSpec, {"package": "x", "network": {"egress": "deny", "ingress": "deny"}}),
        (m.MCPServerSpec, {"package": "x", "bridge": {"mode": "shared"}}),
        (m.MCPServerSpec, {"package": "x", "env": [{"name": "A", "secret": "s"}]}),
    ],
)
def test_extra_fields_are_forbidden_in_specs(model: type[m.Model], data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(data)


def test_extra_fields_are_ignored_in_status() -> None:
    cond = {"type": "Ready", "status": "True", "reason": "R", "lastTransitionTime": "t", "severity": "x"}
    pkg = m.MCPPackageStatus.model_validate(
        {
            "phase": "Ready",
            "resolvedVersion": "1.0.0",
            "fromTheFuture": True,
            "conditions": [cond],
            "history": [{"version": "1.0.0", "at": "t", "outcome": "resolved", "by": "someone"}],
        }
    )
    assert pkg.resolved_version == "1.0.0"
    assert pkg.conditions[0].type == "Ready"
    assert "fromTheFuture" not in pkg.dump()
    srv = m.MCPServerStatus.model_validate(
        {"phase": "Running", "newField": 1, "serverInfo": {"name": "s", "instructions": "x"}}
    )
    assert srv.phase == "Running"
    assert srv.server_info is not None
    assert srv.server_info.name == "s"


def test_extra_fields_are_ignored_in_status_entrypoint() -> None:
    status = m.MCPPackageStatus.model_validate({"entrypoint": {"command": ["x"], "workingDir": "/w"}})
    assert isinstance(status.entrypoint, m.StatusEntrypoint)
    assert issubclass(m.StatusEntrypoint, m.StatusModel)
    assert status.entrypoint.command == ["x"]
    assert status.entrypoint.args == []
    assert status.dump()["entrypoint"] == {"command": ["x"], "args": []}
    # the spec's Entrypoint still refuses unknown fields
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        m.Entrypoint.model_validate({"command": ["x"], "workingDir": "/w"})


def test_status_detected_command() -> None:
    assert m.MCPPackageStatus().detected_command == []
    status = m.MCPPackageStatus.model_validate({"detectedCommand": ["mcp-server-time", "--stdio"]})
    assert status.detected_command == ["mcp-server-time", "--stdio"]
    assert status.dump()["detectedCommand"] == ["mcp-server-time", "--stdio"]
    assert m.MCPPackageStatus(detected_command=["x"]).detected_command == ["x"]


def test_status_keeps_the_camel_case_aliases() -> None:
    status = m.MCPPackageStatus(resolved_version="1.0.0", update_available=True)
    assert status.dump() == {
        "resolvedVersion": "1.0.0",
        "updateAvailable": True,
        "detectedCommand": [],
        "failedVersions": [],
        "history": [],
        "conditions": [],
    }


def test_status_history_is_bounded() -> None:
    entry = {"version": "1", "at": "t", "outcome": "resolved"}
    assert len(m.MCPPackageStatus.model_validate({"history": [entry] * m.HISTORY_LIMIT}).history) == 20
    with pytest.raises(ValidationError):
        m.MCPPackageStatus.model_validate({"history": [entry] * (m.HISTORY_LIMIT + 1)})


@pytest.mark.parametrize("phase", ["Pending", "Resolving", "Ready", "Failed"])
def test_package_phases(phase: str) -> None:
    assert m.MCPPackageStatus(phase=phase).phase == phase  # type: ignore[arg-type]


def test_condition_status_values() -> None:
    with pytest.raises(ValidationError):
        m.Condition(type="Ready", status="Yes", reason="r", last_transition_time="t")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# the kinds
# ---------------------------------------------------------------------------------------------


def test_kinds() -> None:
    assert m.API_VERSION == "mcp-operator.dev/v1alpha1"
    assert [k.kind for k in m.KINDS] == ["MCPPackage", "MCPServer"]
    assert m.PACKAGE_KIND.spec is m.MCPPackageSpec
    assert m.PACKAGE_KIND.status is m.MCPPackageStatus
    assert m.SERVER_KIND.spec is m.MCPServerSpec
    assert m.SERVER_KIND.status is m.MCPServerStatus
    assert all(k.plural == k.kind.lower() + "s" and k.singular == k.kind.lower() for k in m.KINDS)
    assert m.READY_COLUMN in m.PACKAGE_KIND.columns
    assert m.READY_COLUMN in m.SERVER_KIND.columns
