"""The confused deputy, closed (issue 10 item 1): whoever may create an MCPPackage cannot make the
operator send a Secret's token to a registry of their choosing. The operator takes registry
credentials only from Secrets made for them and sends them only to the registry they are bound to.
A local "attacker" registry records every Authorization header it is sent."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import web
from tests.fixtures.cluster import Cluster
from tests.integration.conftest import serve_app
from tests.integration.helpers import condition, package, reason_is

pytestmark = pytest.mark.integration
REGISTRY_AUTH = "mcp-operator.dev/registry-auth"


def secret(name: str, type_: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": type_,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


async def test_a_secret_cannot_be_sent_to_a_registry_it_is_not_bound_to(
    operator: Cluster, npm_registry
) -> None:
    seen: list[str | None] = []

    async def attacker(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(status=401, text="auth please")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", attacker)
    private = f"@private/{operator.unique('creds')}"  # verdaccio serves @private/* only with auth
    npm_registry.publish_npm(private, "1.0.0")
    token = npm_registry.token
    await operator.create("secrets", secret("sa-like", "Opaque", token=token), api_version="v1")
    bound = secret("npm-private", REGISTRY_AUTH, registry=npm_registry.url, token=token)
    await operator.create("secrets", bound, api_version="v1")
    async with serve_app(app) as evil:
        # 1. Any Secret with a 'token' key (here an Opaque one, as a service-account token would be).
        spec = package("steal-a", "npm", private, evil)
        spec["spec"]["source"]["registryAuthSecret"] = "sa-like"
        await operator.create("mcppackages", spec)
        obj = await operator.wait_for("mcppackages", "steal-a", reason_is("SecretNotFound"))
        message = condition(obj)["message"]
        assert "has type 'Opaque'" in message
        assert "mcp-operator.dev/registry-auth" in message
        # 2. A real registry-credentials Secret, bound to verdaccio, named for another registry.
        spec = package("steal-b", "npm", private, evil)
        spec["spec"]["source"]["registryAuthSecret"] = "npm-private"
        await operator.create("mcppackages", spec)
        obj = await operator.wait_for("mcppackages", "steal-b", reason_is("SecretNotFound"))
        assert f"holds credentials for {npm_registry.url!r}, not for" in condition(obj)["message"]
        # 3. No Secret at all: the attacker's registry asks for auth; the message says to set one.
        await operator.create("mcppackages", package("plain", "npm", private, evil))
        obj = await operator.wait_for("mcppackages", "plain", reason_is("RegistryAuthFailed"))
        assert "set spec.source.registryAuthSecret to a Secret of type" in condition(obj)["message"]
    assert token not in str(seen)
    assert all(header is None for header in seen), seen

    # The same Secret, for the registry it is bound to: the private package resolves.
    spec = package("mine", "npm", private, npm_registry.url)
    spec["spec"]["source"]["registryAuthSecret"] = "npm-private"
    await operator.create("mcppackages", spec)
    obj = await operator.wait_for("mcppackages", "mine", reason_is("Resolved"))
    assert obj["status"]["resolvedVersion"] == "1.0.0"
