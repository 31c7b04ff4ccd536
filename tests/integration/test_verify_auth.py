"""Verify with bearer-token authentication: the operator reads the token from the Secret named in
spec.bridge.auth and sends it in its handshake; a missing Secret, or a token the bridge refuses,
is a Verified=False that says what to fix.

On kmock's emulator, as tests/integration/test_verify.py: the Service's cluster IP is 127.0.0.1,
where a real bridge, started with --auth-token-file, listens."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from tests.bridge.conftest import TINY, StartBridge
from tests.fixtures.cluster import Cluster, condition
from tests.integration.helpers import emulated_rollout, give_cluster_ip, package, server, wait_event
from tests.integration.test_verify import verified

pytestmark = pytest.mark.integration
APPS = "apps/v1"
TOKEN = "integration-t0ken"


def secret(name: str, **data: str) -> dict[str, Any]:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}


@pytest.fixture
def retry_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_OPERATOR_VERIFY_INTERVAL", "1")
    monkeypatch.setenv("MCP_OPERATOR_RETRY_CAP", "1")


async def test_the_handshake_carries_the_token_from_the_secret(
    start_bridge: StartBridge,
    retry_fast: None,
    emulated: Cluster,
    npm_registry: Any,
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    bridge = await start_bridge(TINY, auth_token_file=str(token_file))
    cluster = emulated
    npm_registry.publish_npm(cluster.unique("vf-auth"), "1.0.0", bin={"vf-auth": "index.js"})
    await cluster.create("mcppackages", package("auth", "npm", cluster.unique("vf-auth"), npm_registry.url))
    bridge_spec = {"auth": {"secretRef": {"name": "auth-token", "key": "bearer"}}}
    await cluster.create("mcpservers", server("auth", "auth", port=bridge.port, bridge=bridge_spec))
    await give_cluster_ip(cluster, "auth")
    deployment = await cluster.wait_for("deployments", "auth", lambda o: True, api_version=APPS)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][-1]["secret"]["secretName"] == "auth-token"
    assert "--auth-token-file" in pod["containers"][0]["command"]
    await emulated_rollout(cluster, "auth")

    # No Secret yet: the handshake is not even tried, and the condition says what to create.
    obj = await cluster.wait_for("mcpservers", "auth", verified("False", "SecretNotFound"), timeout=30)
    message = condition(obj, "Verified")["message"]
    assert (
        f"Secret 'auth-token' (spec.bridge.auth.secretRef) does not exist in namespace "
        f"{cluster.namespace!r}: create it with the bearer token under key 'bearer'"
    ) in message
    assert not bridge.bridge.metrics.registry.get_sample_value(
        "mcp_bridge_rejected_total", {"reason": "unauthorized"}
    )
    event = await wait_event(cluster, "auth", "SecretNotFound")
    assert event["message"].startswith("MCP handshake failed: Secret 'auth-token'")

    # A Secret without the key named.
    await cluster.create("secrets", secret("auth-token", token=TOKEN), api_version="v1")
    obj = await cluster.wait_for(
        "mcpservers",
        "auth",
        lambda o: "has no key 'bearer'" in condition(o, "Verified").get("message", ""),
        timeout=30,
    )
    assert condition(obj, "Verified")["reason"] == "SecretNotFound"

    # A token the bridge does not accept: the bridge's 401 is quoted.
    await cluster.patch("secrets", "auth-token", secret("auth-token", bearer="wrong"), api_version="v1")
    obj = await cluster.wait_for("mcpservers", "auth", verified("False", "HandshakeRefused"), timeout=30)
    message = condition(obj, "Verified")["message"]
    assert "initialize: HTTP 401" in message
    assert "not the one this MCP server accepts" in message

    # The right one: verified, and the token never shows in status or events.
    await cluster.patch("secrets", "auth-token", secret("auth-token", bearer=TOKEN), api_version="v1")
    obj = await cluster.wait_for("mcpservers", "auth", verified("True", "Verified", "1.0.0"), timeout=30)
    assert obj["status"]["serverInfo"]["name"] == "tiny"
    assert obj["status"]["tools"] == ["echo", "sleep", "exit", "pid", "big"]
    assert TOKEN not in str(obj)
    assert TOKEN not in str(await cluster.events("auth"))
    assert obj["status"]["url"] == f"http://auth.{cluster.namespace}.svc:{bridge.port}/mcp"


async def test_pods_waiting_for_a_missing_token_secret_are_explained(
    operator: Cluster, npm_registry: Any
) -> None:
    """Pods whose token Secret is missing wait in ContainerCreating and say nothing in their status:
    the server's Ready condition says which Secret to create, and clears once it exists."""
    cluster = operator
    name = cluster.unique("vf-nosecret")
    npm_registry.publish_npm(name, "1.0.0", bin={"vf-nosecret": "index.js"})
    await cluster.create("mcppackages", package("nosecret", "npm", name, npm_registry.url))
    bridge_spec = {"auth": {"secretRef": {"name": "nosecret-token"}}}
    await cluster.create("mcpservers", server("nosecret", "nosecret", bridge=bridge_spec))
    obj = await cluster.wait_for(
        "mcpservers", "nosecret", lambda o: condition(o).get("reason") == "SecretNotFound", timeout=30
    )
    assert obj["status"]["phase"] == "Failed"
    assert "Secret 'nosecret-token' (spec.bridge.auth.secretRef) does not exist" in condition(obj)["message"]
    await cluster.create("secrets", secret("nosecret-token", token=TOKEN), api_version="v1")
    obj = await cluster.wait_for(
        "mcpservers", "nosecret", lambda o: condition(o).get("reason") == "RollingOut", timeout=45
    )
    assert obj["status"]["phase"] == "Progressing"
