"""Predefined packages, the pure part: the configuration file, what a start creates, the marks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_operator import predefined as p
from mcp_operator.handlers import autoinstall
from mcp_operator.models import MCPPackageSpec, MCPServerSpec

ORIGIN = "MCP_OPERATOR_PREDEFINED=/etc/mcp/predefined.yaml"
GOOD = """\
packages:
  - name: github
    source:
      type: npm
      package: "@modelcontextprotocol/server-github"
      version: "^2025.4.0"
    args: ["--read-only"]
    env:
      - name: GITHUB_PERSONAL_ACCESS_TOKEN
        valueFrom:
          secretKeyRef: {name: github, key: token}
  - name: time
    namespace: tools
    enabled: false
    source: {type: pypi, package: mcp-server-time, registry: "https://pypi.internal/simple"}
"""


def parse(text: str) -> list[p.Entry]:
    return p.parse(text, ORIGIN, "mcp-system")


# ------------------------------------------------------------------------------ configuration


def test_a_good_file_gives_entries_with_their_namespace() -> None:
    github, time = parse(GOOD)
    assert github.key == ("mcp-system", "github")  # the operator's namespace by default
    assert github.source.version == "^2025.4.0"
    assert github.args == ["--read-only"]
    assert github.enabled is True
    assert github.env[0].value_from is not None
    assert time.key == ("tools", "time")
    assert time.enabled is False
    assert time.source.registry == "https://pypi.internal/simple"


def test_json_is_read_too_and_an_empty_file_installs_nothing() -> None:
    text = '{"packages": [{"name": "a", "source": {"type": "oci", "package": "ghcr.io/acme/srv"}}]}'
    assert [e.key for e in parse(text)] == [("mcp-system", "a")]
    assert parse("") == []
    assert parse("packages: []") == []


BAD = [
    ("packages: [\n", "not valid YAML or JSON at line 2, column 1"),
    ("- name: a\n", "the file holds a list, not a mapping with a 'packages' list"),
    ("packages:\n  - source: {type: npm, package: x}\n", "packages[0].name: Field required"),
    (
        "packages:\n  - name: Git_Hub\n    source: {type: npm, package: x}\n",
        "packages[0] (Git_Hub).name: 'Git_Hub' is not a valid name: use at most 63 lower-case",
    ),
    (
        "packages:\n  - name: a\n    namespace: Tools\n    source: {type: npm, package: x}\n",
        "packages[0] (a).namespace: 'Tools' is not a valid namespace",
    ),
    (
        "packages:\n  - name: a\n    source: {type: cargo, package: x}\n",
        "packages[0] (a).source.type: Input should be 'npm', 'pypi' or 'oci'",
    ),
    (
        "packages:\n  - name: a\n    source: {type: npm, package: x, version: 1.10}\n",
        "packages[0] (a).source.version: Input should be a valid string, and YAML read 1.1: put the "
        "value in quotes",
    ),
    (
        "packages:\n  - name: a\n    source: {type: npm, package: 'Bad Name'}\n",
        "packages[0] (a).source: 'Bad Name' is not a valid npm package name",
    ),
    (
        "packages:\n  - name: a\n    replicas: 2\n    source: {type: npm, package: x}\n",
        "packages[0] (a).replicas: not a field here: an entry has only namespace, name, source, enabled",
    ),
    (
        "packages:\n  - name: a\n    source: {type: npm, package: x}\n    env: [{name: T, value: s3cr3t}]\n",
        "env T: the operator's configuration takes values only through valueFrom",
    ),
    (
        "packages:\n  - name: a\n    source: {type: npm, package: x}\n"
        "  - name: a\n    namespace: mcp-system\n    source: {type: npm, package: y}\n",
        "mcp-system/a is listed twice: keep one entry",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_file_says_where_what_and_how_to_fix_it_in_one_line(text: str, message: str) -> None:
    with pytest.raises(p.ConfigError) as caught:
        parse(text)
    said = str(caught.value)
    assert said.startswith(f"{ORIGIN}: ")
    assert message in said
    assert "start the operator again" in said
    assert "\n" not in said


def test_the_operators_namespace() -> None:
    assert p.operator_namespace({}) == "default"
    assert p.operator_namespace({"POD_NAMESPACE": "pods"}) == "pods"
    assert p.operator_namespace({"POD_NAMESPACE": "pods", "MCP_OPERATOR_NAMESPACE": "mine"}) == "mine"
    assert p.operator_namespace({"MCP_OPERATOR_NAMESPACE": "", "POD_NAMESPACE": "pods"}) == "pods"


def test_entries_outside_the_watched_namespaces_are_refused() -> None:
    entries = parse(GOOD)
    p.check_watched(entries, lambda ns: True, ORIGIN, "every namespace")
    with pytest.raises(p.ConfigError) as caught:
        p.check_watched(entries, lambda ns: ns == "mcp-system", ORIGIN, "only mcp-system")
    assert "namespace(s) tools, which the operator does not watch (it watches only mcp-system)" in str(
        caught.value
    )


def test_load_reads_the_file_named_by_the_environment(tmp_path: Path) -> None:
    assert autoinstall.load({"MCP_OPERATOR_NAMESPACE": "ops"}) == autoinstall.Predefined("ops")
    path = tmp_path / "predefined.yaml"
    path.write_text(GOOD)
    loaded = autoinstall.load({"MCP_OPERATOR_PREDEFINED": str(path), "POD_NAMESPACE": "ops"})
    assert [e.key for e in loaded.entries] == [("ops", "github"), ("tools", "time")]
    with pytest.raises(SystemExit) as caught:
        autoinstall.load({"MCP_OPERATOR_PREDEFINED": str(tmp_path / "missing.yaml")})
    assert str(caught.value) == (
        f"mcp-operator: MCP_OPERATOR_PREDEFINED={tmp_path / 'missing.yaml'}: cannot read the file "
        "(No such file or directory): mount it there, or unset MCP_OPERATOR_PREDEFINED to install no "
        "predefined packages"
    )


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (
            "packages:\n  - name: a\n    source: {type: npm, package: x, version: 1.10}\n",
            ["-A"],
            "packages[0] (a).source.version: Input should be a valid string",
        ),
        (GOOD, ["-n", "mcp-system"], "entries in namespace(s) tools, which the operator does not watch"),
    ],
)
def test_the_operator_stops_at_start_with_one_line_and_no_traceback(
    tmp_path: Path, text: str, args: list[str], message: str
) -> None:
    path = tmp_path / "predefined.yaml"
    path.write_text(text)
    env = {**os.environ, "MCP_OPERATOR_PREDEFINED": str(path), "MCP_OPERATOR_NAMESPACE": "mcp-system"}
    done = subprocess.run(
        [sys.executable, "-m", "mcp_operator", "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"mcp-operator: MCP_OPERATOR_PREDEFINED={path}: ")
    assert message in lines[0]


# ------------------------------------------------------------------------------------ decide

ENTRY = p.Entry.model_validate(
    {"name": "github", "namespace": "mcp", "source": {"type": "npm", "package": "x"}}
)


def obj(uid: str = "u1", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "github", "namespace": "mcp", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


@pytest.mark.parametrize(
    ("marked", "package", "server", "creates", "why"),
    [
        (False, None, None, (True, True), "installed"),
        (False, obj(), None, (False, True), "MCPPackage exists; MCPServer created"),
        (False, None, obj(), (True, False), "installed"),
        (False, obj(), obj(), (False, False), "exists: left as it is"),
        (False, obj(deleting=True), None, (False, False), "its MCPPackage is being deleted: not installed"),
        (True, None, None, (False, False), "marked uninstalled: not installed"),
        (True, obj(), obj(), (False, False), "marked uninstalled: not installed"),
    ],
)
def test_a_start_creates_what_neither_exists_nor_is_marked(
    marked: bool, package: Any, server: Any, creates: tuple[bool, bool], why: str
) -> None:
    marks = {("mcp", "github")} if marked else {("mcp", "other")}
    step = p.decide(ENTRY, marks, package, server)
    assert (step.create_package, step.create_server) == creates
    assert step.why == why


def test_the_server_is_owned_by_a_live_package_only() -> None:
    assert p.owner_uid(obj("abc")) == "abc"
    assert p.owner_uid(obj("abc", deleting=True)) is None
    assert p.owner_uid(None) is None


def test_the_manifests_are_valid_objects_labelled_and_finalized() -> None:
    github = parse(GOOD)[0]
    pkg = p.package_manifest(github)
    assert pkg["metadata"] == {
        "name": "github",
        "namespace": "mcp-system",
        "labels": {p.LABEL: "true"},
        "finalizers": [p.FINALIZER],
    }
    assert MCPPackageSpec.model_validate(pkg["spec"]).source == github.source
    srv = p.server_manifest(github, "uid-1")
    assert srv["metadata"]["labels"] == {p.LABEL: "true"}
    assert srv["metadata"]["ownerReferences"] == [
        {"apiVersion": "mcp-operator.dev/v1alpha1", "kind": "MCPPackage", "name": "github", "uid": "uid-1"}
    ]
    spec = MCPServerSpec.model_validate(srv["spec"])
    assert spec.package == "github"
    assert spec.args == ["--read-only"]
    assert srv["spec"]["env"] == [
        {
            "name": "GITHUB_PERSONAL_ACCESS_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "github", "key": "token"}},
        }
    ]
    assert "finalizers" not in srv["metadata"]


# ------------------------------------------------------------------------------------- marks


def test_marks_round_trip_through_the_configmap_data() -> None:
    keys = {("mcp", "github"), ("tools", "time.v2"), ("mcp", "x" * 253)}
    data: dict[str, str] = {}
    for key in keys:
        for name, value in p.mark_patch(key, marked=True)["data"].items():
            assert len(name) <= 253
            data[name] = value
    assert data["uninstalled.mcp.github"] == "mcp/github"
    data["owner"] = "someone else's key"  # not a mark
    data["uninstalled.junk"] = "not a namespace/name pair/"
    assert p.marks_in(data) == keys
    assert p.mark_patch(("mcp", "github"), marked=False) == {"data": {"uninstalled.mcp.github": None}}
    assert p.marks_in(None) == set()
    assert p.state_configmap("ops", data)["metadata"]["name"] == "mcp-operator-state"


def test_the_finalizer_patch_keeps_other_finalizers_and_the_version_read() -> None:
    meta = {"finalizers": ["other.io/keep", p.FINALIZER], "resourceVersion": "42"}
    assert p.finalizers_patch({"metadata": meta}, present=False) == {
        "metadata": {"finalizers": ["other.io/keep"], "resourceVersion": "42"}
    }
    assert p.finalizers_patch({"metadata": meta}, present=True) is None
    assert p.finalizers_patch({"metadata": {}}, present=True) == {"metadata": {"finalizers": [p.FINALIZER]}}
    assert p.finalizers_patch({"metadata": {}}, present=False) is None


def test_the_example_in_the_docs_is_a_valid_file() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "predefined.md").read_text()
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    entries = p.parse(example, ORIGIN, "mcp-system")
    assert [e.key for e in entries] == [("mcp", "github"), ("mcp", "time")]
