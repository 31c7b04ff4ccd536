"""npm client against canned packuments (httpx.MockTransport)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest

from mcp_operator.registries import Credentials, errors, http, npm, resolve

REGISTRY = "https://npm.example/"
FAST = http.RetryPolicy(attempts=2, base_delay=0, max_delay=0)


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def version_doc(name: str, version: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "dist": {
            "integrity": sri(f"{name}@{version}".encode()),
            "shasum": hashlib.sha1(b"x").hexdigest(),
            "tarball": f"{REGISTRY}{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz",
        },
        **extra,
    }


def packument(
    name: str, versions: list[str], tags: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "dist-tags": tags if tags is not None else {"latest": versions[-1]},
        "versions": {v: version_doc(name, v, **extra) for v in versions},
    }


class Registry:
    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = docs
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = request.url.raw_path.decode().lstrip("/")
        if key in self.docs:
            doc = self.docs[key]
            if isinstance(doc, httpx.Response):
                return doc
            return httpx.Response(200, json=doc)
        return httpx.Response(404, json={"error": "not found"})


async def run(docs: dict[str, Any], name: str, spec: str, **kwargs: Any) -> tuple[Any, Registry]:
    registry = Registry(docs)
    async with httpx.AsyncClient(transport=httpx.MockTransport(registry)) as client:
        result = await resolve("npm", name, spec, registry=REGISTRY, client=client, **kwargs)
    return result, registry


VERSIONS = ["1.0.0", "1.1.0", "1.2.0-beta.1", "1.5.3", "2.0.0-rc.1", "2.0.0", "3.0.0-alpha.0"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", "2.0.0"),
        ("", "2.0.0"),
        ("1.1.0", "1.1.0"),
        ("v1.1.0", "1.1.0"),
        ("^1", "1.5.3"),
        ("~1.1", "1.1.0"),
        ("1.x || >=3.0.0-alpha", "3.0.0-alpha.0"),
        (">=1.0.0 <2", "1.5.3"),
        ("1.0.0 - 1.2", "1.1.0"),
        ("*", "2.0.0"),
        ("^2.0.0-rc.0", "2.0.0"),
        ("next", "3.0.0-alpha.0"),
        ("2.0.0-rc.1", "2.0.0-rc.1"),
    ],
)
async def test_version_selection(spec: str, expected: str) -> None:
    doc = packument("tool", VERSIONS, {"latest": "2.0.0", "next": "3.0.0-alpha.0"})
    result, _ = await run({"tool": doc}, "tool", spec)
    assert result.version == expected
    assert result.latest == "2.0.0"
    assert result.artifact_url == f"{REGISTRY}tool/-/tool-{expected}.tgz"


async def test_latest_dist_tag_wins_when_it_satisfies_the_range() -> None:
    doc = packument("tool", ["1.0.0", "1.2.0", "1.3.0"], {"latest": "1.2.0"})
    result, _ = await run({"tool": doc}, "tool", "^1")
    assert result.version == "1.2.0"


async def test_scoped_names_encode_the_slash_and_send_accept() -> None:
    doc = packument("@acme/tool", ["0.1.0"], bin={"tool": "cli.js"})
    result, registry = await run({"@acme%2Ftool": doc}, "@acme/tool", "latest")
    assert registry.requests[0].url.raw_path == b"/@acme%2Ftool"
    assert "application/vnd.npm.install-v1+json" in registry.requests[0].headers["accept"]
    assert result.command == ("tool",)
    assert result.integrity == sri(b"@acme/tool@0.1.0")


def test_packument_url() -> None:
    assert npm.packument_url("https://r.example/npm/", "@a/b") == "https://r.example/npm/@a%2Fb"
    assert npm.packument_url("http://127.0.0.1:4873", "left-pad") == "http://127.0.0.1:4873/left-pad"


@pytest.mark.parametrize(
    "name", ["", "../etc", "a/b", "@scope", "@/x", "a b", "a?b", "x" * 215, ".hidden", "@s/b/c", "a%2Fb"]
)
def test_invalid_names_are_refused_before_any_request(name: str) -> None:
    with pytest.raises(errors.InvalidPackage, match="not a valid npm package name"):
        npm.packument_url(REGISTRY, name)


@pytest.mark.parametrize(
    ("name", "bins", "command"),
    [
        ("tool", "cli.js", ("tool",)),
        ("@acme/tool", "cli.js", ("tool",)),
        ("tool", {"only": "a.js"}, ("only",)),
        ("@acme/tool", {"x": "x.js", "tool": "t.js"}, ("tool",)),
        ("tool", {"a": "a.js", "b": "b.js"}, ()),
        ("tool", None, ()),
        ("tool", {}, ()),
        ("tool", 3, ()),
    ],
)
def test_bin_detection(name: str, bins: Any, command: tuple[str, ...]) -> None:
    assert npm.detect_bin(name, {"bin": bins}) == command


async def test_integrity_falls_back_to_shasum() -> None:
    doc = packument("old", ["0.0.1"])
    del doc["versions"]["0.0.1"]["dist"]["integrity"]
    result, _ = await run({"old": doc}, "old", "latest")
    assert result.integrity == "sha1-" + base64.b64encode(hashlib.sha1(b"x").digest()).decode()


async def test_missing_dist_is_invalid() -> None:
    doc = packument("broken", ["1.0.0"])
    doc["versions"]["1.0.0"]["dist"] = {}
    with pytest.raises(errors.InvalidPackage, match="no tarball or integrity"):
        await run({"broken": doc}, "broken", "latest")


async def test_not_found_package() -> None:
    with pytest.raises(errors.PackageNotFound) as caught:
        await run({}, "foo-bar", "latest")
    assert str(caught.value) == (
        f"npm package 'foo-bar' was not found in {REGISTRY}; "
        "check spec.source.package or spec.source.registry"
    )
    assert not caught.value.transient


async def test_package_without_versions() -> None:
    with pytest.raises(errors.PackageNotFound, match="no published versions"):
        await run({"empty": {"name": "empty", "versions": {}}}, "empty", "latest")


@pytest.mark.parametrize("spec", ["9.9.9", "^9", ">5 <6"])
async def test_version_not_found_lists_versions(spec: str) -> None:
    doc = packument("tool", [f"1.{i}.0" for i in range(12)])
    with pytest.raises(errors.VersionNotFound) as caught:
        await run({"tool": doc}, "tool", spec)
    message = str(caught.value)
    assert "1.11.0, 1.10.0, 1.9.0" in message
    assert "(and 4 more)" in message
    assert "spec.source.version" in message


@pytest.mark.parametrize(
    ("versions", "expected"),
    [(["1.0.0", "2.0.0-rc.1", "1.2.0"], "1.2.0"), (["1.0.0-a", "1.0.0-b"], "1.0.0-b")],
)
async def test_latest_without_a_latest_tag(versions: list[str], expected: str) -> None:
    result, _ = await run({"tool": packument("tool", versions, tags={})}, "tool", "latest")
    assert result.version == expected
    assert result.latest is None


async def test_no_valid_versions() -> None:
    with pytest.raises(errors.VersionNotFound, match="no valid semver"):
        await run({"tool": packument("tool", ["junk"], tags={})}, "tool", "latest")


async def test_dangling_dist_tag() -> None:
    doc = packument("tool", ["1.0.0"], {"latest": "1.0.0", "beta": "2.0.0"})
    with pytest.raises(errors.VersionNotFound, match="dist-tag 'beta'"):
        await run({"tool": doc}, "tool", "beta")


async def test_garbage_spec() -> None:
    doc = packument("tool", ["1.0.0"])
    with pytest.raises(errors.InvalidSpec, match="neither 'latest'"):
        await run({"tool": doc}, "tool", "some tag; rm")


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures(status: int) -> None:
    with pytest.raises(errors.RegistryAuthFailed, match="registryAuthSecret"):
        await run({"tool": httpx.Response(status)}, "tool", "latest")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", json.dumps({"versions": []}).encode()])
async def test_malformed_documents(body: bytes) -> None:
    with pytest.raises(errors.InvalidPackage):
        await run({"tool": httpx.Response(200, content=body)}, "tool", "latest")


async def test_malformed_version_entry() -> None:
    doc = {"name": "tool", "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": "oops"}}
    with pytest.raises(errors.InvalidPackage, match="malformed metadata"):
        await run({"tool": doc}, "tool", "latest")


async def test_credentials_are_sent() -> None:
    doc = packument("tool", ["1.0.0"])
    _, registry = await run({"tool": doc}, "tool", "latest", credentials=Credentials(token="s3cret"))
    assert registry.requests[0].headers["authorization"] == "Bearer s3cret"
    _, registry = await run(
        {"tool": doc}, "tool", "latest", credentials=Credentials(username="u", password="p")
    )
    assert registry.requests[0].headers["authorization"] == "Basic dTpw"


async def test_transient_failures_then_success(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", FAST)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(502)
        return httpx.Response(200, json=packument("tool", ["1.0.0"]))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        client_ = npm.NpmClient(client, REGISTRY, cache=None)
        result = await client_.resolve("tool", "latest")
    assert result.version == "1.0.0"
    assert len(calls) == 2


async def test_unreachable_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", FAST)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await resolve("npm", "tool", "latest", registry=REGISTRY, client=client)
    assert caught.value.transient


async def test_unknown_source_type() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.InvalidSpec, match="not supported"):
            await resolve("cargo", "x", "1", client=client)  # type: ignore[arg-type]


async def test_default_client_is_created_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = packument("tool", ["1.0.0"])
    original = httpx.AsyncClient

    def factory(**kwargs: Any) -> httpx.AsyncClient:
        return original(transport=httpx.MockTransport(Registry({"tool": doc})), **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", factory)
    result = await resolve("npm", "tool", "latest", registry=REGISTRY)
    assert result.version == "1.0.0"


async def test_the_catalog_names_dist_tags_that_point_at_listed_versions() -> None:
    from mcp_operator.registries import catalog

    doc = packument(
        "tool", ["1.0.0", "2.0.0-beta.1"], {"latest": "1.0.0", "next": "2.0.0-beta.1", "gone": "9.9.9"}
    )
    registry = Registry({"tool": doc})
    async with httpx.AsyncClient(transport=httpx.MockTransport(registry)) as client:
        found = await catalog("npm", "tool", registry=REGISTRY, client=client)
    assert found.latest == "1.0.0"
    assert dict(found.tags) == {"latest": "1.0.0", "next": "2.0.0-beta.1"}  # a dangling tag is left out
