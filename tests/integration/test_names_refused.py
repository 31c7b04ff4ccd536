"""Names and registry URLs the real API server refuses in our words, and the operator refuses again
where no schema does (kmock's emulator, or a cluster with an older CRD)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from tests.fixtures.cluster import ApiRejected, Cluster, condition, running_operator
from tests.integration.helpers import package, reason_is, server

from mcp_operator import validation as v
from mcp_operator.handlers import state

pytestmark = pytest.mark.integration

BAD_NAMES = {
    "1abc": "does not start with a letter",
    "a" * 64: "is 64 characters long",
    "a.b": "contains a dot",
}
CREDENTIALS_URL = "https://reader:s3cr3t-pa55@registry.example.com/npm/"


def causes(rejected: ApiRejected) -> list[dict[str, Any]]:
    body = json.loads(rejected.text)
    assert body["reason"] == "Invalid", body
    return list(body["details"]["causes"])


async def _refused(cluster: Cluster, plural: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ApiRejected) as caught:
        await cluster.create(plural, body)
    assert caught.value.code == 422, caught.value.text
    return causes(caught.value)


async def _events(cluster: Cluster, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in await cluster.events(name) if e.get("reason") == reason]


async def test_a_server_name_that_cannot_be_a_service_name_is_refused_with_a_message(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    if cluster.emulator is None:
        # The real API server: the CRD's rule, at metadata.name, in our words.
        for name in BAD_NAMES:
            found = await _refused(cluster, "mcpservers", server(name, "some-pkg"))
            assert [(c["field"], c["message"]) for c in found] == [
                ("metadata.name", f"Invalid value: {v.SERVER_NAME_MESSAGE}")
            ], name
        created = await cluster.create("mcpservers", server("a" * 63, "some-pkg"))
        assert created["metadata"]["name"] == "a" * 63
        return

    # The emulator has no schema: the operator refuses each name once, and does not retry.
    monkeypatch.setenv("MCP_OPERATOR_RETRY_BASE", "0.05")
    monkeypatch.setenv("MCP_OPERATOR_RETRY_CAP", "0.2")
    async with running_operator([]):
        await cluster.create("mcpservers", server("waits", "not-there"))  # retried: the contrast
        for name in BAD_NAMES:
            await cluster.create("mcpservers", server(name, "not-there"))
        for name, why in BAD_NAMES.items():
            obj = await cluster.wait_for("mcpservers", name, reason_is("InvalidSpec"))
            ready = condition(obj)
            assert ready["status"] == "False"
            assert ready["message"].startswith(f"MCPServer name {name!r} {why}. {v.SERVER_NAME_MESSAGE}")
            assert obj["status"]["phase"] == "Failed"
            assert obj["status"]["message"] == ready["message"]
            assert condition(obj, "Stalled")["status"] == "True"
        queue = state.get().queue
        # The server whose package is missing is retried with backoff; a name is never retried.
        deadline = time.monotonic() + 30
        while queue.failures((state.SERVER, cluster.namespace, "waits")) < 3:
            assert time.monotonic() < deadline, "the server waiting for its package was not retried"
            await asyncio.sleep(0.05)
        for name in BAD_NAMES:
            assert queue.failures((state.SERVER, cluster.namespace, name)) == 0, name
            events = await _events(cluster, name, "InvalidSpec")
            assert len(events) == 1, events
            assert events[0]["type"] == "Warning"
            assert v.SERVER_NAME_MESSAGE in events[0]["message"]
            # Nothing was made for it.
            assert await cluster.get("deployments", name, api_version="apps/v1") is None
            assert await cluster.get("services", name, api_version="v1") is None


async def test_a_registry_url_with_credentials_is_refused_without_quoting_them(cluster: Cluster) -> None:
    body = package("creds", "npm", "left-pad", CREDENTIALS_URL)
    if cluster.emulator is None:
        found = await _refused(cluster, "mcppackages", body)
        assert [(c["field"], c["message"]) for c in found] == [
            ("spec.source.registry", f"Invalid value: {v.REGISTRY_CREDENTIALS_MESSAGE}")
        ]
        found = await _refused(cluster, "mcppackages", package("ftp", "npm", "left-pad", "ftp://mirror"))
        assert [(c["field"], c["message"]) for c in found] == [
            ("spec.source.registry", f"Invalid value: {v.REGISTRY_URL_MESSAGE}")
        ]
        return
    async with running_operator([]):
        await cluster.create("mcppackages", body)
        obj = await cluster.wait_for("mcppackages", "creds", reason_is("InvalidSpec"))
        message = condition(obj)["message"]
        assert (
            "spec.source.registry: must not contain credentials (user:password@): put them in a Secret "
            "and name it in spec.source.registryAuthSecret"
        ) in message
        assert obj["status"]["phase"] == "Failed"
        events = await _events(cluster, "creds", "InvalidSpec")
        assert len(events) == 1
        for text in (json.dumps(obj["status"]), json.dumps(events)):
            assert "s3cr3t" not in text
            assert "reader" not in text
