"""Update checks and upgrades at the API level (docs/upgrades.md), against verdaccio, with new
versions published in the middle of a test. Rollback triggered by real pods is in
tests/e2e/test_upgrades.py; here, where no kubelet runs, the emulator's named fake
(emulated_rollout) stands in for the first rollout and the deadline is what fails the second."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.fixtures.cluster import Cluster
from tests.integration.conftest import serve_app
from tests.integration.helpers import emulated_rollout, package, ready, server, wait_event

from mcp_operator.registries.http import RetryPolicy

pytestmark = pytest.mark.integration
BIN = {"tiny": "index.js"}


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def check_is(status: str) -> Any:
    return lambda o: cond(o, "UpdateCheck").get("status") == status


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


async def annotate(cluster: Cluster, name: str, key: str, value: str) -> None:
    await cluster.patch(
        "mcppackages", name, {"metadata": {"annotations": {f"mcp-operator.dev/{key}": value}}}
    )


async def test_a_check_on_demand_then_upgrades_within_the_constraint(operator: Cluster, npm_registry) -> None:
    name = operator.unique("up-check")
    npm_registry.publish_npm(name, "1.0.0", bin=BIN)
    await operator.create(
        "mcppackages",
        package("up", "npm", name, npm_registry.url, "^1", updates={"check": True, "interval": "24h"}),
    )
    obj = await operator.wait_for("mcppackages", "up", lambda o: bool(cond(o, "UpdateCheck")))
    assert obj["status"]["resolvedVersion"] == "1.0.0"
    assert obj["status"]["updateAvailable"] is False
    assert cond(obj, "UpdateCheck")["reason"] == "Checked"

    # New releases: the pin does not move by itself (policy none), a check on demand sees them.
    npm_registry.publish_npm(name, "1.4.2", bin=BIN)
    npm_registry.publish_npm(name, "2.0.0", bin=BIN)
    await annotate(operator, "up", "check", "now")
    obj = await operator.wait_for(
        "mcppackages", "up", lambda o: o.get("status", {}).get("latestVersion") == "2.0.0", what="the check"
    )
    status = obj["status"]
    assert (status["resolvedVersion"], status["allowedVersion"], status["updateAvailable"]) == (
        "1.0.0",
        "1.4.2",
        True,
    )
    obj = await operator.wait_for(
        "mcppackages", "up", lambda o: "mcp-operator.dev/check" not in annotations(o)
    )

    # A version outside the constraint is refused, with what to do; the request is consumed.
    await annotate(operator, "up", "upgrade", "2.0.0")
    obj = await operator.wait_for(
        "mcppackages", "up", lambda o: cond(o, "Upgrade").get("reason") == "UpgradeRefused"
    )
    assert "change spec.source.version" in cond(obj, "Upgrade")["message"]
    assert obj["status"]["resolvedVersion"] == "1.0.0"
    await operator.wait_for("mcppackages", "up", lambda o: "mcp-operator.dev/upgrade" not in annotations(o))
    await wait_event(operator, "up", "UpgradeRefused")

    # Upgrade to the newest allowed version: no server to watch, so done when the pin moves.
    await annotate(operator, "up", "upgrade", "latest")
    obj = await operator.wait_for(
        "mcppackages", "up", lambda o: cond(o, "Upgrade").get("reason") == "Upgraded"
    )
    status = obj["status"]
    assert status["resolvedVersion"] == "1.4.2"
    assert "rollout" not in status
    assert [(h["version"], h["outcome"]) for h in status["history"][:2]] == [
        ("1.4.2", "upgraded"),
        ("1.0.0", "resolved"),
    ]
    assert "mcp-operator.dev/upgrade" not in annotations(obj)
    await wait_event(operator, "up", "Upgraded")

    # Asked again: nothing newer is allowed, and it says so.
    await annotate(operator, "up", "upgrade", "latest")
    obj = await operator.wait_for(
        "mcppackages", "up", lambda o: cond(o, "Upgrade").get("reason") == "UpToDate"
    )
    assert obj["status"]["resolvedVersion"] == "1.4.2"


async def test_a_policy_upgrades_within_its_bound_only(operator: Cluster, npm_registry) -> None:
    name = operator.unique("up-policy")
    npm_registry.publish_npm(name, "1.0.0", bin=BIN)
    updates = {"check": True, "interval": "24h", "policy": "patch"}
    await operator.create("mcppackages", package("pol", "npm", name, npm_registry.url, updates=updates))
    await operator.wait_for("mcppackages", "pol", lambda o: bool(cond(o, "UpdateCheck")))
    npm_registry.publish_npm(name, "1.0.1", bin=BIN)
    npm_registry.publish_npm(name, "1.1.0", bin=BIN)
    await annotate(operator, "pol", "check", "now")
    obj = await operator.wait_for(
        "mcppackages",
        "pol",
        lambda o: cond(o, "Upgrade").get("reason") == "Upgraded",
        what="the policy upgrade",
    )
    assert obj["status"]["resolvedVersion"] == "1.0.1"  # 1.1.0 is a minor step: outside 'patch'
    assert obj["status"]["latestVersion"] == "1.1.0"
    assert obj["status"]["updateAvailable"] is True


async def test_a_new_source_version_is_rolled_out_with_history(operator: Cluster, npm_registry) -> None:
    name = operator.unique("up-source")
    for version in ("1.0.0", "1.1.0"):
        npm_registry.publish_npm(name, version, bin=BIN)
    await operator.create("mcppackages", package("src", "npm", name, npm_registry.url, "1.0.0"))
    await operator.wait_for("mcppackages", "src", ready)
    await operator.patch("mcppackages", "src", {"spec": {"source": {"version": "1.1.0"}}})
    obj = await operator.wait_for(
        "mcppackages", "src", lambda o: cond(o, "Upgrade").get("reason") == "Upgraded"
    )
    assert obj["status"]["resolvedVersion"] == "1.1.0"
    assert obj["status"]["history"][0]["outcome"] == "upgraded"
    assert obj["status"]["history"][0]["message"] == "from 1.0.0"


async def test_a_rollout_that_misses_its_deadline_is_rolled_back_and_not_retried(
    emulated: Cluster, npm_registry
) -> None:
    cluster = emulated
    name = "up-deadline-emu"
    npm_registry.publish_npm(name, "1.0.0", bin=BIN)
    updates = {"rolloutDeadline": "3s"}
    await cluster.create(
        "mcppackages", package("dl", "npm", name, npm_registry.url, "^1.0.0", updates=updates)
    )
    await cluster.wait_for("mcppackages", "dl", ready)
    await cluster.create("mcpservers", server("dl", "dl"))
    await cluster.wait_for("deployments", "dl", lambda o: True, api_version="apps/v1")
    await emulated_rollout(cluster, "dl")
    await cluster.wait_for("mcpservers", "dl", ready)
    npm_registry.publish_npm(name, "1.1.0", bin=BIN)

    # Nothing runs the new version here: past the deadline the previous pin comes back.
    await annotate(cluster, "dl", "upgrade", "1.1.0")
    obj = await cluster.wait_for(
        "mcppackages", "dl", lambda o: cond(o, "Upgrade").get("reason") == "RolledBack", timeout=60
    )
    status = obj["status"]
    assert status["resolvedVersion"] == "1.0.0"
    assert [(f["version"], f["reason"]) for f in status["failedVersions"]] == [("1.1.0", "RolloutTimedOut")]
    assert (status["history"][0]["version"], status["history"][0]["outcome"]) == ("1.1.0", "rolledBack")
    assert "kubectl annotate mcppackage dl mcp-operator.dev/upgrade=1.1.0" in cond(obj, "Upgrade")["message"]
    await wait_event(cluster, "dl", "RolledBack")
    dep = await cluster.get("deployments", "dl", api_version="apps/v1")
    assert dep is not None
    assert dep["spec"]["template"]["metadata"]["annotations"]["mcp-operator.dev/package-version"] == "1.0.0"

    # The constraint now selects the failed version: the pin stays, and the condition says how to retry.
    await cluster.patch("mcppackages", "dl", {"spec": {"source": {"version": ">=1.0.0"}}})
    obj = await cluster.wait_for(
        "mcppackages", "dl", lambda o: cond(o, "Upgrade").get("reason") == "FailedBefore"
    )
    assert obj["status"]["resolvedVersion"] == "1.0.0"

    # Asked for by name, it is tried again (and taken off failedVersions while it rolls out).
    await annotate(cluster, "dl", "upgrade", "1.1.0")
    obj = await cluster.wait_for(
        "mcppackages", "dl", lambda o: (o.get("status", {}).get("rollout") or {}).get("to") == "1.1.0"
    )
    assert obj["status"]["failedVersions"] == []


async def test_upgrade_all_reports_one_result_per_package_and_a_failure_stops_nothing(
    emulated: Cluster, npm_registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_operator.cli.upgrade import render, upgrade_all
    from mcp_operator.k8s import Kube

    cluster = emulated
    names = {key: f"up-all-{key}-emu" for key in ("newer", "current", "broken")}
    for name in names.values():
        npm_registry.publish_npm(name, "1.0.0", bin=BIN)
    for key, name in names.items():
        updates = {"rolloutDeadline": "3s"}
        await cluster.create(
            "mcppackages", package(key, "npm", name, npm_registry.url, "^1", updates=updates)
        )
        await cluster.wait_for("mcppackages", key, ready)
    # 'broken' has a server, and nothing here runs its new version: its upgrade is rolled back.
    await cluster.create("mcpservers", server("broken", "broken"))
    await cluster.wait_for("deployments", "broken", lambda o: True, api_version="apps/v1")
    await emulated_rollout(cluster, "broken")
    await cluster.wait_for("mcpservers", "broken", ready)
    npm_registry.publish_npm(names["newer"], "1.1.0", bin=BIN)
    npm_registry.publish_npm(names["broken"], "1.1.0", bin=BIN)

    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    kube = Kube.from_env()
    try:
        results = await upgrade_all(kube, cluster.namespace, concurrency=2, wait_s=60, poll=0.2)
    finally:
        await kube.close()
    by_name = {r.name: r for r in results}
    assert set(by_name) == {"newer", "current", "broken"}
    assert (by_name["newer"].success, by_name["newer"].version) == (True, "1.1.0")
    assert (by_name["current"].success, by_name["current"].version) == (True, "1.0.0")
    assert (by_name["broken"].success, by_name["broken"].version) == (False, "1.0.0")
    assert "1.1.0 was rolled back" in (by_name["broken"].error or "")
    shaped = json.loads(render(results, "json"))
    assert shaped["success"] is False
    assert {r["serverName"]: r["success"] for r in shaped["results"]} == {
        "newer": True,
        "current": True,
        "broken": False,
    }
    assert "broken: FAILED (runs 1.0.0)" in render(results, "text")


async def test_a_registry_outage_keeps_the_last_answer_and_says_since_when(
    operator: Cluster, npm_registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry in front of verdaccio that a switch turns into a 503 mirror in trouble."""
    from aiohttp import web

    outage = {"on": False}

    async def relay(request: web.Request) -> web.Response:
        if outage["on"]:
            return web.Response(status=503, text="upstream unavailable")
        async with httpx.AsyncClient() as client:
            upstream = await client.get(npm_registry.url + request.path_qs.lstrip("/"))
        headers = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "etag")}
        return web.Response(status=upstream.status_code, body=upstream.content, headers=headers)

    monkeypatch.setattr("mcp_operator.registries.http.DEFAULT_RETRY", RetryPolicy(attempts=1))
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", relay)
    async with serve_app(app) as mirror:
        name = operator.unique("up-outage")
        npm_registry.publish_npm(name, "1.0.0", bin=BIN)
        npm_registry.publish_npm(name, "1.1.0", bin=BIN, dist_tags={})  # published, not 'latest'
        updates = {"check": True, "interval": "24h"}
        await operator.create("mcppackages", package("out", "npm", name, mirror, "^1", updates=updates))
        obj = await operator.wait_for(
            "mcppackages", "out", lambda o: cond(o, "UpdateCheck").get("status") == "True"
        )
        before = obj["status"]
        outage["on"] = True
        await annotate(operator, "out", "check", "now")
        obj = await operator.wait_for(
            "mcppackages", "out", lambda o: cond(o, "UpdateCheck").get("status") == "False"
        )
        check = cond(obj, "UpdateCheck")
        assert check["reason"] == "RegistryUnavailable"
        assert f"from the last successful check: {before['lastChecked']}" in check["message"]
        for field in ("resolvedVersion", "latestVersion", "allowedVersion", "updateAvailable", "lastChecked"):
            assert obj["status"].get(field) == before.get(field), field  # the last answer stays
        assert obj["status"]["phase"] == "Ready"  # running servers are not the registry's business
        outage["on"] = False
        await annotate(operator, "out", "check", "again")
        obj = await operator.wait_for(
            "mcppackages", "out", lambda o: cond(o, "UpdateCheck").get("status") == "True"
        )
        assert obj["status"]["resolvedVersion"] == "1.0.0"
