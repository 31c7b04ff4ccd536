"""The CRDs and the field reference are generated from the models; the committed files must match."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from mcp_operator import crds, validation
from mcp_operator.models import GROUP, KINDS, PACKAGE_KIND, SERVER_KIND, VERSION, Kind

ROOT = Path(__file__).resolve().parents[2]


def schema_of(kind: Kind) -> dict[str, Any]:
    return crds.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def schemas(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node (not every dict: skips defaults, enums, CEL rules)."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from schemas(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schemas(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schemas(node["additionalProperties"], f"{path}{{}}")


def rules(kind: Kind) -> list[dict[str, str]]:
    found = []
    for _, node in schemas(schema_of(kind)):
        found += node.get("x-kubernetes-validations", [])
    return found


# ---------------------------------------------------------------------------------------------
# drift: THE test that fails when crds/*.yaml or docs/reference/fields.md are stale
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "crds/mcppackages.yaml",
        "crds/mcpservers.yaml",
        "docs/reference/fields.md",
        "docs/reference/reasons.md",
    ],
)
def test_committed_files_match_the_models(relative: str) -> None:
    files = crds.generated_files(ROOT)
    path = ROOT / relative
    assert path in files
    assert path.exists(), f"{relative} is missing: run `make crds` and commit the result"
    assert path.read_text() == files[path], (
        f"{relative} differs from what operator/mcp_operator/models.py produces: "
        "run `make crds` and commit the result"
    )


def test_generated_files_are_exactly_these() -> None:
    assert sorted(str(p.relative_to(ROOT)) for p in crds.generated_files(ROOT)) == [
        "crds/mcppackages.yaml",
        "crds/mcpservers.yaml",
        "docs/reference/fields.md",
        "docs/reference/reasons.md",
    ]


def test_check_passes_for_the_repository() -> None:
    assert crds.main(["check", "--root", str(ROOT)]) == 0, "run `make crds` and commit the result"


def test_write_then_check_in_a_fresh_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crds.main(["check", "--root", str(tmp_path)]) == 1  # nothing there yet
    assert "run `make crds`" in capsys.readouterr().err
    assert crds.main(["write", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 4
    assert crds.main(["check", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
    # writing again changes nothing and says nothing
    assert crds.main(["write", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "relative",
    [
        "crds/mcppackages.yaml",
        "crds/mcpservers.yaml",
        "docs/reference/fields.md",
        "docs/reference/reasons.md",
    ],
)
def test_check_fails_for_a_modified_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], relative: str
) -> None:
    for path, text in crds.generated_files(tmp_path).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    target = tmp_path / relative
    target.write_text(target.read_text().replace("mcp", "MCP", 1))
    assert crds.main(["check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{target} differs from the models: run `make crds` and commit the result" in err
    assert err.count("differs") == 1


def test_check_fails_for_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crds.main(["write", "--root", str(tmp_path)])
    (tmp_path / "crds" / "mcpservers.yaml").unlink()
    capsys.readouterr()
    assert crds.main(["check", "--root", str(tmp_path)]) == 1
    assert "mcpservers.yaml differs" in capsys.readouterr().err


def test_print_writes_both_crds(capsys: pytest.CaptureFixture[str]) -> None:
    assert crds.main(["print"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["spec"]["names"]["kind"] for d in docs] == ["MCPPackage", "MCPServer"]


def test_unknown_action_is_an_error() -> None:
    with pytest.raises(SystemExit):
        crds.main(["frobnicate"])


def test_crd_yaml_has_the_header_and_parses_back() -> None:
    for kind in KINDS:
        text = crds.crd_yaml(kind)
        assert text.startswith(crds.HEADER)
        assert "make crds" in crds.HEADER
        assert yaml.safe_load(text) == crds.crd(kind)


# ---------------------------------------------------------------------------------------------
# the CRD: names, columns, subresources
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crd_metadata_and_names(kind: Kind) -> None:
    doc = crds.crd(kind)
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["kind"] == "CustomResourceDefinition"
    assert doc["metadata"]["name"] == f"{kind.plural}.{GROUP}"
    assert doc["spec"]["group"] == "mcp-operator.dev"
    assert doc["spec"]["scope"] == "Namespaced"
    names = doc["spec"]["names"]
    assert names["kind"] == kind.kind
    assert names["listKind"] == f"{kind.kind}List"
    assert names["plural"] == kind.plural
    assert names["singular"] == kind.singular
    assert names["categories"] == ["mcp"]
    assert names["shortNames"] == list(kind.short_names)
    assert names["shortNames"]
    [version] = doc["spec"]["versions"]
    assert version["name"] == VERSION == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}
    root = version["schema"]["openAPIV3Schema"]
    assert root["type"] == "object"
    assert root["required"] == ["spec"]
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}


def test_short_names() -> None:
    assert crds.crd(PACKAGE_KIND)["spec"]["names"]["shortNames"] == ["mcppkg", "mcpp"]
    assert crds.crd(SERVER_KIND)["spec"]["names"]["shortNames"] == ["mcpsrv", "mcps"]


def test_package_printer_columns() -> None:
    columns = crds.crd(PACKAGE_KIND)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == ["Package", "Version", "Latest", "Update", "Ready", "Phase", "Age"]
    by_name = {c["name"]: c for c in columns}
    assert by_name["Package"]["jsonPath"] == ".spec.source.package"
    assert by_name["Version"]["jsonPath"] == ".status.resolvedVersion"
    assert by_name["Latest"]["jsonPath"] == ".status.latestVersion"
    assert by_name["Update"] == {"name": "Update", "type": "boolean", "jsonPath": ".status.updateAvailable"}
    assert by_name["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert by_name["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def test_server_printer_columns() -> None:
    columns = crds.crd(SERVER_KIND)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == ["Package", "Version", "Replicas", "Ready", "Phase", "URL", "Age"]
    assert {c["name"]: c["jsonPath"] for c in columns}["URL"] == ".status.url"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_printer_columns_point_at_fields_that_exist(kind: Kind) -> None:
    root = schema_of(kind)
    for column in crds.crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]:
        path = column["jsonPath"].split("[", 1)[0].strip(".").split(".")
        if path[0] == "metadata":
            continue
        node = root
        for part in path:
            assert part in node.get("properties", {}), (
                f"{column['name']}: {column['jsonPath']} is not in the schema"
            )
            node = node["properties"][part]
        if column["type"] != "date":
            assert node["type"] in {"string", "boolean", "array"}


# ---------------------------------------------------------------------------------------------
# structural schema
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
@pytest.mark.parametrize("forbidden", ["$ref", "anyOf", "allOf", "oneOf", "title", "$defs", "const"])
def test_no_non_structural_keywords(kind: Kind, forbidden: str) -> None:
    for path, node in schemas(schema_of(kind)):
        assert forbidden not in node, f"{kind.kind}{path} has {forbidden!r}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_no_ref_or_union_in_the_yaml_text(kind: Kind) -> None:
    text = crds.crd_yaml(kind)
    for word in ("$ref", "anyOf:", "allOf:", "oneOf:", "title:", "$defs"):
        assert word not in text


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_schema_node_has_a_type(kind: Kind) -> None:
    for path, node in schemas(schema_of(kind)):
        assert "type" in node, f"{kind.kind}{path} has no type"
        if "properties" in node:
            assert node["type"] == "object"
            assert "additionalProperties" not in node, (
                f"{kind.kind}{path}: properties and additionalProperties"
            )
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{kind.kind}{path}: array without items"
        for name in node.get("required", []):
            assert name in node.get("properties", {}), f"{kind.kind}{path}: required {name} is not a property"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_no_null_defaults(kind: Kind) -> None:
    for path, node in schemas(schema_of(kind)):
        assert node.get("default", 0) is not None, f"{kind.kind}{path} has default null"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_string_enums_are_bounded(kind: Kind) -> None:
    # the API server estimates CEL costs from string bounds
    for path, node in schemas(schema_of(kind)):
        if node.get("type") == "string" and "enum" in node:
            assert node["maxLength"] == max(len(e) for e in node["enum"]), f"{kind.kind}{path}"


def test_maps_are_typed() -> None:
    spec = schema_of(SERVER_KIND)["properties"]["spec"]
    assert spec["properties"]["nodeSelector"] == {
        "additionalProperties": {"type": "string"},
        "type": "object",
    }
    assert spec["properties"]["resources"]["properties"]["limits"]["additionalProperties"] == {
        "type": "string"
    }


def test_defaults_and_enums_in_the_schema() -> None:
    pkg = schema_of(PACKAGE_KIND)["properties"]["spec"]["properties"]
    assert pkg["source"]["properties"]["version"]["default"] == "latest"
    assert pkg["source"]["properties"]["type"]["enum"] == ["npm", "pypi", "oci"]
    assert pkg["source"]["required"] == ["type", "package"]
    assert pkg["install"]["default"] == {}
    assert pkg["install"]["properties"]["method"]["default"] == "initContainer"
    assert pkg["updates"]["properties"]["policy"]["enum"] == ["none", "patch", "minor", "major"]
    srv = schema_of(SERVER_KIND)["properties"]["spec"]["properties"]
    assert srv["replicas"] == {"default": 1, "maximum": 100, "minimum": 0, "type": "integer"}
    assert srv["transport"]["enum"] == ["stdio", "streamable-http", "sse"]
    assert srv["bridge"]["properties"]["sessionMode"]["default"] == "perSession"
    assert srv["network"]["properties"]["egress"]["default"] == "allow"
    assert "except" in srv["network"]["properties"]["egressAllow"]["items"]["properties"]


def test_status_is_not_required_and_spec_descriptions_are_dropped() -> None:
    for kind in KINDS:
        root = schema_of(kind)
        assert "description" not in root["properties"]["spec"]
        assert "description" not in root["properties"]["status"]
        assert root["description"].startswith(kind.kind)


def test_union_of_several_types_is_refused() -> None:
    class Bad(BaseModel):
        value: int | str

    with pytest.raises(ValueError, match="union of several types"):
        crds.openapi_schema(Bad)


def test_optional_nested_model_is_inlined() -> None:
    class Inner(BaseModel):
        """Inner doc."""

        a: int = 1

    class Outer(BaseModel):
        inner: Inner | None = None
        items: list[Inner] = []

    schema = crds.openapi_schema(Outer)
    assert schema["properties"]["inner"] == {
        "description": "Inner doc.",
        "properties": {"a": {"default": 1, "type": "integer"}},
        "type": "object",
    }
    assert schema["properties"]["items"]["items"]["properties"] == {"a": {"default": 1, "type": "integer"}}


# ---------------------------------------------------------------------------------------------
# patterns and CEL rules: the very same regexes as validation.py
# ---------------------------------------------------------------------------------------------

CEL_REGEX = re.compile(r"matches\(r'([^']*)'\)")


def test_source_cel_rules_use_the_validation_constants() -> None:
    source = schema_of(PACKAGE_KIND)["properties"]["spec"]["properties"]["source"]
    found = {}
    for rule in source["x-kubernetes-validations"]:
        if rule.get("fieldPath") == ".registry":
            continue  # the registry URL's rules: tests/unit/test_names.py
        assert set(rule) == {"rule", "message"}
        assert rule["message"]
        literals = CEL_REGEX.findall(rule["rule"])
        assert len(literals) == 1, rule["rule"]
        guard = re.match(r"self\.type != '(\w+)' \|\| ", rule["rule"])
        assert guard, rule["rule"]
        field = "version" if "self.version.matches" in rule["rule"] else "package"
        found[(guard.group(1), field)] = literals[0]
    assert found == {
        ("npm", "package"): validation.NPM_NAME,
        ("pypi", "package"): validation.PYPI_NAME,
        ("oci", "package"): validation.OCI_REPOSITORY,
        ("npm", "version"): validation.NPM_RANGE,
        # PEP 440 versions are case-insensitive ('1.0RC1'): the same pattern with RE2's (?i) flag
        ("pypi", "version"): "(?i)" + validation.PEP440_SPEC,
        ("oci", "version"): validation.OCI_TAG,
    }


def test_version_cel_rules_exactly() -> None:
    source = schema_of(PACKAGE_KIND)["properties"]["spec"]["properties"]["source"]
    texts = [r["rule"] for r in source["x-kubernetes-validations"]]
    assert f"self.type != 'npm' || self.version.matches(r'{validation.NPM_RANGE}')" in texts
    # 'latest' is compared exactly, outside the (?i) pattern: 'LATEST' is refused
    assert (
        "self.type != 'pypi' || self.version == 'latest' || "
        f"self.version.matches(r'(?i){validation.PEP440_SPEC}')"
    ) in texts
    assert "latest" not in validation.PEP440_SPEC
    assert f"self.type != 'oci' || self.version.matches(r'{validation.OCI_TAG}')" in texts


def test_package_status_entrypoint_and_detected_command() -> None:
    status = schema_of(PACKAGE_KIND)["properties"]["status"]["properties"]
    assert status["detectedCommand"]["type"] == "array"
    assert status["detectedCommand"]["items"] == {"type": "string"}
    assert "npm bin" in status["detectedCommand"]["description"]
    entrypoint = status["entrypoint"]
    assert entrypoint["type"] == "object"
    assert set(entrypoint["properties"]) == {"command", "args"}
    for field in ("command", "args"):
        assert entrypoint["properties"][field] == {"type": "array", "items": {"type": "string"}}
    assert "| `status.detectedCommand` | list of string |" in crds.reference_markdown()


def test_egress_except_items_have_the_cidr_pattern() -> None:
    rule = schema_of(SERVER_KIND)["properties"]["spec"]["properties"]["network"]["properties"]["egressAllow"][
        "items"
    ]
    assert rule["properties"]["except"]["items"]["pattern"] == rule["properties"]["cidr"]["pattern"]


def test_cel_rules_escape_the_reserved_word_package() -> None:
    # 'package' is a CEL reserved word: the API server refuses a rule that says self.package.
    for kind in KINDS:
        for rule in rules(kind):
            assert not re.search(r"\bself\.package\b", rule["rule"]), rule["rule"]
    texts = " ".join(r["rule"] for r in rules(PACKAGE_KIND))
    assert "self.__package__.matches(" in texts


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_cel_regexes_are_raw_strings(kind: Kind) -> None:
    # In a CEL raw string a backslash is literal, so '\.' reaches RE2 unchanged.
    for rule in rules(kind):
        assert rule["rule"].count("matches(") == rule["rule"].count("matches(r'"), rule["rule"]


def test_npm_cel_rule_checks_the_length() -> None:
    sized = [r["rule"] for r in rules(PACKAGE_KIND) if "size(" in r["rule"]]
    assert len(sized) == 1
    assert sized[0].startswith("self.type != 'npm' || ")
    assert f"size(self.__package__) <= {validation.NPM_NAME_MAX}" in sized[0]


@pytest.mark.parametrize("relative", ["crds/mcppackages.yaml", "crds/mcpservers.yaml"])
def test_committed_cel_regexes_are_validation_constants(relative: str) -> None:
    constants = {
        getattr(validation, name)
        for name in dir(validation)
        if name.isupper() and isinstance(getattr(validation, name), str)
    }
    doc = yaml.safe_load((ROOT / relative).read_text())
    literals = [
        literal
        for _, node in walk(doc)
        if isinstance(node, dict) and "rule" in node
        for literal in CEL_REGEX.findall(node["rule"])
    ]
    if relative.endswith("mcppackages.yaml"):
        assert len(literals) == 9  # 6 for package and version, 3 for the registry URL
    for literal in literals:
        pattern = literal.removeprefix("(?i)")
        assert pattern in constants, f"{literal!r} in {relative} is not a validation.py constant"


def test_cel_rules_for_env() -> None:
    texts = [r["rule"] for r in rules(SERVER_KIND)]
    assert "!(has(self.value) && has(self.valueFrom))" in texts
    assert (
        "[has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldRef)].filter(x, x).size() == 1"
        in texts
    )
    env = schema_of(SERVER_KIND)["properties"]["spec"]["properties"]["env"]["items"]
    assert env["x-kubernetes-validations"][0]["message"] == "env: set value or valueFrom, not both"


@pytest.mark.parametrize(
    ("kind", "path", "constant"),
    [
        (PACKAGE_KIND, ("source", "version"), "VERSION_CHARS"),
        (PACKAGE_KIND, ("source", "registryAuthSecret"), "DNS1123_SUBDOMAIN"),
        (PACKAGE_KIND, ("updates", "interval"), "DURATION"),
        (SERVER_KIND, ("package",), "DNS1123_SUBDOMAIN"),
        (SERVER_KIND, ("serviceAccountName",), "DNS1123_SUBDOMAIN"),
        (SERVER_KIND, ("runtimeClassName",), "DNS1123_SUBDOMAIN"),
    ],
)
def test_field_patterns_are_validation_constants(kind: Kind, path: tuple[str, ...], constant: str) -> None:
    node = schema_of(kind)["properties"]["spec"]
    for part in path:
        node = node["properties"][part]
    assert node["pattern"] == getattr(validation, constant)


def test_env_name_pattern() -> None:
    env = schema_of(SERVER_KIND)["properties"]["spec"]["properties"]["env"]["items"]
    assert env["properties"]["name"]["pattern"] == validation.ENV_NAME
    assert env["required"] == ["name"]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_pattern_compiles(kind: Kind) -> None:
    for _, node in schemas(schema_of(kind)):
        if "pattern" in node:
            re.compile(node["pattern"])
    for rule in rules(kind):
        for literal in CEL_REGEX.findall(rule["rule"]):
            re.compile(literal)


# ---------------------------------------------------------------------------------------------
# field reference
# ---------------------------------------------------------------------------------------------


def test_reference_markdown() -> None:
    text = crds.reference_markdown()
    assert text.startswith("<!-- Generated from operator/mcp_operator/models.py by `make crds`.")
    for heading in (
        "## MCPPackage `spec`",
        "## MCPPackage `status`",
        "## MCPServer `spec`",
        "## MCPServer `status`",
    ):
        assert heading in text
    assert "| `spec.source.package` | string | yes |" in text
    assert "| `spec.source.type` | `npm` \\| `pypi` \\| `oci` | yes |" in text
    assert "| `spec.source.version` | string |  | `latest` |" in text
    assert "| `spec.env[].name` | string | yes |" in text
    assert "| `spec.nodeSelector` | map of string |" in text
    assert "| `spec.args` | list of string |" in text
    assert "| `status.conditions[].type` | string | yes |" in text
    assert "Cross-field rules enforced by the API server:" in text
    assert "- spec.source.package is not a valid npm name" in text
