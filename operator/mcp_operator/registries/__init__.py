"""Package registries: resolve a version spec to an exact, pinned artifact.

``resolve()`` is the one entry point the operator uses; the per-registry clients live in
:mod:`.npm`, :mod:`.pypi` and :mod:`.oci`.
"""

from __future__ import annotations

from typing import Literal

import httpx

from mcp_operator.registries.errors import (
    InvalidPackage,
    InvalidSpec,
    PackageNotFound,
    RegistryAuthFailed,
    RegistryError,
    RegistryUnavailable,
    VersionNotFound,
)
from mcp_operator.registries.http import DEFAULT_CACHE, DEFAULT_TIMEOUT, ResponseCache, RetryPolicy
from mcp_operator.registries.types import Catalog, Credentials, Resolution

__all__ = [
    "Catalog",
    "Credentials",
    "InvalidPackage",
    "InvalidSpec",
    "PackageNotFound",
    "RegistryAuthFailed",
    "RegistryError",
    "RegistryUnavailable",
    "Resolution",
    "ResponseCache",
    "RetryPolicy",
    "VersionNotFound",
    "catalog",
    "effective_registry",
    "resolve",
]

SourceType = Literal["npm", "pypi", "oci"]


async def resolve(
    source_type: SourceType,
    package: str,
    spec: str,
    *,
    registry: str | None = None,
    credentials: Credentials | None = None,
    client: httpx.AsyncClient | None = None,
) -> Resolution:
    """Resolve ``spec`` ("latest", an exact version, a range, or an OCI tag) of ``package``.

    Raises a :class:`RegistryError` subclass whose ``reason`` and ``transient`` say how to
    report it; its message says what to fix.
    """
    if client is None:
        async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as own:
            return await _resolve(source_type, package, spec, own, registry=registry, credentials=credentials)
    return await _resolve(source_type, package, spec, client, registry=registry, credentials=credentials)


async def _resolve(
    source_type: str,
    package: str,
    spec: str,
    client: httpx.AsyncClient,
    *,
    registry: str | None,
    credentials: Credentials | None,
) -> Resolution:
    if source_type == "npm":
        from mcp_operator.registries.npm import DEFAULT_NPM_REGISTRY, NpmClient

        npm = NpmClient(client, registry or DEFAULT_NPM_REGISTRY, credentials, cache=DEFAULT_CACHE)
        return await npm.resolve(package, spec)
    if source_type == "pypi":
        from mcp_operator.registries.pypi import DEFAULT_PYPI_REGISTRY, PypiClient

        pypi = PypiClient(client, registry or DEFAULT_PYPI_REGISTRY, credentials, cache=DEFAULT_CACHE)
        return await pypi.resolve(package, spec)
    if source_type == "oci":
        from mcp_operator.registries.oci import OciClient

        oci = OciClient(client, credentials=credentials)
        return await oci.resolve(package, spec, registry=registry)
    raise InvalidSpec(f"source type {source_type!r} is not supported; use npm, pypi or oci")


async def catalog(
    source_type: SourceType,
    package: str,
    *,
    registry: str | None = None,
    credentials: Credentials | None = None,
    client: httpx.AsyncClient,
) -> Catalog:
    """The releases of ``package``, for update checks: one cached, revalidated request (npm, PyPI)
    or one tags list (OCI); nothing is downloaded."""
    if source_type == "npm":
        from mcp_operator.registries.npm import DEFAULT_NPM_REGISTRY, NpmClient

        npm = NpmClient(client, registry or DEFAULT_NPM_REGISTRY, credentials, cache=DEFAULT_CACHE)
        return await npm.catalog(package)
    if source_type == "pypi":
        from mcp_operator.registries.pypi import DEFAULT_PYPI_REGISTRY, PypiClient

        pypi = PypiClient(client, registry or DEFAULT_PYPI_REGISTRY, credentials, cache=DEFAULT_CACHE)
        return await pypi.catalog(package)
    if source_type == "oci":
        from mcp_operator.registries.oci import OciClient

        oci = OciClient(client, credentials=credentials)
        return await oci.catalog(package, registry=registry)
    raise InvalidSpec(f"source type {source_type!r} is not supported; use npm, pypi or oci")


def effective_registry(source_type: str, package: str, registry: str | None) -> tuple[str, str | None]:
    """The registry URL a package is fetched from (defaults filled in, normalised as the clients
    do), and for images the registry host[:port]: what registry credentials must be bound to."""
    if source_type == "npm":
        from mcp_operator.registries.http import normalise_registry_url
        from mcp_operator.registries.npm import DEFAULT_NPM_REGISTRY

        return normalise_registry_url(registry or DEFAULT_NPM_REGISTRY), None
    if source_type == "pypi":
        from mcp_operator.registries.pypi import index_base

        return index_base(registry), None
    if source_type == "oci":
        from mcp_operator.registries.oci import parse_reference

        ref = parse_reference(package, registry)
        return ref.base_url, ref.registry
    raise InvalidSpec(f"source type {source_type!r} is not supported; use npm, pypi or oci")
