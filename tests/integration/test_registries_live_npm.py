"""Resolve against a live local verdaccio holding packages these tests publish."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from tests.fixtures.registries import NpmRegistry

from mcp_operator.registries import Credentials, ResponseCache, errors, http, resolve
from mcp_operator.registries.npm import NpmClient

pytestmark = pytest.mark.integration

FAST = http.RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def npm(npm_registry: NpmRegistry) -> NpmRegistry:
    for version in ["1.0.0", "1.1.0", "2.0.0"]:
        npm_registry.publish_npm("reg-hello", version)
    npm_registry.publish_npm("reg-hello", "2.1.0-beta.1", dist_tags={"next": "2.1.0-beta.1"})
    npm_registry.publish_npm("@acme/reg-tool", "0.1.0", bin={"reg-tool": "cli.js", "helper": "helper.js"})
    npm_registry.publish_npm("@acme/reg-tool", "0.2.0", bin={"reg-tool": "cli.js", "helper": "helper.js"})
    npm_registry.publish_npm("@private/reg-secret", "1.0.0")
    return npm_registry


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", "2.0.0"),
        ("1.1.0", "1.1.0"),
        ("^1.0.0", "1.1.0"),
        ("~1.0", "1.0.0"),
        ("1.x || >=2.0.0-beta.0", "2.0.0"),  # 2.1.0-beta.1 is on another [major, minor, patch]
        (">=2.1.0-beta.0", "2.1.0-beta.1"),
        ("next", "2.1.0-beta.1"),
        ("*", "2.0.0"),
    ],
)
async def test_resolve_specs(npm: NpmRegistry, spec: str, expected: str) -> None:
    result = await resolve("npm", "reg-hello", spec, registry=npm.url)
    assert result.version == expected
    assert result.latest == "2.0.0"
    assert result.command == ("reg-hello",)
    assert result.integrity == npm.published[("reg-hello", expected)].integrity


async def test_artifact_url_serves_the_pinned_bytes(npm: NpmRegistry) -> None:
    result = await resolve("npm", "reg-hello", "1.0.0", registry=npm.url)
    async with httpx.AsyncClient() as client:
        data = (await client.get(result.artifact_url)).content
    assert "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode() == result.integrity


async def test_scoped_package(npm: NpmRegistry) -> None:
    result = await resolve("npm", "@acme/reg-tool", "^0.1", registry=npm.url)
    assert (result.version, result.latest, result.command) == ("0.1.0", "0.2.0", ("reg-tool",))
    assert "/@acme/reg-tool/-/reg-tool-0.1.0.tgz" in result.artifact_url


async def test_unknown_package(npm: NpmRegistry) -> None:
    with pytest.raises(errors.PackageNotFound) as caught:
        await resolve("npm", "reg-does-not-exist", "latest", registry=npm.url)
    assert caught.value.reason == "PackageNotFound"
    assert not caught.value.transient
    assert "reg-does-not-exist" in str(caught.value)
    assert npm.url in str(caught.value)


async def test_unknown_version_lists_available(npm: NpmRegistry) -> None:
    with pytest.raises(errors.VersionNotFound) as caught:
        await resolve("npm", "reg-hello", "^3", registry=npm.url)
    assert "2.1.0-beta.1, 2.0.0, 1.1.0, 1.0.0" in str(caught.value)


async def test_private_package_needs_credentials(npm: NpmRegistry) -> None:
    with pytest.raises(errors.RegistryAuthFailed):
        await resolve("npm", "@private/reg-secret", "latest", registry=npm.url)
    with pytest.raises(errors.RegistryAuthFailed):
        await resolve(
            "npm", "@private/reg-secret", "latest", registry=npm.url, credentials=Credentials(token="bad")
        )
    token = await resolve(
        "npm", "@private/reg-secret", "latest", registry=npm.url, credentials=Credentials(token=npm.token)
    )
    basic = await resolve(
        "npm",
        "@private/reg-secret",
        "latest",
        registry=npm.url,
        credentials=Credentials(username=npm.username, password=npm.password),
    )
    assert token.version == basic.version == "1.0.0"


async def test_conditional_requests_against_verdaccio(npm: NpmRegistry) -> None:
    cache = ResponseCache()
    async with httpx.AsyncClient() as client:
        npm_client = NpmClient(client, npm.url, cache=cache)
        first = await npm_client.resolve("reg-hello", "latest")
        second = await npm_client.resolve("reg-hello", "latest")
    assert first == second
    assert cache.hits == 1


async def test_registry_down_then_recovered(npm: NpmRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", FAST)
    with npm.stopped():
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await resolve("npm", "reg-hello", "latest", registry=npm.url)
        assert caught.value.transient
        assert caught.value.reason == "RegistryUnavailable"
        assert "after 2 tries" in str(caught.value)
    result = await resolve("npm", "reg-hello", "latest", registry=npm.url)
    assert result.version == "2.0.0"
