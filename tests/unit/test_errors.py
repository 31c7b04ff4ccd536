"""describe_validation: one message a user can act on; and the unit-test network guard."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from mcp_operator.models import MCPPackageSpec, MCPServerSpec
from mcp_operator.render.validation_text import describe_validation


def error_of(model: type[BaseModel], data: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return info.value


def test_model_validator_message_without_pydantic_prefix() -> None:
    exc = error_of(MCPPackageSpec, {"source": {"type": "npm", "package": "Left-Pad"}})
    text = describe_validation(exc, "MCPPackage")
    assert text.startswith("invalid MCPPackage spec: spec.source: 'Left-Pad' is not a valid npm package name")
    assert "Value error" not in text
    assert text.endswith("; fix the spec and apply it again")


def test_field_paths_are_camel_case() -> None:
    exc = error_of(MCPPackageSpec, {"source": {"type": "npm", "package": "x", "registryAuthSecret": "BAD"}})
    text = describe_validation(exc, "MCPPackage")
    assert "spec.source.registryAuthSecret: String should match pattern" in text


def test_snake_case_locations_are_camelised() -> None:
    exc = error_of(MCPServerSpec, {"package": "x", "service_account_name": "BAD"})
    assert "spec.serviceAccountName: " in describe_validation(exc, "MCPServer")


def test_list_indexes_use_brackets() -> None:
    exc = error_of(
        MCPServerSpec,
        {
            "package": "x",
            "env": [
                {"name": "A"},
                {"name": "B", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
            ],
        },
    )
    text = describe_validation(exc, "MCPServer")
    assert "spec.env[1]: env B: set value or valueFrom, not both" in text
    assert ".[" not in text


def test_nested_list_path() -> None:
    exc = error_of(
        MCPServerSpec,
        {
            "package": "x",
            "network": {"egress": "deny", "egressAllow": [{"cidr": "10.0.0.0/8", "ports": [{"port": 0}]}]},
        },
    )
    text = describe_validation(exc, "MCPServer")
    assert "spec.network.egressAllow[0].ports[0].port: Input should be greater than or equal to 1" in text


def test_egress_except_message_names_the_bad_network() -> None:
    exc = error_of(
        MCPServerSpec,
        {
            "package": "x",
            "network": {
                "egress": "deny",
                "egressAllow": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.0.0.0/99"]}],
            },
        },
    )
    assert describe_validation(exc, "MCPServer") == (
        "invalid MCPServer spec: spec.network.egressAllow[0].except: '10.0.0.0/99' is not a CIDR network: "
        "write it like '10.0.0.0/8'; fix the spec and apply it again"
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("~=1", "spec.source: '~=1' is not a PEP 440 version or specifier"),
        ("LATEST", "spec.source: 'LATEST' is not a PEP 440 version or specifier"),
        (">=1.0,", "spec.source: '>=1.0,' is not a PEP 440 version or specifier"),
        ("1.0\n", "spec.source.version: String should match pattern"),
    ],
)
def test_pypi_version_message(version: str, expected: str) -> None:
    exc = error_of(MCPPackageSpec, {"source": {"type": "pypi", "package": "x", "version": version}})
    text = describe_validation(exc, "MCPPackage")
    assert text.startswith(f"invalid MCPPackage spec: {expected}")
    assert text.endswith("; fix the spec and apply it again")


def test_field_validator_message() -> None:
    exc = error_of(MCPServerSpec, {"package": "x", "env": [{"name": "A"}, {"name": "A"}]})
    assert describe_validation(exc, "MCPServer") == (
        "invalid MCPServer spec: spec.env: env A is listed twice: keep one entry; "
        "fix the spec and apply it again"
    )


def test_several_problems_are_joined() -> None:
    exc = error_of(MCPServerSpec, {"package": "Bad_Name", "replicas": -1, "extra": 1})
    text = describe_validation(exc, "MCPServer")
    assert text.count("spec.") == 3
    assert "spec.package: " in text
    assert "spec.replicas: " in text
    assert "spec.extra: Extra inputs" in text
    assert text.count("; ") == 3  # two separators and the closing hint


def test_top_level_error_has_no_path() -> None:
    class Whole(BaseModel):
        a: int

    with pytest.raises(ValidationError) as info:
        Whole.model_validate("not a dict")
    text = describe_validation(info.value, "Thing")
    assert text.startswith("invalid Thing spec: Input should be")
    assert "spec." not in text


def test_missing_required_field() -> None:
    exc = error_of(MCPPackageSpec, {})
    assert describe_validation(exc, "MCPPackage") == (
        "invalid MCPPackage spec: spec.source: Field required; fix the spec and apply it again"
    )


# ---------------------------------------------------------------------------------------------
# the guard in tests/unit/conftest.py
# ---------------------------------------------------------------------------------------------


def test_unit_tests_cannot_open_connections() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(RuntimeError, match="unit tests must not touch the network or the Kubernetes API"):
            sock.connect(("127.0.0.1", 9))
        with pytest.raises(RuntimeError, match="must not touch the network"):
            sock.connect_ex(("127.0.0.1", 9))
    with pytest.raises(RuntimeError, match="must not touch the network"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_unit_tests_have_no_kubeconfig() -> None:
    path = os.environ["KUBECONFIG"]
    assert path
    assert not os.path.exists(path)
    assert "KUBERNETES_SERVICE_HOST" not in os.environ
