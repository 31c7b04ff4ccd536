"""The operator's allow-list: a package from a registry or with a name the admin did not allow is
Failed with NotAllowed and never fetched; an allowed one resolves."""

from __future__ import annotations

import pytest
from aiohttp import web
from tests.fixtures.cluster import Cluster, running_operator
from tests.integration.conftest import serve_app
from tests.integration.helpers import condition, package, reason_is, wait_event

pytestmark = pytest.mark.integration


async def test_only_allowed_registries_and_packages_are_installed(
    cluster: Cluster, npm_registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", elsewhere)
    allowed = cluster.unique("allow-me")
    npm_registry.publish_npm(allowed, "1.0.0")
    monkeypatch.setenv("MCP_OPERATOR_ALLOWED_REGISTRIES", npm_registry.url)
    monkeypatch.setenv("MCP_OPERATOR_ALLOWED_PACKAGES", "npm:allow-me*")
    async with serve_app(app) as other, running_operator([] if cluster.emulator else [cluster.namespace]):
        await cluster.create("mcppackages", package("far", "npm", allowed, other))
        obj = await cluster.wait_for("mcppackages", "far", reason_is("NotAllowed"))
        assert obj["status"]["phase"] == "Failed"
        assert "MCP_OPERATOR_ALLOWED_REGISTRIES" in condition(obj)["message"]
        await wait_event(cluster, "far", "NotAllowed")
        await cluster.create("mcppackages", package("named", "npm", "left-pad", npm_registry.url))
        obj = await cluster.wait_for("mcppackages", "named", reason_is("NotAllowed"))
        assert "'left-pad' is not one this operator installs" in condition(obj)["message"]
        await cluster.create("mcppackages", package("ok", "npm", allowed, npm_registry.url))
        obj = await cluster.wait_for("mcppackages", "ok", reason_is("Resolved"))
        assert obj["status"]["resolvedVersion"] == "1.0.0"
    assert asked == []  # a registry not allowed is never asked anything
