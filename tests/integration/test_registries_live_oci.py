"""Resolve images: against a minimal distribution API with bearer-token auth (always), and the
real CNCF distribution registry when .cache/bin/registry is built."""

from __future__ import annotations

import pytest
from tests.fixtures.pkgbuild import build_image
from tests.fixtures.registries import FakeOciRegistry, OciDistributionRegistry

from mcp_operator.registries import Credentials, errors, http, resolve

pytestmark = pytest.mark.integration


async def test_bearer_token_flow(oci_registry: FakeOciRegistry) -> None:
    digest = oci_registry.push_image("mcp/time", "1.2", entrypoint=["mcp-time"], cmd=["--stdio"])
    result = await resolve("oci", "mcp/time", "1.2", registry=oci_registry.url)
    assert result.integrity == digest
    assert result.artifact_url == f"{oci_registry.host}/mcp/time@{digest}"
    assert result.command == ("mcp-time", "--stdio")
    assert result.latest is None


async def test_multi_platform_index(oci_registry: FakeOciRegistry) -> None:
    image = build_image(["srv"], ["a"], platforms=[("linux", "arm64"), ("linux", "amd64")])
    oci_registry.push_image("mcp/multi", "latest", image)
    result = await resolve("oci", f"{oci_registry.host}/mcp/multi", "latest", registry=oci_registry.url)
    assert result.integrity == image.digest
    assert result.command == ("srv", "a")


async def test_private_repository(oci_registry: FakeOciRegistry) -> None:
    oci_registry.push_image("private/tool", "v1", entrypoint=["t"])
    with pytest.raises(errors.RegistryAuthFailed):
        await resolve("oci", "private/tool", "v1", registry=oci_registry.url)
    creds = Credentials(username=oci_registry.username, password=oci_registry.password)
    assert (
        await resolve("oci", "private/tool", "v1", registry=oci_registry.url, credentials=creds)
    ).command == ("t",)


async def test_missing_tag_and_repository(oci_registry: FakeOciRegistry) -> None:
    oci_registry.push_image("mcp/tags", "v1")
    oci_registry.push_image("mcp/tags", "v2")
    with pytest.raises(errors.VersionNotFound, match="available tags: v1, v2"):
        await resolve("oci", "mcp/tags", "v3", registry=oci_registry.url)
    with pytest.raises(errors.PackageNotFound):
        await resolve("oci", "mcp/nothing", "v1", registry=oci_registry.url)


async def test_transient_failures_are_retried(
    oci_registry: FakeOciRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", http.RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02))
    oci_registry.push_image("mcp/flaky", "v1", entrypoint=["f"])
    oci_registry.fail_next(2, 503)
    assert (await resolve("oci", "mcp/flaky", "v1", registry=oci_registry.url)).command == ("f",)
    oci_registry.fail_next(3, 502)
    with pytest.raises(errors.RegistryUnavailable):
        await resolve("oci", "mcp/flaky", "v1", registry=oci_registry.url)


async def test_real_distribution_registry(distribution_registry: OciDistributionRegistry) -> None:
    digest = distribution_registry.push_image("mcp/real", "0.1.0", entrypoint=["/srv"], cmd=["--port", "1"])
    result = await resolve("oci", "mcp/real", "0.1.0", registry=distribution_registry.url)
    assert (result.integrity, result.command) == (digest, ("/srv", "--port", "1"))
    index = build_image(["x"], None, platforms=[("linux", "amd64"), ("linux", "arm64")])
    distribution_registry.push_image("mcp/real", "multi", index)
    assert (
        await resolve("oci", "mcp/real", "multi", registry=distribution_registry.url)
    ).integrity == index.digest
    with pytest.raises(errors.VersionNotFound, match=r"0\.1\.0"):
        await resolve("oci", "mcp/real", "9.9.9", registry=distribution_registry.url)
    with pytest.raises(errors.PackageNotFound):
        await resolve("oci", "mcp/unknown", "1", registry=distribution_registry.url)
