"""MCPPackage resolution against real local registries (verdaccio, pypiserver)."""

from __future__ import annotations

import pytest
from tests.fixtures.cluster import Cluster, condition
from tests.integration.helpers import package, ready, reason_is, wait_event

pytestmark = pytest.mark.integration


async def test_npm_latest_is_resolved_and_pinned(operator: Cluster, npm_registry) -> None:
    published = npm_registry.publish_npm(operator.unique("it-latest"), "1.2.0", bin={"it-latest": "index.js"})
    await operator.create(
        "mcppackages", package("latest", "npm", operator.unique("it-latest"), npm_registry.url)
    )

    obj = await operator.wait_for("mcppackages", "latest", ready)
    status = obj["status"]
    assert status["resolvedVersion"] == "1.2.0"
    assert status["latestVersion"] == "1.2.0"
    assert status["updateAvailable"] is False
    assert status["integrity"] == published.integrity
    assert status["entrypoint"]["command"] == ["it-latest"]
    assert status["phase"] == "Ready"
    assert status["history"][0]["version"] == "1.2.0"
    assert condition(obj)["observedGeneration"] == obj["metadata"]["generation"]
    await wait_event(operator, "latest", "Resolved")

    # A newer release does not move the pin: pods never run "whatever npm says today".
    npm_registry.publish_npm(operator.unique("it-latest"), "1.3.0", bin={"it-latest": "index.js"})
    await operator.patch("mcppackages", "latest", {"spec": {"updates": {"interval": "6h"}}})
    obj = await operator.wait_for(
        "mcppackages",
        "latest",
        lambda o: o["status"].get("observedGeneration") == o["metadata"]["generation"],
    )
    assert obj["status"]["resolvedVersion"] == "1.2.0"

    # A change of the source re-resolves.
    await operator.patch("mcppackages", "latest", {"spec": {"source": {"version": "^1.3"}}})
    # The pin moves at once; the rollout (no servers here) ends in a later write, with the history.
    obj = await operator.wait_for(
        "mcppackages",
        "latest",
        lambda o: o["status"].get("resolvedVersion") == "1.3.0" and "rollout" not in o["status"],
    )
    assert [h["version"] for h in obj["status"]["history"]] == ["1.3.0", "1.2.0"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("2.0.1", "2.0.1"), ("~2.0.0", "2.0.3"), (">=1.0.0 <2.1.0", "2.0.3"), ("1.x", "1.9.0")],
)
async def test_npm_exact_and_ranges(operator: Cluster, npm_registry, spec: str, expected: str) -> None:
    name = operator.unique(f"it-range-{abs(hash(spec)) % 10_000}")
    for version in ("1.9.0", "2.0.1", "2.0.3", "2.1.0"):
        npm_registry.publish_npm(name, version, bin={name: "index.js"})
    await operator.create("mcppackages", package("ranged", "npm", name, npm_registry.url, spec))
    obj = await operator.wait_for("mcppackages", "ranged", ready)
    assert obj["status"]["resolvedVersion"] == expected
    assert obj["status"]["latestVersion"] == "2.1.0"
    assert obj["status"]["updateAvailable"] is (expected != "2.1.0")


async def test_scoped_npm_package(operator: Cluster, npm_registry) -> None:
    published = npm_registry.publish_npm(
        operator.unique("@acme/it-scoped"), "0.4.2", bin={"acme-scoped": "cli.js"}
    )
    await operator.create(
        "mcppackages", package("scoped", "npm", operator.unique("@acme/it-scoped"), npm_registry.url)
    )
    obj = await operator.wait_for("mcppackages", "scoped", ready)
    assert obj["status"]["resolvedVersion"] == "0.4.2"
    assert obj["status"]["integrity"] == published.integrity
    assert obj["status"]["entrypoint"]["command"] == ["acme-scoped"]


async def test_pypi_name_normalisation_and_specifier(operator: Cluster, pypi_registry) -> None:
    for version in ("0.9.0", "1.0.0", "1.1.0"):
        pypi_registry.publish_pypi(
            "it_time.server", version, console_scripts={"it-time-server": "it_time:main"}
        )
    spec = package("pytime", "pypi", "IT-Time_Server", pypi_registry.url, ">=1.0,<1.1")
    await operator.create("mcppackages", spec)
    obj = await operator.wait_for("mcppackages", "pytime", ready)
    status = obj["status"]
    assert status["resolvedVersion"] == "1.0.0"
    assert status["latestVersion"] == "1.1.0"
    assert status["updateAvailable"] is True
    assert status["integrity"].startswith("sha256:")
    assert status["entrypoint"]["command"] == ["it-time-server"]


async def test_entrypoint_override_keeps_the_pin(operator: Cluster, npm_registry) -> None:
    npm_registry.publish_npm(operator.unique("it-override"), "3.0.0", bin={"it-override": "index.js"})
    await operator.create(
        "mcppackages", package("override", "npm", operator.unique("it-override"), npm_registry.url)
    )
    await operator.wait_for("mcppackages", "override", ready)
    await operator.patch(
        "mcppackages",
        "override",
        {"spec": {"entrypoint": {"command": ["node", "x.js"], "args": ["--stdio"]}}},
    )
    obj = await operator.wait_for(
        "mcppackages", "override", lambda o: o["status"]["entrypoint"]["command"] == ["node", "x.js"]
    )
    assert obj["status"]["entrypoint"]["args"] == ["--stdio"]
    assert obj["status"]["resolvedVersion"] == "3.0.0"


async def test_unknown_package_fails_with_advice(operator: Cluster, npm_registry) -> None:
    await operator.create(
        "mcppackages", package("ghost", "npm", operator.unique("it-does-not-exist"), npm_registry.url)
    )
    obj = await operator.wait_for("mcppackages", "ghost", reason_is("PackageNotFound"))
    assert obj["status"]["phase"] == "Failed"
    assert operator.unique("it-does-not-exist") in condition(obj)["message"]
    assert "spec.source" in condition(obj)["message"]
    event = await wait_event(operator, "ghost", "PackageNotFound")
    assert event["type"] == "Warning"


async def test_nonexistent_version_lists_what_exists(operator: Cluster, npm_registry) -> None:
    npm_registry.publish_npm(operator.unique("it-versions"), "1.0.0", bin={"it-versions": "index.js"})
    await operator.create(
        "mcppackages", package("nover", "npm", operator.unique("it-versions"), npm_registry.url, "9.9.9")
    )
    obj = await operator.wait_for("mcppackages", "nover", reason_is("VersionNotFound"))
    assert obj["status"]["phase"] == "Failed"
    assert "1.0.0" in condition(obj)["message"]
    await wait_event(operator, "nover", "VersionNotFound")

    # Fixing the spec recovers.
    await operator.patch("mcppackages", "nover", {"spec": {"source": {"version": "1.0.0"}}})
    obj = await operator.wait_for("mcppackages", "nover", ready)
    assert obj["status"]["resolvedVersion"] == "1.0.0"


async def test_unreachable_registry_retries_then_recovers(operator: Cluster, npm_registry) -> None:
    npm_registry.publish_npm(operator.unique("it-outage"), "1.0.0", bin={"it-outage": "index.js"})
    with npm_registry.stopped():
        await operator.create(
            "mcppackages", package("outage", "npm", operator.unique("it-outage"), npm_registry.url)
        )
        obj = await operator.wait_for("mcppackages", "outage", reason_is("RegistryUnavailable"), timeout=60)
        assert obj["status"]["phase"] == "Pending"
        assert "retrying" in obj["status"]["message"]
        await wait_event(operator, "outage", "RegistryUnavailable")
    obj = await operator.wait_for("mcppackages", "outage", ready, timeout=90)
    assert obj["status"]["resolvedVersion"] == "1.0.0"


async def test_failing_registry_is_transient(operator: Cluster, failing_registry: str) -> None:
    await operator.create("mcppackages", package("failing", "npm", "anything", failing_registry))
    obj = await operator.wait_for("mcppackages", "failing", reason_is("RegistryUnavailable"), timeout=60)
    assert obj["status"]["phase"] == "Pending"
    assert "503" in condition(obj)["message"] or "unavailable" in condition(obj)["message"].lower()


async def test_invalid_spec_that_slipped_past_the_schema(emulated: Cluster, npm_registry) -> None:
    # kmock's emulator has no schema validation: this is what the operator does on its own.
    operator = emulated
    await operator.create("mcppackages", package("bad", "npm", "Not A Name!", npm_registry.url))
    obj = await operator.wait_for("mcppackages", "bad", reason_is("InvalidSpec"))
    message = condition(obj)["message"]
    assert "spec.source" in message
    assert "not a valid npm package name" in message
    assert obj["status"]["phase"] == "Failed"
    await wait_event(operator, "bad", "InvalidSpec")


async def test_missing_registry_secret_is_reported(operator: Cluster, npm_registry) -> None:
    spec = package("secretive", "npm", operator.unique("it-secret"), npm_registry.url)
    spec["spec"]["source"]["registryAuthSecret"] = "npm-creds"
    await operator.create("mcppackages", spec)
    obj = await operator.wait_for("mcppackages", "secretive", reason_is("SecretNotFound"))
    assert "npm-creds" in condition(obj)["message"]
    assert "create it" in condition(obj)["message"]
