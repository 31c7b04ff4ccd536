"""The RBAC we ship (deploy/rbac/) against the audit of the code's API calls (tests/fixtures/rbac.py):
no wildcards, no verb the code does not use, every verb it uses, both modes alike but for the CRDs,
and the Role shown in docs/security.md the same as the one we ship. The proof that the code needs
nothing more and uses all of it is tests/integration/test_rbac.py, on a real API server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from tests.fixtures.rbac import (
    AUDITED,
    AUDITED_NAMESPACED,
    CLUSTER_WIDE,
    NAMESPACED,
    ROOT,
    Access,
    Logged,
    access_of,
    check_requests,
    documents,
    grants,
    unaudited,
)

from mcp_operator.predefined import STATE_CONFIGMAP

MODES = [(CLUSTER_WIDE, AUDITED), (NAMESPACED, AUDITED_NAMESPACED)]


def granted(path: Path) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for grant in grants(path):
        out.setdefault((grant.group, grant.resource), set()).add(grant.verb)
    return out


@pytest.mark.parametrize(("path", "audited"), MODES, ids=["cluster-wide", "namespaced"])
def test_no_wildcard_and_no_verb_the_code_does_not_use(
    path: Path, audited: dict[tuple[str, str], frozenset[str]]
) -> None:
    assert unaudited(path, audited) == []


@pytest.mark.parametrize(("path", "audited"), MODES, ids=["cluster-wide", "namespaced"])
def test_every_verb_the_code_uses_is_granted(
    path: Path, audited: dict[tuple[str, str], frozenset[str]]
) -> None:
    assert granted(path) == {key: set(verbs) for key, verbs in audited.items()}


def test_nothing_deletes_deployments_or_services_and_nothing_updates() -> None:
    # The garbage collector removes the children with their MCPServer; writes are patches.
    for path, _ in MODES:
        rules = granted(path)
        assert "delete" not in rules[("apps", "deployments")] | rules[("", "services")]
        assert not any("update" in verbs or "deletecollection" in verbs for verbs in rules.values())
        assert [key for key, verbs in rules.items() if "delete" in verbs] == [
            ("networking.k8s.io", "networkpolicies")
        ]


def test_the_state_configmap_is_the_only_one_read_or_written() -> None:
    for path, _ in MODES:
        for grant in grants(path):
            if grant.resource == "configmaps" and grant.verb != "create":  # create cannot name one
                assert grant.names == (STATE_CONFIGMAP,), grant


def test_the_namespaced_mode_is_one_role_and_the_cluster_wide_mode_adds_only_the_crds() -> None:
    assert [d["kind"] for d in documents(NAMESPACED)] == ["Role"]
    assert [d["kind"] for d in documents(CLUSTER_WIDE)] == ["ClusterRole", "Role"]
    cluster = {(g.group, g.resource, g.verb, g.names) for g in grants(CLUSTER_WIDE)}
    namespaced = {(g.group, g.resource, g.verb, g.names) for g in grants(NAMESPACED)}
    assert cluster - namespaced == {
        ("apiextensions.k8s.io", "customresourcedefinitions", verb, ()) for verb in ("list", "watch")
    }
    assert namespaced <= cluster


def test_the_role_in_docs_security_is_the_one_we_ship() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    shown = [
        doc
        for block in re.findall(r"```yaml\n(.*?)```", text, re.S)
        for doc in yaml.safe_load_all(block)
        if isinstance(doc, dict) and doc.get("kind") == "Role" and doc["metadata"]["name"] == "mcp-operator"
    ]
    assert len(shown) == 1, "docs/security.md shows the namespaced Role once"
    assert shown[0]["rules"] == documents(NAMESPACED)[0]["rules"]


# ------------------------------------------------------------------------- what a request needs

NS = "/namespaces/mcp"


@pytest.mark.parametrize(
    ("method", "path", "query", "status", "needed"),
    [
        ("GET", f"/apis/apps/v1{NS}/deployments/a", "", 200, [("apps", "deployments", "get", "mcp", "a")]),
        ("GET", f"/apis/apps/v1{NS}/deployments", "", 200, [("apps", "deployments", "list", "mcp", "")]),
        ("GET", "/api/v1/pods", "labelSelector=x&watch=1", 200, [("", "pods", "watch", None, "")]),
        ("GET", "/api/v1/pods", "watch=true", 200, [("", "pods", "watch", None, "")]),
        ("POST", f"/api/v1{NS}/events", "", 201, [("", "events", "create", "mcp", "")]),
        ("PATCH", f"/api/v1{NS}/services/s", "", 200, [("", "services", "patch", "mcp", "s")]),
        (  # server-side apply that creates the object is authorized for create too
            "PATCH",
            f"/api/v1{NS}/services/s",
            "fieldManager=mcp-operator&force=true",
            201,
            [("", "services", "patch", "mcp", "s"), ("", "services", "create", "mcp", "")],
        ),
        (
            "PATCH",
            f"/apis/mcp-operator.dev/v1alpha1{NS}/mcpservers/s/status",
            "",
            200,
            [("mcp-operator.dev", "mcpservers/status", "patch", "mcp", "s")],
        ),
        ("PUT", f"/api/v1{NS}/configmaps/c", "", 200, [("", "configmaps", "update", "mcp", "c")]),
        (
            "DELETE",
            f"/apis/apps/v1{NS}/deployments/a",
            "",
            200,
            [("apps", "deployments", "delete", "mcp", "a")],
        ),
        (
            "DELETE",
            f"/apis/apps/v1{NS}/deployments",
            "",
            200,
            [("apps", "deployments", "deletecollection", "mcp", "")],
        ),
        ("GET", "/api/v1/namespaces/mcp", "", 200, [("", "namespaces", "get", "mcp", "mcp")]),
        ("GET", "/api/v1/namespaces", "", 200, [("", "namespaces", "list", None, "")]),
        (
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            "watch=1",
            200,
            [("apiextensions.k8s.io", "customresourcedefinitions", "watch", None, "")],
        ),
    ],
)
def test_the_verb_a_request_needs(
    method: str, path: str, query: str, status: int, needed: list[tuple[str, str, str, str | None, str]]
) -> None:
    assert access_of(method, path, query, status) == [Access(*n) for n in needed]


@pytest.mark.parametrize(
    "path", ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/mcp-operator.dev/v1alpha1"]
)
def test_discovery_is_no_resource(path: str) -> None:
    assert access_of("GET", path, "", 200) is None


def test_a_request_the_rbac_does_not_allow_is_found(tmp_path: Path) -> None:
    """What tests/integration/test_rbac.py sees when the code needs a verb the RBAC lacks."""
    role = documents(NAMESPACED)[0]
    for rule in role["rules"]:
        if rule["resources"] == ["mcppackages", "mcpservers"]:
            rule["verbs"].remove("patch")
    lacking = tmp_path / "lacking.yaml"
    lacking.write_text(yaml.safe_dump(role))
    log = [
        Logged("GET", f"/apis/mcp-operator.dev/v1alpha1{NS}/mcpservers/s", "", 200),
        Logged("PATCH", f"/apis/mcp-operator.dev/v1alpha1{NS}/mcpservers/s", "", 403),
        Logged("PATCH", f"/apis/mcp-operator.dev/v1alpha1{NS}/mcpservers/s", "", 403),  # retried
        Logged("GET", "/apis/mcp-operator.dev/v1alpha1", "", 200),  # discovery: anyone may
        Logged("GET", "/api/v1/pods", "watch=1", 200),  # everywhere: a Role does not allow it
        Logged("GET", "/metrics", "", 200),  # no discovery read
    ]
    refused, used = check_requests(log, lacking, "mcp")
    assert refused == [
        f"PATCH /apis/mcp-operator.dev/v1alpha1{NS}/mcpservers/s -> 403: needs patch "
        "mcp-operator.dev/mcpservers s in mcp, which lacking.yaml does not grant",
        "GET /api/v1/pods?watch=1 -> 200: needs watch core/pods (cluster-wide), which lacking.yaml does not "
        "grant",
        "GET /metrics -> 200: a non-resource URL other than a discovery read",
    ]
    assert {str(g) for g in used} == {"Role mcp-operator: get mcp-operator.dev/mcpservers"}
    # The Role bound in another namespace allows nothing here.
    refused, used = check_requests(log[:1], lacking, "elsewhere")
    assert len(refused) == 1
    assert used == set()


def test_a_wildcard_or_an_unaudited_verb_is_found(tmp_path: Path) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "greedy"},
        "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["services"], "verbs": ["delete"]},
        ],
    }
    path = tmp_path / "greedy.yaml"
    path.write_text(yaml.safe_dump(role))
    problems = unaudited(path, AUDITED)
    assert any("a wildcard in verbs" in p for p in problems)
    assert (
        "Role greedy: delete core/services: not used by the code (see AUDITED in tests/fixtures/rbac.py)"
        in problems
    )
