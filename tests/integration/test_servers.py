"""MCPServer: children rendered and applied, status following the Deployment, enable/disable, rolls.

API-level: on the emulator and on the real API server without a node. Where a test needs ready
pods, the emulator's Deployment status is written by a fake (`emulated_rollout`); on the real API
server the test stops there, and tests/e2e/test_real_pods.py does the same with real pods."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fixtures.cluster import Cluster, condition
from tests.integration.helpers import emulated_rollout, package, ready, reason_is, server, wait_event

pytestmark = pytest.mark.integration
APPS = "apps/v1"


def annotation(dep: dict[str, Any]) -> str:
    return dep["spec"]["template"]["metadata"]["annotations"]["mcp-operator.dev/package-version"]


async def _resolved_package(
    cluster: Cluster, registry: Any, name: str, pkg: str, version: str = "latest"
) -> None:
    await cluster.create("mcppackages", package(name, "npm", pkg, registry.url, version))
    await cluster.wait_for("mcppackages", name, ready)


async def test_server_gets_deployment_service_and_status(operator: Cluster, npm_registry) -> None:
    published = npm_registry.publish_npm(operator.unique("it-srv"), "1.0.0", bin={"it-srv": "index.js"})
    await _resolved_package(operator, npm_registry, "srv-pkg", operator.unique("it-srv"))
    await operator.create("mcpservers", server("srv", "srv-pkg", args=["--verbose"]))

    dep = await operator.wait_for("deployments", "srv", lambda o: True, api_version=APPS)
    pod = dep["spec"]["template"]["spec"]
    install = pod["initContainers"][0]["command"]
    assert install[:2] == ["mcp-operator", "install"]
    assert install[install.index("--version") + 1] == "1.0.0"
    assert install[install.index("--integrity") + 1] == published.integrity
    main = pod["containers"][0]["command"]
    assert main[main.index("--") + 1 :] == ["it-srv", "--verbose"]
    assert pod["automountServiceAccountToken"] is False
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "MCPServer"
    srv_obj = await operator.get("mcpservers", "srv")
    assert srv_obj is not None
    assert dep["metadata"]["ownerReferences"][0]["uid"] == srv_obj["metadata"]["uid"]

    svc = await operator.wait_for("services", "srv", lambda o: True, api_version="v1")
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert await operator.get("networkpolicies", "srv", api_version="networking.k8s.io/v1") is None

    obj = await operator.wait_for("mcpservers", "srv", reason_is("RollingOut"))
    assert obj["status"]["url"] == f"http://srv.{operator.namespace}.svc:8080/mcp"
    assert obj["status"]["phase"] == "Progressing"

    if operator.emulator is None:
        return  # Running needs ready pods: tests/e2e/test_real_pods.py
    await emulated_rollout(operator, "srv")
    obj = await operator.wait_for("mcpservers", "srv", ready)
    assert obj["status"]["phase"] == "Running"
    assert obj["status"]["version"] == "1.0.0"
    assert obj["status"]["ready"] == "1/1"
    assert condition(obj)["observedGeneration"] == obj["metadata"]["generation"]
    # The emulator allocates no cluster IP, so there is nothing to shake hands with: the Verified
    # condition says so, and nothing else is held up (tests/e2e does the handshake with real pods).
    verified = condition(obj, "Verified")
    assert (verified["status"], verified["reason"]) == ("Unknown", "VerifyPending"), verified
    assert verified["message"] == "the Service has no cluster IP yet: nothing to connect to"
    assert "serverInfo" not in obj["status"]


async def test_disable_scales_to_zero_and_back(operator: Cluster, npm_registry) -> None:
    npm_registry.publish_npm(operator.unique("it-toggle"), "1.0.0", bin={"it-toggle": "index.js"})
    await _resolved_package(operator, npm_registry, "toggle-pkg", operator.unique("it-toggle"))
    await operator.create("mcpservers", server("toggle", "toggle-pkg", replicas=2))
    await operator.wait_for("deployments", "toggle", lambda o: o["spec"]["replicas"] == 2, api_version=APPS)

    await operator.patch("mcpservers", "toggle", {"spec": {"enabled": False}})
    await operator.wait_for("deployments", "toggle", lambda o: o["spec"]["replicas"] == 0, api_version=APPS)
    if operator.emulator is not None:
        await emulated_rollout(operator, "toggle")  # of zero pods: the real controller needs no kubelet
    obj = await operator.wait_for("mcpservers", "toggle", reason_is("Disabled"))
    assert obj["status"]["phase"] == "Disabled"
    # Nothing is uninstalled: the package and the Service stay.
    assert await operator.get("mcppackages", "toggle-pkg") is not None
    assert await operator.get("services", "toggle", api_version="v1") is not None

    await operator.patch("mcpservers", "toggle", {"spec": {"enabled": True}})
    await operator.wait_for("deployments", "toggle", lambda o: o["spec"]["replicas"] == 2, api_version=APPS)
    if operator.emulator is None:
        return  # Running needs ready pods: tests/e2e/test_real_pods.py
    await emulated_rollout(operator, "toggle")
    obj = await operator.wait_for("mcpservers", "toggle", ready)
    assert obj["status"]["phase"] == "Running"


async def test_version_change_rolls_the_deployment(operator: Cluster, npm_registry) -> None:
    for version in ("1.0.0", "2.0.0"):
        npm_registry.publish_npm(operator.unique("it-roll"), version, bin={"it-roll": "index.js"})
    await _resolved_package(operator, npm_registry, "roll-pkg", operator.unique("it-roll"), "1.0.0")
    await operator.create("mcpservers", server("roll", "roll-pkg"))
    dep = await operator.wait_for("deployments", "roll", lambda o: True, api_version=APPS)
    assert annotation(dep) == "1.0.0"
    real = operator.emulator is None  # no pods become ready there: status parts on the emulator only
    if not real:
        await emulated_rollout(operator, "roll")
        await operator.wait_for("mcpservers", "roll", lambda o: o["status"].get("version") == "1.0.0")

    await operator.patch("mcppackages", "roll-pkg", {"spec": {"source": {"version": "2.0.0"}}})
    dep = await operator.wait_for("deployments", "roll", lambda o: annotation(o) == "2.0.0", api_version=APPS)
    install = dep["spec"]["template"]["spec"]["initContainers"][0]["command"]
    assert install[install.index("--version") + 1] == "2.0.0"
    if real:
        return  # the new version running: tests/e2e/test_real_pods.py
    # Until the new pods are ready, the server reports the version it still runs.
    obj = await operator.get("mcpservers", "roll")
    assert obj is not None
    assert obj["status"]["version"] == "1.0.0"
    await emulated_rollout(operator, "roll")
    obj = await operator.wait_for("mcpservers", "roll", lambda o: o["status"].get("version") == "2.0.0")
    assert obj["status"]["phase"] == "Running"


async def test_egress_deny_renders_a_network_policy(operator: Cluster, npm_registry) -> None:
    npm_registry.publish_npm(operator.unique("it-net"), "1.0.0", bin={"it-net": "index.js"})
    await _resolved_package(operator, npm_registry, "net-pkg", operator.unique("it-net"))
    rules = [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}]
    await operator.create(
        "mcpservers", server("net", "net-pkg", network={"egress": "deny", "egressAllow": rules})
    )
    netpol = await operator.wait_for(
        "networkpolicies", "net", lambda o: True, api_version="networking.k8s.io/v1"
    )
    egress = netpol["spec"]["egress"]
    assert egress[0]["ports"][0]["port"] == 53
    assert egress[1]["to"][0]["ipBlock"]["cidr"] == "10.20.0.0/16"

    await operator.patch("mcpservers", "net", {"spec": {"network": {"egress": "allow"}}})
    await operator.wait_gone("networkpolicies", "net", api_version="networking.k8s.io/v1")


async def test_missing_package_then_created(operator: Cluster, npm_registry) -> None:
    await operator.create("mcpservers", server("early", "later-pkg"))
    obj = await operator.wait_for("mcpservers", "early", reason_is("PackageNotFound"))
    assert obj["status"]["phase"] == "Pending"
    assert "later-pkg" in condition(obj)["message"]
    await wait_event(operator, "early", "PackageNotFound")
    # No hot loop: the operator does not keep retrying while nothing changes.
    writes_before = _writes(operator.emulator, "mcpservers", "early") if operator.emulator else 0

    npm_registry.publish_npm(operator.unique("it-later"), "1.0.0", bin={"it-later": "index.js"})
    await operator.create(
        "mcppackages", package("later-pkg", "npm", operator.unique("it-later"), npm_registry.url)
    )
    await operator.wait_for("deployments", "early", lambda o: True, api_version=APPS)
    obj = await operator.wait_for("mcpservers", "early", reason_is("RollingOut"))
    assert obj["status"]["url"].endswith("/mcp")
    assert writes_before <= 4


async def test_unresolvable_package_keeps_server_pending(operator: Cluster, npm_registry) -> None:
    await operator.create(
        "mcppackages", package("nowhere", "npm", operator.unique("it-not-published"), npm_registry.url)
    )
    await operator.create("mcpservers", server("waiting", "nowhere"))
    obj = await operator.wait_for("mcpservers", "waiting", reason_is("PackageNotReady"))
    assert "nowhere" in condition(obj)["message"]
    assert await operator.get("deployments", "waiting", api_version=APPS) is None


async def test_invalid_server_spec_is_reported(emulated: Cluster) -> None:
    # The real API server's schema rejects this (see test_api_server.py); the operator checks again.
    operator = emulated
    await operator.create("mcpservers", server("broken", "some-pkg", replicas=-1, transport="carrier-pigeon"))
    obj = await operator.wait_for("mcpservers", "broken", reason_is("InvalidSpec"))
    message = condition(obj)["message"]
    assert "spec.replicas" in message
    assert "spec.transport" in message
    assert obj["status"]["phase"] == "Failed"
    await wait_event(operator, "broken", "InvalidSpec")


async def test_deleted_deployment_is_recreated(operator: Cluster, npm_registry) -> None:
    npm_registry.publish_npm(operator.unique("it-heal"), "1.0.0", bin={"it-heal": "index.js"})
    await _resolved_package(operator, npm_registry, "heal-pkg", operator.unique("it-heal"))
    await operator.create("mcpservers", server("heal", "heal-pkg"))
    first = await operator.wait_for("deployments", "heal", lambda o: True, api_version=APPS)
    await operator.delete("deployments", "heal", api_version=APPS)
    second = await operator.wait_for(
        "deployments", "heal", lambda o: o["metadata"]["uid"] != first["metadata"]["uid"], api_version=APPS
    )
    assert annotation(second) == "1.0.0"


@pytest.fixture
def short_progress_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_OPERATOR_PROGRESS_DEADLINE", "2")


async def test_rollout_deadline_exceeded_fails_the_server(
    short_progress_deadline: None, operator: Cluster, npm_registry
) -> None:
    npm_registry.publish_npm(operator.unique("it-stuck"), "1.0.0", bin={"it-stuck": "index.js"})
    await _resolved_package(operator, npm_registry, "stuck-pkg", operator.unique("it-stuck"))
    await operator.create("mcpservers", server("stuck", "stuck-pkg"))
    dep = await operator.wait_for("deployments", "stuck", lambda o: True, api_version=APPS)
    assert dep["spec"]["progressDeadlineSeconds"] == 2
    if operator.emulator is not None:
        # No deployment controller here: report what it reports when pods never become ready.
        status = {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 0,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "stuck-1" has timed out progressing.',
                }
            ],
        }
        await operator.patch(
            "deployments", "stuck", {"status": status}, api_version=APPS, subresource="status"
        )
    # On the real API server the pods never become ready (no kubelet): the controller says so.
    obj = await operator.wait_for("mcpservers", "stuck", reason_is("ProgressDeadlineExceeded"), timeout=60)
    assert obj["status"]["phase"] == "Failed"
    assert "1.0.0" in condition(obj)["message"]


def _writes(emulator: Any, plural: str, name: str) -> int:
    """How many PATCH requests the emulator saw for this object (status included)."""
    count = 0
    for request in list(emulator.api):
        path = str(getattr(request, "url", "") or "")
        if request.method == "PATCH" and f"/{plural}/{name}" in path:
            count += 1
    return count


async def test_a_changed_source_keeps_servers_on_the_pin_until_it_resolves(
    operator: Cluster, npm_registry
) -> None:
    published = npm_registry.publish_npm(operator.unique("it-keep"), "1.0.0", bin={"it-keep": "index.js"})
    await _resolved_package(operator, npm_registry, "keep-pkg", operator.unique("it-keep"))
    await operator.create("mcpservers", server("keep", "keep-pkg"))
    await operator.wait_for("deployments", "keep", lambda o: True, api_version=APPS)

    # Point the package at something that does not exist: resolution fails, nothing is lost.
    await operator.patch(
        "mcppackages", "keep-pkg", {"spec": {"source": {"package": operator.unique("it-gone")}}}
    )
    await operator.wait_for("mcppackages", "keep-pkg", reason_is("PackageNotFound"))
    dep = await operator.get("deployments", "keep", api_version=APPS)
    assert dep is not None
    install = dep["spec"]["template"]["spec"]["initContainers"][0]["command"]
    assert install[install.index("--package") + 1] == operator.unique("it-keep")
    assert install[install.index("--integrity") + 1] == published.integrity
