"""Registry credentials: only from Secrets made for them, only to the registry they are bound to
(issue 10 item 1: naming a Secret must not make the operator send it to a URL of one's choosing)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest

from mcp_operator.registries import binding, effective_registry, http
from mcp_operator.registries.oci import OciClient, parse_reference
from mcp_operator.registries.secrets import CredentialsRefused, credentials_from_secret
from mcp_operator.registries.types import Credentials


def secret(type_: str, **data: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "creds"},
        "type": type_,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def docker(auths: dict[str, Any]) -> dict[str, Any]:
    return secret("kubernetes.io/dockerconfigjson", **{".dockerconfigjson": json.dumps({"auths": auths})})


NPM = "https://npm.example.com/team"
REGISTRY_AUTH = "mcp-operator.dev/registry-auth"


@pytest.mark.parametrize(
    ("bound", "url", "allowed"),
    [
        ("https://npm.example.com/team", "https://npm.example.com/team/pkg", True),
        ("https://npm.example.com/team/", "https://npm.example.com/team", True),
        ("https://npm.example.com", "https://npm.example.com:443/x/-/x-1.tgz", True),
        ("https://npm.example.com/team", "https://npm.example.com/teamX/pkg", False),  # not under the path
        ("https://npm.example.com/team", "https://npm.example.com/other", False),
        ("https://npm.example.com", "http://npm.example.com/pkg", False),  # TLS dropped
        ("https://npm.example.com", "https://npm.example.com.evil/pkg", False),
        ("https://npm.example.com", "https://evil.example/npm.example.com", False),
        ("https://npm.example.com", "https://npm.example.com:8443/pkg", False),
        ("http://10.0.0.5:4873", "http://10.0.0.5:4873/pkg", True),  # the Secret says http: consent
        ("not a url", "https://npm.example.com", False),
    ],
)
def test_url_bindings_follow_npmrc_and_pip(bound: str, url: str, allowed: bool) -> None:
    assert binding.url_allowed(bound, url) is allowed


def test_host_bindings_follow_dockerconfigjson() -> None:
    assert binding.host_allowed("ghcr.io", "https://ghcr.io/v2/o/i/manifests/1")
    assert binding.host_allowed(
        "https://index.docker.io/v1/", "https://registry-1.docker.io/v2/library/x/tags/list"
    )
    assert not binding.host_allowed("ghcr.io", "https://ghcr.io.evil/v2/")
    assert not binding.host_allowed("ghcr.io", "http://ghcr.io/v2/")
    assert binding.host_allowed("localhost:5000", "http://localhost:5000/v2/", allow_http=True)
    assert not binding.host_allowed("localhost:5000", "http://localhost:5001/v2/", allow_http=True)


def test_an_opted_in_secret_bound_to_the_registry_gives_bound_credentials() -> None:
    found = credentials_from_secret(
        secret(REGISTRY_AUTH, registry=NPM, token="t0k"), source_type="npm", registry=NPM
    )
    assert found == Credentials(token="t0k", registry=NPM)
    found = credentials_from_secret(
        secret(REGISTRY_AUTH, registry="https://pypi.example", username="u", password="p"),
        source_type="pypi",
        registry="https://pypi.example/private",
    )
    assert (found.username, found.password, found.registry) == ("u", "p", "https://pypi.example")


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (secret("Opaque", token="t"), "has type 'Opaque': the operator takes registry credentials only"),
        (
            secret("kubernetes.io/service-account-token", token="eyJ..."),
            "has type 'kubernetes.io/service-account-token'",
        ),
        (secret(REGISTRY_AUTH, token="t"), "has no 'registry' key"),
        (
            secret(REGISTRY_AUTH, registry="https://npm.example.com/team", token="t"),
            "holds credentials for 'https://npm.example.com/team', not for 'https://evil.example'",
        ),
        (secret(REGISTRY_AUTH, registry="https://evil.example", username="u"), "neither a 'token' key"),
    ],
)
def test_other_secrets_are_refused_with_what_to_do(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(CredentialsRefused, match=re.escape(message)) as info:
        credentials_from_secret(obj, source_type="npm", registry="https://evil.example")
    assert (
        "docs/security.md#registry-credentials" in str(info.value)
        or "add them" in str(info.value)
        or ("use a Secret bound to" in str(info.value))
    )
    assert "eyJ" not in str(info.value)  # the message never carries a secret value


def test_image_credentials_come_from_the_entry_for_the_image_host_only() -> None:
    auth = base64.b64encode(b"robot:s3cret").decode()
    obj = docker({"https://ghcr.io": {"auth": auth}, "other.example": {"username": "x", "password": "y"}})
    found = credentials_from_secret(obj, source_type="oci", registry="https://ghcr.io", image_host="ghcr.io")
    assert (found.username, found.password, found.registry) == ("robot", "s3cret", "ghcr.io")
    with pytest.raises(CredentialsRefused, match=re.escape("no entry for the registry evil.example")):
        credentials_from_secret(
            obj, source_type="oci", registry="https://evil.example", image_host="evil.example"
        )
    with pytest.raises(CredentialsRefused, match=re.escape("has type 'mcp-operator.dev/registry-auth'")):
        credentials_from_secret(
            secret(REGISTRY_AUTH, registry="https://ghcr.io", token="t"), source_type="oci", registry="x"
        )
    with pytest.raises(CredentialsRefused, match=re.escape("no valid '.dockerconfigjson'")):
        credentials_from_secret(secret("kubernetes.io/dockerconfigjson"), source_type="oci", registry="x")


def test_the_effective_registry_is_what_the_clients_fetch_from() -> None:
    assert effective_registry("npm", "x", None) == ("https://registry.npmjs.org", None)
    assert effective_registry("pypi", "x", "https://pypi.example/simple/") == ("https://pypi.example", None)
    assert effective_registry("oci", "ghcr.io/o/i", None) == ("https://ghcr.io", "ghcr.io")
    assert effective_registry("oci", "nginx", None)[1] == "docker.io"


async def test_credentials_never_follow_a_redirect_to_another_host_or_to_plain_http() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "npm.example.com" and request.url.path == "/team/pkg":
            return httpx.Response(302, headers={"Location": "https://evil.example/steal"})
        if request.url.path == "/team/tls-drop":
            return httpx.Response(302, headers={"Location": "http://npm.example.com/team/pkg2"})
        return httpx.Response(200, json={})

    creds = Credentials(token="t0k", registry=NPM)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True) as client:
        for path in ("pkg", "tls-drop"):
            await http.fetch_document(
                client, f"{NPM}/{path}", what="x", accept="*/*", credentials=creds, retry=None, cache=None
            )
        # A document URL outside the binding gets no credentials in the first place.
        await http.fetch_document(
            client,
            "https://evil.example/pkg",
            what="x",
            accept="*/*",
            credentials=creds,
            retry=None,
            cache=None,
        )
    sent = [(str(r.url), r.headers.get("authorization")) for r in seen]
    assert sent == [
        ("https://npm.example.com/team/pkg", "Bearer t0k"),
        ("https://evil.example/steal", None),
        ("https://npm.example.com/team/tls-drop", "Bearer t0k"),
        ("http://npm.example.com/team/pkg2", None),
        ("https://evil.example/pkg", None),
    ]


async def test_image_credentials_go_to_their_host_and_an_https_token_realm_only() -> None:
    seen: list[httpx.Request] = []
    realm = {"url": "https://auth.example/token"}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if (
            request.url.path.startswith("/v2/")
            and "bearer" not in request.headers.get("authorization", "").lower()
        ):
            challenge = f'Bearer realm="{realm["url"]}",service="reg",scope="repository:o/i:pull"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "pull-token"})
        return httpx.Response(200, json={"tags": ["1.0.0"]})

    creds = Credentials(username="robot", password="s3cret", registry="ghcr.io")
    basic = "Basic " + base64.b64encode(b"robot:s3cret").decode()
    for realm_url, expected in (("https://auth.example/token", basic), ("http://auth.example/token", None)):
        realm["url"] = realm_url
        seen.clear()
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            oci = OciClient(client, credentials=creds)
            await oci.tags(parse_reference("ghcr.io/o/i"))
        token_requests = [r for r in seen if r.url.path == "/token"]
        assert [r.headers.get("authorization") for r in token_requests] == [expected]
    # Credentials for another host are never sent to this one, realm or not.
    realm["url"] = "https://auth.example/token"
    seen.clear()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        oci = OciClient(
            client, credentials=Credentials(username="robot", password="s3cret", registry="quay.io")
        )
        await oci.tags(parse_reference("ghcr.io/o/i"))
    assert all("s3cret" not in (r.headers.get("authorization") or "") for r in seen)
    assert all(not (r.headers.get("authorization") or "").startswith("Basic") for r in seen)
