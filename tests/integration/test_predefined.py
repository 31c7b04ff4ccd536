"""Predefined packages (docs/predefined.md): installed on start, never twice, and never again once
the user uninstalled them, which the state ConfigMap records before the object may go."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fixtures.cluster import Cluster, running_operator
from tests.fixtures.faults import FaultProxy, serve_proxy
from tests.fixtures.rbac import RBAC_DIR
from tests.integration.conftest import api_upstream
from tests.integration.helpers import package, ready
from tests.integration.test_api_server import _token_kubeconfig

from mcp_operator.predefined import FINALIZER, LABEL, STATE_CONFIGMAP

pytestmark = pytest.mark.integration
LOGGER = "mcp_operator.handlers"
ENTRY_LINE = re.compile(r"predefined \S+/\S+: ")  # what the start says about each entry


class Setup:
    """The operator's configuration file and its start and stop, as a Deployment would do it."""

    def __init__(self, cluster: Cluster, registry: str, path: Path, caplog: pytest.LogCaptureFixture) -> None:
        self.cluster, self.registry, self.path, self.caplog = cluster, registry, path, caplog
        self.entries: list[dict[str, Any]] = []

    def add(self, name: str, npm_name: str, **server: Any) -> None:
        source = {"type": "npm", "package": npm_name, "registry": self.registry}
        self.entries.append({"name": name, "source": source, **server})
        self.path.write_text(json.dumps({"packages": self.entries}))  # JSON is YAML too

    def running(self) -> Any:
        """The operator in this process (a fresh start each time), with its log so far cleared."""
        self.caplog.clear()
        return running_operator([] if self.cluster.emulator else [self.cluster.namespace])

    async def started(self, timeout: float = 30.0) -> list[str]:
        """Wait until the start has handled every entry; what it said about each."""
        deadline = time.monotonic() + timeout
        while True:
            said = [r.getMessage() for r in self.caplog.records if ENTRY_LINE.match(r.getMessage())]
            if len(said) >= len(self.entries):
                return said
            assert time.monotonic() < deadline, f"the start handled {said} of {len(self.entries)} entries"
            await asyncio.sleep(0.05)


@pytest.fixture
def setup(
    cluster: Cluster,
    npm_registry: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Setup:
    path = tmp_path / "predefined.json"
    monkeypatch.setenv("MCP_OPERATOR_PREDEFINED", str(path))
    monkeypatch.setenv("MCP_OPERATOR_NAMESPACE", cluster.namespace)
    caplog.set_level(logging.INFO, logger=LOGGER)
    return Setup(cluster, npm_registry.url, path, caplog)


async def marks(cluster: Cluster) -> dict[str, str]:
    state = await cluster.get("configmaps", STATE_CONFIGMAP, api_version="v1")
    return dict((state or {}).get("data") or {})


async def wait_marks(cluster: Cluster, predicate: Any, what: str, timeout: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while not predicate(data := await marks(cluster)):
        assert time.monotonic() < deadline, f"the state ConfigMap never {what}: {data}"
        await asyncio.sleep(0.05)
    return data


def predefined(obj: dict[str, Any]) -> bool:
    return obj["metadata"].get("labels", {}).get(LABEL) == "true"


async def release_all(cluster: Cluster) -> None:
    """Remove our finalizer from what is left, so the namespace can go when the operator is gone."""
    for obj in await cluster.list("mcppackages"):
        if FINALIZER in obj["metadata"].get("finalizers", []):
            rest = [f for f in obj["metadata"]["finalizers"] if f != FINALIZER]
            await cluster.patch("mcppackages", obj["metadata"]["name"], {"metadata": {"finalizers": rest}})


async def uninstall(cluster: Cluster, name: str) -> None:
    """What a user does (kubectl delete), and what the garbage collector does for the server."""
    await cluster.delete("mcppackages", name)
    await cluster.wait_gone("mcppackages", name)
    if cluster.emulator is not None:
        await cluster.delete("mcpservers", name)  # the emulator has no garbage collector
    await cluster.wait_gone("mcpservers", name, timeout=60)


async def test_installed_on_start_once_and_not_again_after_uninstall(setup: Setup, npm_registry: Any) -> None:
    cluster = setup.cluster
    ns = cluster.namespace
    for name in ("alpha", "beta", "gamma"):
        npm_registry.publish_npm(cluster.unique(f"it-pre-{name}"), "1.0.0", bin={name: "index.js"})
    setup.add("alpha", cluster.unique("it-pre-alpha"), args=["--verbose"])
    setup.add("beta", cluster.unique("it-pre-beta"), enabled=False)
    try:
        # First start: both entries installed, labelled, the package holding our finalizer and
        # owning its server.
        async with setup.running():
            assert sorted(await setup.started()) == [
                f"predefined {ns}/alpha: created MCPPackage and MCPServer",
                f"predefined {ns}/beta: created MCPPackage and MCPServer",
            ]
            pkg = await cluster.wait_for("mcppackages", "alpha", ready)
            srv = await cluster.wait_for("mcpservers", "alpha", lambda o: True)
            assert predefined(pkg)
            assert predefined(srv)
            assert pkg["metadata"]["finalizers"] == [FINALIZER]
            assert srv["metadata"]["ownerReferences"][0]["uid"] == pkg["metadata"]["uid"]
            assert srv["spec"]["args"] == ["--verbose"]
            beta = await cluster.get("mcpservers", "beta")
            assert beta is not None
            assert beta["spec"]["enabled"] is False
            # The user changes a predefined server: that is theirs to do.
            await cluster.patch("mcpservers", "beta", {"spec": {"enabled": True}})
        before = {
            (plural, o["metadata"]["name"]): o["metadata"]["uid"]
            for plural in ("mcppackages", "mcpservers")
            for o in await cluster.list(plural)
        }

        # Restart: nothing is created twice, nothing is overwritten.
        async with setup.running():
            assert sorted(await setup.started()) == [
                f"predefined {ns}/alpha: exists: left as it is",
                f"predefined {ns}/beta: exists: left as it is",
            ]
        after = {
            (plural, o["metadata"]["name"]): o["metadata"]["uid"]
            for plural in ("mcppackages", "mcpservers")
            for o in await cluster.list(plural)
        }
        assert after == before
        beta = await cluster.get("mcpservers", "beta")
        assert beta is not None
        assert beta["spec"]["enabled"] is True
        assert await marks(cluster) == {}

        # The user uninstalls beta: the mark is written, then the object goes.
        async with setup.running():
            await setup.started()
            await uninstall(cluster, "beta")
            assert await marks(cluster) == {f"uninstalled.{ns}.beta": f"{ns}/beta"}

        # Restart: beta stays uninstalled.
        async with setup.running():
            said = await setup.started()
            assert f"predefined {ns}/beta: marked uninstalled: not installed" in said
            assert await cluster.get("mcppackages", "beta") is None
            assert await cluster.get("mcpservers", "beta") is None

            # The user installs it again explicitly: the mark is cleared, and the package is
            # tracked again (deleting it later would mark it again).
            await cluster.create(
                "mcppackages", package("beta", "npm", cluster.unique("it-pre-beta"), setup.registry)
            )
            await wait_marks(cluster, lambda data: data == {}, "cleared the mark of beta")
            again = await cluster.wait_for(
                "mcppackages", "beta", lambda o: FINALIZER in o["metadata"].get("finalizers", [])
            )
            assert not predefined(again)  # the user's object, not one the operator created

        # A third entry, added later, is installed on the next start; the others are left alone.
        setup.add("gamma", cluster.unique("it-pre-gamma"))
        async with setup.running():
            assert sorted(await setup.started()) == [
                f"predefined {ns}/alpha: exists: left as it is",
                f"predefined {ns}/beta: created MCPServer",
                f"predefined {ns}/gamma: created MCPPackage and MCPServer",
            ]
            gamma = await cluster.wait_for("mcppackages", "gamma", ready)
            assert predefined(gamma)
            kept = await cluster.get("mcppackages", "beta")
            assert kept is not None
            assert kept["metadata"]["uid"] == again["metadata"]["uid"]
    finally:
        await release_all(cluster)


@pytest.fixture
def proxied(
    cluster: Cluster, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """The operator's API requests through a proxy that fails the ones a test names."""
    upstream, context = api_upstream(cluster, request)
    with serve_proxy(upstream, context, tmp_path / "proxy.kubeconfig") as proxy:
        monkeypatch.setenv("KUBECONFIG", str(proxy.kubeconfig))
        monkeypatch.setenv("MCP_OPERATOR_RETRY_BASE", "0.2")
        monkeypatch.setenv("MCP_OPERATOR_RETRY_CAP", "1")
        monkeypatch.setenv("MCP_OPERATOR_API_TIMEOUT", "2")
        yield proxy


def _first(log: list[tuple[str, str, int]], method: str, pattern: str, ok: bool = True) -> int:
    for i, (m, path, status) in enumerate(log):
        if m == method and re.search(pattern, path) and (200 <= status < 300) == ok:
            return i
    return len(log)


async def test_the_mark_is_written_before_the_package_goes_even_when_the_api_fails(
    setup: Setup, proxied: FaultProxy, npm_registry: Any
) -> None:
    cluster, ns = setup.cluster, setup.cluster.namespace
    npm_registry.publish_npm(cluster.unique("it-pre-faulty"), "1.0.0", bin={"faulty": "index.js"})
    setup.add("faulty", cluster.unique("it-pre-faulty"))
    state = rf"/namespaces/{ns}/configmaps/{STATE_CONFIGMAP}$"
    release = rf"/namespaces/{ns}/mcppackages/faulty$"
    try:
        async with setup.running():
            await setup.started()
            await cluster.wait_for("mcppackages", "faulty", lambda o: True)
            # The mark's first writes fail (the patch, then the create of the ConfigMap).
            patch = proxied.fail("PATCH", state, 500, times=2)
            create = proxied.fail("POST", rf"/namespaces/{ns}/configmaps$", 503, times=2)
            await cluster.delete("mcppackages", "faulty")
            await cluster.wait_gone("mcppackages", "faulty")
            assert patch.hits == 2
            assert create.hits == 2
            assert await marks(cluster) == {f"uninstalled.{ns}.faulty": f"{ns}/faulty"}
        log = proxied.log
        written = min(_first(log, "PATCH", state), _first(log, "POST", rf"/namespaces/{ns}/configmaps$"))
        assert written < len(log), "the mark was never written"
        assert _first(log, "PATCH", release) > written, "the finalizer went before the mark was written"
        assert _first(log, "PATCH", release, ok=False) == len(log), "no failed release either"

        # The operator dies after the mark and before the release: the next one releases it.
        setup.add("other", cluster.unique("it-pre-faulty"))
        async with setup.running():
            await setup.started()
            await cluster.wait_for("mcppackages", "other", lambda o: True)
            stuck = proxied.fail("PATCH", rf"/namespaces/{ns}/mcppackages/other$", 500, times=10_000)
            await cluster.delete("mcppackages", "other")
            await wait_marks(cluster, lambda data: f"uninstalled.{ns}.other" in data, "marked other")
            deadline = time.monotonic() + 30
            while stuck.hits == 0:
                assert time.monotonic() < deadline, "the operator never tried to release the package"
                await asyncio.sleep(0.05)
        left = await cluster.get("mcppackages", "other")
        assert left is not None
        assert left["metadata"].get("deletionTimestamp")
        assert left["metadata"]["finalizers"] == [FINALIZER]
        stuck.times = stuck.hits  # the API works again
        async with setup.running():
            await cluster.wait_gone("mcppackages", "other")
        assert await marks(cluster) == {
            f"uninstalled.{ns}.faulty": f"{ns}/faulty",
            f"uninstalled.{ns}.other": f"{ns}/other",
        }
    finally:
        await release_all(cluster)


async def test_a_start_that_cannot_reach_the_api_tries_again(
    setup: Setup, proxied: FaultProxy, npm_registry: Any
) -> None:
    cluster = setup.cluster
    npm_registry.publish_npm(cluster.unique("it-pre-later"), "1.0.0", bin={"later": "index.js"})
    setup.add("later", cluster.unique("it-pre-later"))
    failed = proxied.fail("POST", rf"/namespaces/{cluster.namespace}/mcppackages$", 500, times=2)
    try:
        async with setup.running():
            assert await setup.started() == [
                f"predefined {cluster.namespace}/later: created MCPPackage and MCPServer"
            ]
            assert failed.hits == 2
            retried = [r.getMessage() for r in setup.caplog.records if "trying again in" in r.getMessage()]
            assert len(retried) == 2, retried
            assert "injected fault" in retried[0]
    finally:
        await release_all(cluster)


@pytest.mark.controlplane
async def test_without_access_to_the_state_configmap_nothing_is_lost_and_the_operator_says_what_to_grant(
    crds_installed: Path,
    k8s_namespace: str,
    controlplane: Any,
    npm_registry: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = Cluster(crds_installed, k8s_namespace)
    role = yaml.safe_load((RBAC_DIR / "operator-role-namespaced.yaml").read_text())
    role["rules"] = [r for r in role["rules"] if "configmaps" not in r["resources"]]
    (tmp_path / "no-state.yaml").write_text(yaml.safe_dump(role))
    kubeconfig = _token_kubeconfig(controlplane, k8s_namespace, tmp_path, str(tmp_path / "no-state.yaml"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("MCP_OPERATOR_PREDEFINED", str(tmp_path / "predefined.yaml"))
    monkeypatch.setenv("MCP_OPERATOR_NAMESPACE", k8s_namespace)
    monkeypatch.setenv("MCP_OPERATOR_RETRY_CAP", "1")
    setup = Setup(admin, npm_registry.url, tmp_path / "predefined.yaml", caplog)
    npm_registry.publish_npm("it-pre-denied", "1.0.0", bin={"denied": "index.js"})
    setup.add("wanted", "it-pre-denied")
    # A predefined package from an earlier start, when the operator still had the access.
    held = package("held", "npm", "it-pre-denied", npm_registry.url)
    held["metadata"].update(labels={LABEL: "true"}, finalizers=[FINALIZER])
    await admin.create("mcppackages", held)
    grant = f"grant the operator get, create and patch on the ConfigMap {STATE_CONFIGMAP} in namespace"
    try:
        async with setup.running():
            deadline = time.monotonic() + 30
            while not any(grant in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the start never said what to grant"
                await asyncio.sleep(0.05)
            assert await admin.get("mcppackages", "wanted") is None  # marks unknown: nothing installed
            await admin.delete("mcppackages", "held")
            obj = await admin.wait_for(
                "mcppackages", "held", lambda o: grant in ((o.get("status") or {}).get("message") or "")
            )
            assert obj["metadata"]["finalizers"] == [FINALIZER]  # not released without its mark
            assert obj["metadata"].get("deletionTimestamp")
    finally:
        await release_all(admin)
        await admin.close()
