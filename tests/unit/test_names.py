"""Names: what an MCPServer may be called, and every name and label the operator derives from one.

The Kubernetes rules are written out here on their own (from k8s.io/apimachinery's validation
package), not taken from the code under test, so a renderer that makes an invalid name fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from mcp_operator import predefined
from mcp_operator import validation as v
from mcp_operator.crds import crd
from mcp_operator.handlers.report import event_manifest
from mcp_operator.models import PACKAGE_KIND, SERVER_KIND, MCPServerSpec, Source
from mcp_operator.reasons import Reason
from mcp_operator.registries.errors import InvalidSpec
from mcp_operator.registries.http import normalise_registry_url
from mcp_operator.render import labels
from mcp_operator.render.inputs import Settings
from mcp_operator.render.network import server_url
from mcp_operator.render.server_plan import plan_server

# --------------------------------------------------------------------- the Kubernetes name rules

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_IANA_SVC_NAME = re.compile(r"[-a-z0-9]*[a-z][-a-z0-9]*")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def is_subdomain(text: str) -> bool:
    """DNS-1123 subdomain: most object names (Deployment, NetworkPolicy, Event, Secret, MCPPackage)."""
    return len(text) <= 253 and _SUBDOMAIN.fullmatch(text) is not None


def is_label_1123(text: str) -> bool:
    """DNS-1123 label: namespaces, container, volume and Service port names."""
    return len(text) <= 63 and _LABEL_1123.fullmatch(text) is not None


def is_label_1035(text: str) -> bool:
    """DNS-1035 label: Service names."""
    return len(text) <= 63 and _LABEL_1035.fullmatch(text) is not None


def is_label_value(text: str) -> bool:
    return len(text) <= 63 and _LABEL_VALUE.fullmatch(text) is not None


def is_qualified_key(text: str) -> bool:
    """A label or annotation key: an optional DNS-1123 subdomain prefix and '/', then a name."""
    prefix, _, name = text.rpartition("/")
    if prefix and not is_subdomain(prefix):
        return False
    return len(name) <= 63 and _QUALIFIED_NAME.fullmatch(name) is not None


def is_port_name(text: str) -> bool:
    """IANA_SVC_NAME: container port names."""
    return (
        len(text) <= 15
        and _IANA_SVC_NAME.fullmatch(text) is not None
        and "--" not in text
        and not text.startswith("-")
        and not text.endswith("-")
    )


def test_the_rules_here_are_the_kubernetes_ones() -> None:
    assert is_subdomain("a.b-c.0")
    assert not is_subdomain("a..b")
    assert not is_subdomain("a" * 254)
    assert is_label_1123("0a")
    assert not is_label_1123("a.b")
    assert not is_label_1123("a" * 64)
    assert is_label_1035("a0")
    assert not is_label_1035("0a")
    assert not is_label_1035("a-")
    assert is_label_value("")
    assert is_label_value("A_b.c-1")
    assert not is_label_value("-a")
    assert not is_label_value("a" * 64)
    assert not is_label_value("a/b")
    assert is_qualified_key("app.kubernetes.io/name")
    assert is_qualified_key("name")
    assert not is_qualified_key("Bad_Prefix/name")
    assert not is_qualified_key("p/" + "a" * 64)
    assert is_port_name("mcp")
    assert not is_port_name("a--b")
    assert not is_port_name("123")


# --------------------------------------------------------------------- names to feed through

SERVER_NAMES = [
    "a",
    "z9",
    "a" * 63,
    "a" + "-" * 61 + "0",
    "a0-9z",
]
NAMESPACES = ["0", "9" + "-" * 61 + "9", "default"]
# MCPPackage names: DNS-1123 subdomains, up to 253 characters, dots and all.
PACKAGE_NAMES = [
    "0",
    "0.0",
    "a" * 63,
    "a" * 64,
    ".".join(["a" * 63] * 3) + "." + "b" * 61,  # 253 characters
    "a" * 51 + "." + "b" * 100,  # the shortened label would end in '.'
    "a" * 51 + "--" + "b" * 20,
    "0--0.0--0." + "9" * 60,
]
SECRET = "s" * 63 + "." + "t" * 63 + "." + "u" * 63 + "." + "v" * 61
INTEGRITY = "sha512-" + "A" * 86 + "=="
LONG_VERSION = "1.2.3-" + ".".join(["rc-x"] * 23) + "+build.5"


def test_the_names_here_are_valid_and_as_long_as_allowed() -> None:
    assert all(is_label_1035(n) for n in SERVER_NAMES)
    assert max(map(len, SERVER_NAMES)) == 63
    assert all(is_label_1123(n) for n in NAMESPACES)
    assert max(map(len, NAMESPACES)) == 63
    assert all(is_subdomain(n) for n in PACKAGE_NAMES)
    assert max(map(len, PACKAGE_NAMES)) == 253
    assert is_subdomain(SECRET)
    assert len(SECRET) == 253
    assert len(LONG_VERSION) <= 128
    v.check_npm_version(LONG_VERSION)


def server_object(name: str, namespace: str, package: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": "server-uid", "generation": 1},
        "spec": {"package": package, **spec},
    }


def package_object(name: str, namespace: str, source: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": "package-uid"},
        "spec": {"source": source},
        "status": {
            "phase": "Ready",
            "resolvedVersion": LONG_VERSION,
            "integrity": INTEGRITY,
            "detectedCommand": ["mcp-server"],
            **status,
        },
    }


NPM = {
    "type": "npm",
    "package": "@scope/" + "n" * 200,
    "version": LONG_VERSION,
    "registry": "https://registry.example.com:8443/npm/",
    "registryAuthSecret": SECRET,
}
OCI = {"type": "oci", "package": "registry.example.com:5000/org/server", "version": "v" * 128}
EGRESS = {"egress": "deny", "egressAllow": [{"cidr": "10.0.0.0/8", "ports": [{"port": 443}]}]}


def rendered(name: str, namespace: str, package: str, oci: bool = False) -> list[dict[str, Any]]:
    settings = Settings(extra_labels={"example.com/team": "a-team"})
    if oci:
        server = server_object(name, namespace, package, transport="streamable-http", network=EGRESS)
        pkg = package_object(
            package, namespace, OCI, resolvedVersion="v" * 128, integrity="sha256:" + "a" * 64
        )
    else:
        server = server_object(name, namespace, package, network=EGRESS, serviceAccountName=SECRET)
        pkg = package_object(package, namespace, NPM)
    plan = plan_server(server, pkg, settings)
    assert plan.problem is None, plan.problem
    assert [m["kind"] for m in plan.manifests] == ["Deployment", "Service", "NetworkPolicy"]
    return plan.manifests


def check_metadata(meta: dict[str, Any], where: str) -> None:
    for key, value in (meta.get("labels") or {}).items():
        assert is_qualified_key(key), f"{where}: label key {key!r}"
        assert is_label_value(value), f"{where}: label {key}={value!r}"
    for key in meta.get("annotations") or {}:
        assert is_qualified_key(key), f"{where}: annotation key {key!r}"
    for owner in meta.get("ownerReferences") or []:
        assert is_subdomain(owner["name"]), f"{where}: owner {owner['name']!r}"


def check_pod(pod: dict[str, Any], where: str) -> None:
    check_metadata(pod["metadata"], where + " template")
    spec = pod["spec"]
    volumes = {vol["name"] for vol in spec["volumes"]}
    assert all(is_label_1123(vol) for vol in volumes), f"{where}: volumes {volumes}"
    containers = [*spec.get("initContainers", []), *spec["containers"]]
    for container in containers:
        assert is_label_1123(container["name"]), f"{where}: container {container['name']!r}"
        for port in container.get("ports", []):
            assert is_port_name(port["name"]), f"{where}: port {port['name']!r}"
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes
        for env in container.get("env", []):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert is_subdomain(ref["name"]), f"{where}: secret {ref['name']!r}"
    for field in ("serviceAccountName", "runtimeClassName"):
        if field in spec:
            assert is_subdomain(spec[field]), f"{where}: {field} {spec[field]!r}"


def check_manifest(manifest: dict[str, Any]) -> None:
    kind, meta = manifest["kind"], manifest["metadata"]
    where = f"{kind} {meta['name']!r}"
    name_rule = is_label_1035 if kind == "Service" else is_subdomain
    assert name_rule(meta["name"]), f"{where}: name"
    assert is_label_1123(meta["namespace"]), f"{where}: namespace"
    check_metadata(meta, where)
    spec = manifest["spec"]
    if kind == "Deployment":
        selector = spec["selector"]["matchLabels"]
        assert selector.items() <= spec["template"]["metadata"]["labels"].items()
        check_pod(spec["template"], where)
    elif kind == "Service":
        selector = spec["selector"]
        assert all(is_label_1123(p["name"]) for p in spec["ports"])
    else:
        selector = spec["podSelector"]["matchLabels"]
    assert all(is_qualified_key(k) and is_label_value(val) for k, val in selector.items()), where


def every_case() -> Iterator[tuple[str, str, str, bool]]:
    for name in SERVER_NAMES:
        for namespace in NAMESPACES:
            yield name, namespace, PACKAGE_NAMES[4], False
    for package in PACKAGE_NAMES:
        yield SERVER_NAMES[2], NAMESPACES[1], package, False
        yield SERVER_NAMES[3], NAMESPACES[0], package, True


@pytest.mark.parametrize(("name", "namespace", "package", "oci"), list(every_case()))
def test_every_rendered_name_and_label_is_valid(name: str, namespace: str, package: str, oci: bool) -> None:
    for manifest in rendered(name, namespace, package, oci):
        check_manifest(manifest)
        assert manifest["metadata"]["name"] == name
        assert manifest["metadata"]["labels"][labels.SERVER_LABEL] == name  # handlers/cache.py: pod -> server
    url = server_url(name, namespace, MCPServerSpec(package=package), Settings())
    assert url == f"http://{name}.{namespace}.svc:8080/mcp"


def test_the_package_label_is_the_name_when_it_fits_and_unique_when_it_does_not() -> None:
    values = {}
    for package in PACKAGE_NAMES:
        value = rendered("s", "ns", package)[0]["metadata"]["labels"][labels.PACKAGE_LABEL]
        assert is_label_value(value)
        if len(package) <= 63:
            assert value == package
        else:
            assert len(value) <= 63
            assert value.startswith(package[:40])
            assert re.fullmatch(r".*-[0-9a-f]{10}", value), value
        values[package] = value
    assert len(set(values.values())) == len(values)
    # Two long names that share their first 52 characters still get two values.
    twins = ["a" * 60 + "-one", "a" * 60 + "-two"]
    assert labels.name_label(twins[0]) != labels.name_label(twins[1])
    assert labels.name_label("a" * 64) == labels.name_label("a" * 64)  # stable: selectors keep working


def test_name_label_of_names_that_are_no_label_at_all() -> None:
    for text in ["@scope/name", "-" * 80, "." * 70, "É" * 70]:
        assert is_label_value(labels.name_label(text)), text


@pytest.mark.parametrize("version", ["1.2.3", "1.2.3+build.5", LONG_VERSION, "v" * 128, "+"])
def test_version_label(version: str) -> None:
    assert is_label_value(labels.label_value(version))


@pytest.mark.parametrize("name", [SERVER_NAMES[2], PACKAGE_NAMES[4], "a" * 236, "a" * 237, "a" * 235 + ".b"])
def test_event_names_fit(name: str) -> None:
    event = event_manifest("MCPPackage", "ns", name, "uid", "Warning", "InvalidSpec", "m")
    assert is_subdomain(event["metadata"]["name"]), event["metadata"]["name"]
    assert event["involvedObject"]["name"] == name
    if len(name) <= 236:
        assert event["metadata"]["name"].startswith(name + ".")


def test_two_events_of_one_long_named_object_have_two_names() -> None:
    first = event_manifest("MCPPackage", "ns", PACKAGE_NAMES[4], "uid", "Warning", "R", "m")
    second = event_manifest("MCPPackage", "ns", PACKAGE_NAMES[4], "uid", "Warning", "R", "m")
    assert first["metadata"]["name"] != second["metadata"]["name"]


# --------------------------------------------------------------------- predefined packages


def test_predefined_objects_and_marks_have_valid_names() -> None:
    name, namespace = "a" + "-" * 61 + "0", "9" * 63
    text = (
        f"packages:\n  - name: {name}\n    namespace: '{namespace}'\n    source: {{type: npm, package: x}}\n"
    )
    (entry,) = predefined.parse(text, "test", "default")
    for manifest in (predefined.package_manifest(entry), predefined.server_manifest(entry, "uid")):
        assert is_label_1035(manifest["metadata"]["name"])
        check_metadata(manifest["metadata"], manifest["kind"])
    for key in [(namespace, name), (namespace, PACKAGE_NAMES[4])]:
        mark = predefined.mark_key(key)
        assert len(mark) <= 253, mark
        assert _CONFIG_KEY.fullmatch(mark), mark
        assert predefined.marks_in({mark: predefined.mark_value(key)}) == {key}
    configmap = predefined.state_configmap(namespace, {predefined.mark_key((namespace, name)): "x/y"})
    assert is_subdomain(configmap["metadata"]["name"])
    check_metadata(configmap["metadata"], "state ConfigMap")


@pytest.mark.parametrize("name", ["1abc", "a.b", "a" * 64, "a-"])
def test_predefined_names_must_be_server_names(name: str) -> None:
    text = f"packages:\n  - name: '{name}'\n    source: {{type: npm, package: x}}\n"
    with pytest.raises(predefined.ConfigError, match="is not a valid name: use at most 63 lower-case"):
        predefined.parse(text, "test", "default")


# --------------------------------------------------------------------- MCPServer names: the code


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("1abc", "'1abc' does not start with a letter"),
        ("a" * 64, "is 64 characters long"),
        ("a.b", "'a.b' contains a dot"),
        ("a-", "'a-' ends with '-'"),
        ("Abc", "holds characters other than lower-case letters, digits and '-'"),
        ("a_b", "holds characters other than lower-case letters, digits and '-'"),
        ("", "does not start with a letter"),
    ],
)
def test_check_server_name_refuses_what_cannot_be_a_service_name(name: str, why: str) -> None:
    with pytest.raises(v.InputError) as caught:
        v.check_server_name(name)
    message = str(caught.value)
    assert message.startswith(f"MCPServer name {name!r} ")
    assert why in message
    assert v.SERVER_NAME_MESSAGE in message
    assert message.endswith("create the server again under such a name and delete this one")


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_check_server_name_accepts_service_names(name: str) -> None:
    assert v.check_server_name(name) == name


@pytest.mark.parametrize("name", ["1abc", "a" * 64, "a.b"])
def test_plan_reports_an_invalid_name_once_and_does_not_wait(name: str) -> None:
    package = package_object("p", "ns", NPM)
    plan = plan_server(server_object(name, "ns", "p"), package, Settings())
    assert plan.problem is not None
    assert plan.problem.reason == Reason.INVALID_SPEC
    assert plan.problem.phase == "Failed"
    assert plan.problem.wait is False  # nothing but a new object fixes a name
    assert plan.problem.warn is True  # one Warning Event
    assert v.SERVER_NAME_MESSAGE in plan.problem.message
    assert plan.manifests == []


def test_plan_checks_the_name_before_the_package_is_even_looked_for() -> None:
    plan = plan_server(server_object("1abc", "ns", "missing"), None, Settings())
    assert plan.problem is not None
    assert plan.problem.reason == Reason.INVALID_SPEC


# --------------------------------------------------------------------- MCPServer names: the CRD


def re2_match(pattern: str, text: str) -> bool:
    """As the API server matches: '$' only at the very end of the text."""
    assert pattern.startswith("^")
    assert pattern.endswith("$")
    return re.match(pattern[:-1] + r"\Z", text) is not None


def root_rules() -> list[dict[str, str]]:
    schema = crd(SERVER_KIND)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["properties"]["metadata"] == {"type": "object", "properties": {"name": {"type": "string"}}}
    return list(schema["x-kubernetes-validations"])


def test_the_crd_refuses_names_at_the_root_with_our_message() -> None:
    (rule,) = root_rules()
    assert rule == {
        "rule": f"size(self.metadata.name) <= 63 && self.metadata.name.matches(r'{v.DNS1035_LABEL}')",
        "message": v.SERVER_NAME_MESSAGE,
        "fieldPath": ".metadata.name",
    }
    assert "'" not in v.DNS1035_LABEL  # a CEL raw string ends at a quote


def cel_accepts_name(name: str) -> bool:
    """The root rule as the API server evaluates it (CEL's size() counts code points)."""
    return len(name) <= v.DNS_LABEL_MAX and re2_match(v.DNS1035_LABEL, name)


@pytest.mark.parametrize(
    "name", [*SERVER_NAMES, "1abc", "a" * 64, "a.b", "a-", "-a", "Abc", "a_b", "a\n", "0", "ab.c"]
)
def test_the_crd_rule_and_the_code_agree(name: str) -> None:
    try:
        v.check_server_name(name)
    except v.InputError:
        code = False
    else:
        code = True
    assert cel_accepts_name(name) == code


def test_no_mcppackage_rule_on_names() -> None:
    schema = crd(PACKAGE_KIND)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "x-kubernetes-validations" not in schema  # any object name is a valid MCPPackage name
    assert schema["properties"]["metadata"] == {"type": "object"}


# --------------------------------------------------------------------- registry URLs

REGISTRIES_OK = [
    "https://registry.npmjs.org",
    "http://127.0.0.1:4873",
    "https://pypi.example.com/simple/",
    "https://x/a%20b",
    "https://host:443/path/to/npm/",
]
REGISTRIES_WITH_CREDENTIALS = [
    "https://user:secret@registry.example.com/",
    "https://token@registry.example.com",
    "http://u:p@127.0.0.1:4873",
    "https://:p@host",
    "https://u:p@ss@host/",
    "HTTPS://u:p@host",
    "ftp://u:p@host",
]
REGISTRIES_BAD = [
    "ftp://x",
    "https://",
    "https://x:123456",
    "registry.npmjs.org",
    "https://x/a b",
    "https://x/?q=1",
    "https://x/#f",
    "https://x/a@b",
    "file:///etc/passwd",
]


def registry_rules() -> list[dict[str, str]]:
    schema = crd(PACKAGE_KIND)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    source = schema["properties"]["spec"]["properties"]["source"]
    assert "pattern" not in source["properties"]["registry"]  # a raw pattern would be its own message
    return [r for r in source["x-kubernetes-validations"] if r.get("fieldPath") == ".registry"]


def test_the_crd_says_in_words_that_credentials_belong_in_a_secret() -> None:
    credentials, url = registry_rules()
    assert credentials == {
        "rule": f"!has(self.registry) || !self.registry.matches(r'{v.REGISTRY_CREDENTIALS}')",
        "message": "spec.source.registry must not contain credentials (user:password@): put them in a Secret "
        "and name it in spec.source.registryAuthSecret",
        "fieldPath": ".registry",
    }
    assert url == {
        "rule": f"!has(self.registry) || self.registry.matches(r'{v.REGISTRY_CREDENTIALS}') || "
        f"self.registry.matches(r'{v.REGISTRY_URL}')",
        "message": v.REGISTRY_URL_MESSAGE,
        "fieldPath": ".registry",
    }


def cel_registry_messages(url: str) -> list[str]:
    """The registry rules as the API server evaluates them: the messages of the rules that fail."""
    failing = []
    if re2_match(v.REGISTRY_CREDENTIALS, url):
        failing.append(v.REGISTRY_CREDENTIALS_MESSAGE)
    elif not re2_match(v.REGISTRY_URL, url):
        failing.append(v.REGISTRY_URL_MESSAGE)
    return failing


@pytest.mark.parametrize("url", REGISTRIES_OK + REGISTRIES_WITH_CREDENTIALS + REGISTRIES_BAD)
def test_registry_rules_the_code_and_the_old_pattern_agree(url: str) -> None:
    messages = cel_registry_messages(url)
    try:
        Source(type="npm", package="x", registry=url)
    except ValidationError as exc:
        (error,) = exc.errors()
        assert error["loc"] == ("registry",)
        text = str(error["msg"])
        assert messages, url
        if url in REGISTRIES_WITH_CREDENTIALS:
            assert messages == [v.REGISTRY_CREDENTIALS_MESSAGE]
            assert text.endswith(
                "must not contain credentials (user:password@): put them in a Secret and name it in "
                "spec.source.registryAuthSecret"
            )
            assert "secret@" not in text
            assert "p@" not in text
            assert "token@" not in text
        else:
            assert messages == [v.REGISTRY_URL_MESSAGE]
            assert f"{url!r} is not a registry URL: write http:// or https://" in text
    else:
        assert messages == [], url
    # The two rules accept exactly what the single pattern before them did.
    assert (messages == []) == re2_match(v.REGISTRY_URL, url)


@pytest.mark.parametrize("url", REGISTRIES_WITH_CREDENTIALS[:4])
def test_the_registry_client_refuses_credentials_too(url: str) -> None:
    with pytest.raises(InvalidSpec, match="contains credentials; put them in the registry auth Secret"):
        normalise_registry_url(url)
