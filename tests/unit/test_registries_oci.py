"""OCI client: reference parsing, auth challenges, digests (MockTransport)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from tests.fixtures.pkgbuild import build_image

from mcp_operator.registries import Credentials, errors, http, resolve
from mcp_operator.registries.oci import OciClient, parse_challenge, parse_reference


@pytest.mark.parametrize(
    ("package", "registry", "host", "repository", "base"),
    [
        ("nginx", None, "docker.io", "library/nginx", "https://registry-1.docker.io"),
        ("docker.io/nginx", None, "docker.io", "library/nginx", "https://registry-1.docker.io"),
        ("index.docker.io/acme/x", None, "docker.io", "acme/x", "https://registry-1.docker.io"),
        ("acme/tool", None, "docker.io", "acme/tool", "https://registry-1.docker.io"),
        ("ghcr.io/org/team/img", None, "ghcr.io", "org/team/img", "https://ghcr.io"),
        ("localhost:5000/img", None, "localhost:5000", "img", "https://localhost:5000"),
        ("localhost/img", None, "localhost", "img", "https://localhost"),
        ("img", "http://127.0.0.1:5000", "127.0.0.1:5000", "img", "http://127.0.0.1:5000"),
        ("127.0.0.1:5000/a/b", "http://127.0.0.1:5000/", "127.0.0.1:5000", "a/b", "http://127.0.0.1:5000"),
        ("a/b", "registry.example:8443", "registry.example:8443", "a/b", "https://registry.example:8443"),
        ("a__b/c-d.e", None, "docker.io", "a__b/c-d.e", "https://registry-1.docker.io"),
    ],
)
def test_parse_reference(package: str, registry: str | None, host: str, repository: str, base: str) -> None:
    ref = parse_reference(package, registry)
    assert (ref.registry, ref.repository, ref.base_url) == (host, repository, base)
    assert ref.pinned("sha256:" + "a" * 64) == f"{host}/{repository}@sha256:{'a' * 64}"


@pytest.mark.parametrize(
    ("package", "registry", "match"),
    [
        ("nginx:1.25", None, "tag or digest"),
        ("nginx@sha256:" + "a" * 64, None, "tag or digest"),
        ("UPPER/case", None, "not a valid image repository path"),
        ("a//b", None, "not a valid"),
        ("", None, "not a valid image repository"),
        ("ghcr.io/x", "https://quay.io", "use one"),
        ("x", "https://host/path", "must not have a path"),
        ("x", "bad host!", "host"),
        ("bad_host.io:x/y", None, "not valid"),
    ],
)
def test_parse_reference_rejects(package: str, registry: str | None, match: str) -> None:
    with pytest.raises(errors.RegistryError, match=match):
        parse_reference(package, registry)


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/x:pull",
    }
    assert parse_challenge('Basic realm="Registry"') == ("basic", {"realm": "Registry"})
    assert parse_challenge("") == ("", {})


class Fake:
    """Serves one image; ``auth`` is None, "basic" or "bearer"."""

    def __init__(self, auth: str | None = None, **image: Any) -> None:
        self.image = build_image(**image)
        self.auth = auth
        self.requests: list[httpx.Request] = []
        self.overrides: dict[str, httpx.Response] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path in self.overrides:
            return self.overrides[path]
        if path == "/token":
            if request.headers.get("authorization") != "Basic dTpw":
                return httpx.Response(401)
            return httpx.Response(200, json={"access_token": "tok"})
        given = request.headers.get("authorization")
        if self.auth == "basic" and given != "Basic dTpw":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        if self.auth == "bearer" and given != "Bearer tok":
            challenge = 'Bearer realm="https://reg.example/token",service="reg"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if path == "/v2/acme/tool/manifests/v1" or path == f"/v2/acme/tool/manifests/{self.image.digest}":
            media, body = self.image.top
            return httpx.Response(200, content=body, headers={"Content-Type": media})
        for media, body in self.image.manifests:
            if path == f"/v2/acme/tool/manifests/sha256:{hashlib.sha256(body).hexdigest()}":
                return httpx.Response(200, content=body, headers={"Content-Type": media})
        if path.startswith("/v2/acme/tool/blobs/"):
            digest = path.rsplit("/", 1)[-1]
            if digest in self.image.blobs:
                return httpx.Response(200, content=self.image.blobs[digest])
        if path == "/v2/acme/tool/tags/list":
            return httpx.Response(200, json={"name": "acme/tool", "tags": ["v1", "v0"]})
        if path.startswith("/v2/acme/tool/"):
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]})


async def run(fake: Fake, package: str = "acme/tool", spec: str = "v1", **kwargs: Any) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
        return await resolve("oci", package, spec, registry="https://reg.example", client=client, **kwargs)


async def test_resolve_single_manifest() -> None:
    fake = Fake(entrypoint=["/bin/server"], cmd=["--stdio"])
    result = await run(fake)
    assert result.version == "v1"
    assert result.latest is None
    assert result.integrity == fake.image.digest
    assert result.artifact_url == f"reg.example/acme/tool@{fake.image.digest}"
    assert result.command == ("/bin/server", "--stdio")
    assert "application/vnd.oci.image.index.v1+json" in fake.requests[0].headers["accept"]


async def test_resolve_index_picks_linux_amd64_and_digest_pins_the_index() -> None:
    fake = Fake(entrypoint=["/amd64"], platforms=[("linux", "arm64"), ("linux", "amd64")])
    result = await run(fake)
    assert result.integrity == fake.image.digest
    fake_arm = Fake(entrypoint=["/only"], platforms=[("linux", "arm64")])
    assert (await run(fake_arm)).command == ("/only",)


async def test_resolve_by_digest() -> None:
    fake = Fake(entrypoint=["x"])
    result = await run(fake, spec=fake.image.digest)
    assert result.version == fake.image.digest == result.integrity


async def test_bearer_and_basic_auth() -> None:
    creds = Credentials(username="u", password="p")
    fake = Fake("bearer", entrypoint=["x"])
    assert (await run(fake, credentials=creds)).command == ("x",)
    token_requests = [r for r in fake.requests if r.url.path == "/token"]
    assert len(token_requests) == 1  # the token is reused for the blob
    assert token_requests[0].url.params["scope"] == "repository:acme/tool:pull"
    assert token_requests[0].url.params["service"] == "reg"
    assert (await run(Fake("basic", cmd=["y"]), credentials=creds)).command == ("y",)
    assert (
        await run(Fake("bearer", cmd=["z"]), credentials=Credentials(username="u", token="p"))
    ).command == ("z",)


async def test_auth_failures() -> None:
    with pytest.raises(errors.RegistryAuthFailed, match="refused a pull token"):
        await run(Fake("bearer"))
    with pytest.raises(errors.RegistryAuthFailed, match="requires credentials"):
        await run(Fake("basic"))
    with pytest.raises(errors.RegistryAuthFailed, match="refused access"):
        await run(Fake("basic"), credentials=Credentials(username="u", password="wrong"))
    fake = Fake("bearer")
    fake.overrides["/v2/acme/tool/manifests/v1"] = httpx.Response(
        401, headers={"WWW-Authenticate": 'Bearer realm="file:///etc/passwd"'}
    )
    with pytest.raises(errors.RegistryAuthFailed, match="unusable auth realm"):
        await run(fake)
    fake = Fake("bearer")
    fake.overrides["/token"] = httpx.Response(200, json={"nothing": True})
    with pytest.raises(errors.RegistryAuthFailed, match="sent no token"):
        await run(fake)


async def test_not_found() -> None:
    with pytest.raises(errors.VersionNotFound, match="no tag 'v9'; available tags: v0, v1"):
        await run(Fake(), spec="v9")
    with pytest.raises(errors.PackageNotFound, match="'other/repo' was not found"):
        await run(Fake(), package="other/repo")


async def test_bad_tags_and_digest_mismatch() -> None:
    with pytest.raises(errors.InvalidSpec, match="not an image tag"):
        await run(Fake(), spec="-bad tag")
    fake = Fake()
    media, body = fake.image.top
    fake.overrides["/v2/acme/tool/manifests/v1"] = httpx.Response(
        200, content=body, headers={"Content-Type": media, "Docker-Content-Digest": "sha256:" + "0" * 64}
    )
    with pytest.raises(errors.InvalidPackage, match="does not match"):
        await run(fake)
    fake.overrides["/v2/acme/tool/manifests/v1"] = httpx.Response(200, content=b"nope")
    with pytest.raises(errors.InvalidPackage, match="not JSON"):
        await run(fake)
    fake.overrides["/v2/acme/tool/manifests/v1"] = httpx.Response(200, content=b"[]")
    with pytest.raises(errors.InvalidPackage, match="not a JSON object"):
        await run(fake)


@pytest.mark.parametrize(
    "manifest",
    [
        {"schemaVersion": 2, "config": {"digest": "nope"}},
        {"schemaVersion": 2, "config": {"digest": "sha256:" + "1" * 64}},
        {"schemaVersion": 2, "manifests": []},
        {"schemaVersion": 2, "manifests": [{"digest": "sha256:bad"}]},
    ],
)
async def test_command_is_empty_when_config_is_unavailable(manifest: dict[str, Any]) -> None:
    fake = Fake()
    fake.overrides["/v2/acme/tool/manifests/v1"] = httpx.Response(200, content=json.dumps(manifest).encode())
    assert (await run(fake)).command == ()


@pytest.mark.parametrize("config", [b"not json", b'{"config": 3}', b'{"config": {"Entrypoint": "sh"}}'])
async def test_command_with_odd_configs(config: bytes) -> None:
    fake = Fake()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = {"schemaVersion": 2, "config": {"digest": digest}}
    fake.overrides["/v2/acme/tool/manifests/v1"] = httpx.Response(200, content=json.dumps(manifest).encode())
    fake.overrides[f"/v2/acme/tool/blobs/{digest}"] = httpx.Response(200, content=config)
    assert (await run(fake)).command == ()


async def test_tags_list_oddities() -> None:
    fake = Fake()
    fake.overrides["/v2/acme/tool/tags/list"] = httpx.Response(200, content=b"garbage")
    with pytest.raises(errors.VersionNotFound, match="available tags: none"):
        await run(fake, spec="v9")


async def test_expired_token_is_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", http.RetryPolicy(attempts=1))
    fake = Fake("bearer", entrypoint=["x"])
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
        oci = OciClient(client, credentials=Credentials(username="u", password="p"))
        oci._tokens[("https://reg.example/token", "repository:acme/tool:pull")] = "stale"
        result = await oci.resolve("acme/tool", "v1", registry="https://reg.example")
    assert result.command == ("x",)
    assert oci._tokens == {("https://reg.example/token", "repository:acme/tool:pull"): "tok"}
