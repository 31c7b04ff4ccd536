"""The operator's allow-list of registries and packages (allowlist.py)."""

from __future__ import annotations

import pytest

from mcp_operator import allowlist
from mcp_operator.models import Source


def source(**kw: str) -> Source:
    return Source.model_validate({"type": "npm", "package": "x", **kw})


def test_parse_takes_commas_and_spaces() -> None:
    assert allowlist.parse(None) == ()
    assert allowlist.parse(" https://a.example, https://b.example  npm:@mcp/* ") == (
        "https://a.example",
        "https://b.example",
        "npm:@mcp/*",
    )


def test_nothing_set_allows_everything() -> None:
    assert allowlist.refusal(source(registry="https://evil.example"), (), ()) is None


@pytest.mark.parametrize(
    ("kw", "allowed"),
    [
        ({"registry": "https://npm.example.com/team"}, True),
        ({"registry": "https://npm.example.com/other"}, False),
        ({"registry": "http://npm.example.com/team"}, False),  # not over plain http
        ({}, False),  # the default registry, registry.npmjs.org, is not listed
        ({"type": "oci", "package": "ghcr.io/acme/srv"}, True),
        ({"type": "oci", "package": "quay.io/acme/srv"}, False),
        ({"type": "oci", "package": "acme/srv", "registry": "https://ghcr.io"}, True),
    ],
)
def test_registries(kw: dict[str, str], allowed: bool) -> None:
    registries = ("https://npm.example.com/team", "ghcr.io")
    message = allowlist.refusal(source(**kw), registries, ())
    assert (message is None) is allowed
    if message:
        assert "MCP_OPERATOR_ALLOWED_REGISTRIES" in message
        assert "ask the cluster admin" in message


@pytest.mark.parametrize(
    ("kind", "package", "allowed"),
    [
        ("npm", "@modelcontextprotocol/server-everything", True),
        ("npm", "@evil/server-everything", False),
        ("pypi", "MCP_Server.Time", True),  # PyPI names compare normalised
        ("pypi", "requests", False),
        ("oci", "ghcr.io/acme/one", True),
        ("npm", "left-pad", True),  # a bare glob is for any type
    ],
)
def test_packages(kind: str, package: str, allowed: bool) -> None:
    patterns = ("npm:@modelcontextprotocol/*", "pypi:mcp-server-*", "oci:ghcr.io/acme/*", "left-*")
    message = allowlist.refusal(source(type=kind, package=package), (), patterns)
    assert (message is None) is allowed
    if message:
        assert repr(package) in message
