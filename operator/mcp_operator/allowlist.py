"""The operator's allow-list of registries and packages (docs/security.md#who-can-do-what): a pure
decision. Whoever may create an MCPPackage may make pods install and run what it names; a cluster
admin narrows that with MCP_OPERATOR_ALLOWED_REGISTRIES and MCP_OPERATOR_ALLOWED_PACKAGES."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from packaging.utils import canonicalize_name

from mcp_operator.models import Source
from mcp_operator.registries import effective_registry
from mcp_operator.registries.binding import host_key, url_allowed
from mcp_operator.registries.errors import RegistryError


def parse(raw: str | None) -> tuple[str, ...]:
    """A comma- or whitespace-separated list; empty when unset."""
    return tuple(item for item in (raw or "").replace(",", " ").split() if item)


def registry_allowed(allowed: Sequence[str], source_type: str, registry: str, image_host: str | None) -> bool:
    """npm and PyPI: the registry URL is at or under an allowed URL (same scheme, host, port);
    images: the registry host is an allowed host (or an allowed URL's host)."""
    if not allowed:
        return True
    if source_type == "oci":
        host = host_key(image_host or registry)
        return any(host_key(entry) == host for entry in allowed)
    return any(url_allowed(entry, registry) for entry in allowed if "://" in entry)


def package_allowed(allowed: Sequence[str], source_type: str, package: str) -> bool:
    """Patterns are `type:glob` (npm:@modelcontextprotocol/*, pypi:mcp-server-*, oci:ghcr.io/acme/*)
    or a bare glob for any type; case-sensitive, as registries are (PyPI names are compared
    normalised: lower case, runs of -_. as -)."""
    if not allowed:
        return True
    name = _normal(package) if source_type == "pypi" else package
    for entry in allowed:
        kind, sep, pattern = entry.partition(":")
        if not sep or kind not in {"npm", "pypi", "oci"}:
            kind, pattern = "", entry
        if kind and kind != source_type:
            continue
        if fnmatch.fnmatchcase(name, _normal(pattern) if source_type == "pypi" else pattern):
            return True
    return False


def _normal(name: str) -> str:
    return canonicalize_name(name)  # PEP 503: lower case, runs of -_. as -


def refusal(source: Source, registries: Sequence[str], packages: Sequence[str]) -> str | None:
    """Why the operator will not install this source, or None."""
    kind = str(source.type)
    try:
        registry, image_host = effective_registry(kind, source.package, source.registry)
    except RegistryError:
        return None  # an unusable registry URL is the resolver's to report
    if not registry_allowed(registries, kind, registry, image_host):
        return (
            f"the registry {image_host or registry} is not one this operator installs from "
            f"(MCP_OPERATOR_ALLOWED_REGISTRIES: {', '.join(registries)}); use one of them in "
            "spec.source.registry, or ask the cluster admin to allow it"
        )
    if not package_allowed(packages, kind, source.package):
        return (
            f"{kind} package {source.package!r} is not one this operator installs "
            f"(MCP_OPERATOR_ALLOWED_PACKAGES: {', '.join(packages)}); ask the cluster admin to allow it"
        )
    return None
