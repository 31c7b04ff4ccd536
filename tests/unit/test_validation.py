"""The input grammar: every check accepts what it should, rejects what it should, and says why."""

from __future__ import annotations

import re

import pytest

from mcp_operator import crds
from mcp_operator import validation as v
from mcp_operator.models import PACKAGE_KIND
from mcp_operator.validation import InputError

# ---------------------------------------------------------------------------------------------
# npm names
# ---------------------------------------------------------------------------------------------

NPM_NAMES_OK = [
    "left-pad",
    "a",
    "0",
    "lodash.merge",
    "socket.io",
    "under_score",
    "tilde~name",
    "~leading-tilde",
    "-leading-dash",
    "@scope/name",
    "@modelcontextprotocol/server-everything",
    "@a/b",
    "@s-1/n.a_m~e",
    "@-/x",
    "a" * 214,
    "@s/" + "a" * 211,  # 214 in total
]
NPM_NAMES_BAD = [
    "",
    "Upper",
    "leftPad",
    "@Scope/name",
    "@scope/Name",
    ".leading-dot",
    "_leading-underscore",
    "@.scope/name",
    "@_scope/name",
    "@scope/.name",
    "@scope/_name",
    "has space",
    "slash/inside",
    "@scope/a/b",
    "@scope/",
    "@/name",
    "@scope",
    "name@1.2.3",
    "name;rm",
    "名前",
    "../etc/passwd",
    "http://x",
]


@pytest.mark.parametrize("name", NPM_NAMES_OK)
def test_npm_name_ok(name: str) -> None:
    assert v.check_npm_name(name) == name


@pytest.mark.parametrize("name", NPM_NAMES_BAD)
def test_npm_name_bad(name: str) -> None:
    with pytest.raises(InputError, match="not a valid npm package name"):
        v.check_npm_name(name)


def test_npm_name_length_limit_is_exactly_214() -> None:
    assert v.NPM_NAME_MAX == 214
    assert v.check_npm_name("a" * 214) == "a" * 214
    with pytest.raises(InputError, match=r"215 characters long; npm allows at most 214"):
        v.check_npm_name("a" * 215)
    with pytest.raises(InputError, match=r"215 characters long"):
        v.check_npm_name("@s/" + "a" * 212)


def test_npm_name_message_gives_an_example() -> None:
    with pytest.raises(InputError) as info:
        v.check_npm_name("Bad")
    assert "'Bad'" in str(info.value)
    assert "@scope/name" in str(info.value)


# ---------------------------------------------------------------------------------------------
# PyPI names
# ---------------------------------------------------------------------------------------------

PYPI_NAMES_OK = [
    "a",
    "Z",
    "9",
    "mcp-server-time",
    "Django",
    "zope.interface",
    "ruamel.yaml",
    "typing_extensions",
    "a1",
    "1a",
    "A-b_c.D",
]
PYPI_NAMES_BAD = [
    "",
    "-a",
    "a-",
    ".a",
    "a.",
    "_a",
    "a_",
    "has space",
    "a/b",
    "a;b",
    "a==1.0",
    "a[extra]",
    "@scope/name",
    "ü",
]


@pytest.mark.parametrize("name", PYPI_NAMES_OK)
def test_pypi_name_ok(name: str) -> None:
    assert v.check_pypi_name(name) == name


@pytest.mark.parametrize("name", PYPI_NAMES_BAD)
def test_pypi_name_bad(name: str) -> None:
    with pytest.raises(InputError, match="not a valid PyPI project name"):
        v.check_pypi_name(name)


# ---------------------------------------------------------------------------------------------
# OCI repositories and tags
# ---------------------------------------------------------------------------------------------

OCI_REPOS_OK = [
    "mcp/time",
    "time",
    "ghcr.io/org/server",
    "docker.io/library/alpine",
    "localhost:5000/img",
    "registry.example.com:443/a/b/c",
    "127.0.0.1:5000/x",
    "Registry.Example.com/org/server",  # host names are case-insensitive
    "a__b",
    "a_b.c-d",
    "a--b",
    "quay.io/org-1/server_2",
]
OCI_REPOS_BAD = [
    "",
    "ghcr.io/Org/server",
    "UPPER",
    "a___b",
    "-a",
    "a-",
    "a//b",
    "/a",
    "a/",
    "ghcr.io/org/server name",
    "host:port/x",
    "https://ghcr.io/org/server",
    "a/" * 128 + "a",  # 257 characters
]
OCI_WITH_TAG_OR_DIGEST = [
    "ghcr.io/org/server:1.0",
    "mcp/time:latest",
    "localhost:5000/img:v1",
    "reg:5000/a/b:tag",
    "ghcr.io/org/server@sha256:" + "0" * 64,
    "mcp/time@sha256:abc",
    "localhost:5000",
]


@pytest.mark.parametrize("name", OCI_REPOS_OK)
def test_oci_repository_ok(name: str) -> None:
    assert v.check_oci_repository(name) == name


@pytest.mark.parametrize("name", OCI_REPOS_BAD)
def test_oci_repository_bad(name: str) -> None:
    with pytest.raises(InputError, match="not a valid image repository"):
        v.check_oci_repository(name)


@pytest.mark.parametrize("name", OCI_WITH_TAG_OR_DIGEST)
def test_oci_repository_with_tag_or_digest_is_rejected_with_its_own_message(name: str) -> None:
    with pytest.raises(InputError, match="includes a tag or digest") as info:
        v.check_oci_repository(name)
    assert "spec.source.version" in str(info.value)


def test_oci_repository_length_limit() -> None:
    name = "a" * 255
    assert v.check_oci_repository(name) == name
    with pytest.raises(InputError, match="not a valid image repository"):
        v.check_oci_repository("a" * 256)


OCI_TAGS_OK = ["latest", "1.2.3", "v1", "_x", "A_b.c-D", "a" * 128, "sha-abc123"]
OCI_TAGS_BAD = ["", ".x", "-x", "a" * 129, "a:b", "a/b", "a b", "a@b", "1.2.3;rm", "^1.2"]


@pytest.mark.parametrize("tag", OCI_TAGS_OK)
def test_oci_tag_ok(tag: str) -> None:
    assert v.check_oci_tag(tag) == tag


@pytest.mark.parametrize("tag", OCI_TAGS_BAD)
def test_oci_tag_bad(tag: str) -> None:
    with pytest.raises(InputError, match="not a valid image tag"):
        v.check_oci_tag(tag)


# ---------------------------------------------------------------------------------------------
# npm versions and ranges
# ---------------------------------------------------------------------------------------------

NPM_EXACT = ["0.0.0", "1.2.3", "v1.2.3", "10.20.30", "1.2.3-beta.1", "1.2.3-rc-1+build.5", "1.0.0+sha.abc"]
NPM_NOT_EXACT = ["1.2", "01.2.3", "1.02.3", "1.2.3.4", "^1.2.3", "1.2.3-", "1.2.3+", "latest", "", "x.y.z"]
NPM_RANGES_OK = [
    "latest",
    "^1.2.3",
    "^0.0.1",
    "~1.2",
    "~1.2.3",
    "~>1.2",
    "1.x",
    "1.2.x",
    "1.X",
    "1.*",
    "*",
    "x",
    "X",
    ">=1.0.0 <2.0.0",
    ">= 1.2.3",
    "<= 1",
    ">1 <= 2",
    "=1.2.3",
    "<2.0.0-0",
    "1.2.3 - 2.3.4",
    "1.2 - 2",
    "1.2.3 || 2.x",
    "^1.0.0 || ^2.0.0 || >=3.0.0 <3.5.0",
    "^1.2.3-beta.2",
    "1.2.3-beta.1",
]
NPM_RANGES_BAD = [
    "1.2.3; rm -rf /",
    "$(whoami)",
    "`id`",
    "1.2.3 && echo",
    "next",
    "beta",
    "1.2.3.4",
    "^",
    ">=",
    ">= ",
    "1.2.3 -",
    "1.2.3 | 2.0.0",
    "^1.2.3 <2 junk",
    "git+https://github.com/a/b",
    "file:../x",
    "npm:other@1",
]


@pytest.mark.parametrize("version", NPM_EXACT)
def test_is_exact_semver(version: str) -> None:
    assert v.is_exact_semver(version)


@pytest.mark.parametrize("version", NPM_NOT_EXACT)
def test_is_not_exact_semver(version: str) -> None:
    assert not v.is_exact_semver(version)


@pytest.mark.parametrize("spec", NPM_EXACT + NPM_RANGES_OK)
def test_npm_version_ok(spec: str) -> None:
    assert v.check_npm_version(spec) == spec


@pytest.mark.parametrize("spec", NPM_RANGES_BAD)
def test_npm_version_bad(spec: str) -> None:
    with pytest.raises(InputError, match="is not an npm version or range") as info:
        v.check_npm_version(spec)
    assert "'^1.2.0'" in str(info.value)


@pytest.mark.parametrize("spec", ["1 - 2 - 3", "1.0.0 - 2.0.0 - 3.0.0", "1 - ", " - 2", "^1 - 2"])
def test_npm_hyphen_range_has_two_ends(spec: str) -> None:
    with pytest.raises(InputError, match=r"is not an npm version or range"):
        v.check_npm_version(spec)


@pytest.mark.parametrize("spec", ["1.2.3 - 2.3.4 || ^5", "1 - 2 || 3 - 4", ">= 1 <2 || 1.2 - 1.3"])
def test_npm_hyphen_ranges_combine_with_or(spec: str) -> None:
    assert v.check_npm_version(spec) == spec


# ---------------------------------------------------------------------------------------------
# PEP 440
# ---------------------------------------------------------------------------------------------

PYPI_VERSIONS_OK = [
    "latest",
    "1",
    "1.0",
    "1.2.3",
    "2024.1.15",
    "1.0a1",
    "1.0rc2",
    "1.0.post1",
    "1.0.dev3",
    "1!2.0",
    "1.0+local.7",
    ">=1.2,<2",
    "~=1.4",
    "==1.0.*",
    "!=1.0",
    "==1.2.3",
    ">1, <3, !=2.1",
    "===weird",
]
PYPI_VERSIONS_BAD = ["1.2.3; rm -rf /", "abc", "^1.2", "~1.2", "1.x", ">=1.2 <2", "=>1.0", "1.0 || 2.0", "*"]


@pytest.mark.parametrize("spec", PYPI_VERSIONS_OK)
def test_pypi_version_ok(spec: str) -> None:
    assert v.check_pypi_version(spec) == spec


@pytest.mark.parametrize("spec", PYPI_VERSIONS_BAD)
def test_pypi_version_bad(spec: str) -> None:
    with pytest.raises(InputError, match="is not a PEP 440 version or specifier") as info:
        v.check_pypi_version(spec)
    assert "'~=1.4'" in str(info.value)


# ---------------------------------------------------------------------------------------------
# version characters (the CRD's first line of defence for every type)
# ---------------------------------------------------------------------------------------------

VERSION_CHARS_OK = ["latest", "1.2.3", "^1.2 || ~2", ">=1,<2", "!=1.0", "1.x", "*", "a_b-c+d", "a" * 128]
VERSION_CHARS_BAD = ["", "a" * 129, "1.2.3;", "$(id)", "`id`", "a/b", "a'b", 'a"b', "a\\b", "@1"]


@pytest.mark.parametrize("spec", VERSION_CHARS_OK)
def test_version_chars_ok(spec: str) -> None:
    assert v.check_version_chars(spec) == spec


@pytest.mark.parametrize("spec", VERSION_CHARS_BAD)
def test_version_chars_bad(spec: str) -> None:
    with pytest.raises(InputError, match="is not a version"):
        v.check_version_chars(spec)


# ---------------------------------------------------------------------------------------------
# durations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1),
        ("90s", 90),
        ("15m", 900),
        ("6h", 21600),
        ("24h", 86400),
        ("7d", 604800),
        ("1h30m", 5400),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),
        ("0h1s", 1),
        ("001m", 60),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert v.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "10", "1H", "1w", "1h 30m", " 1h", "1h ", "-1h", "1.5h", "h", "1hm", "1h\n"]
)
def test_parse_duration_bad(text: str) -> None:
    with pytest.raises(InputError, match="is not a duration"):
        v.parse_duration(text)


@pytest.mark.parametrize("text", ["0s", "0m", "0h0m0s", "00d"])
def test_parse_duration_zero(text: str) -> None:
    with pytest.raises(InputError, match="is zero: an interval must be at least one second"):
        v.parse_duration(text)


# ---------------------------------------------------------------------------------------------
# the regex constants: they compile, are RE2-safe (the CRD uses them), and agree with the checks
# ---------------------------------------------------------------------------------------------

PATTERN_NAMES = [
    "NPM_NAME",
    "PYPI_NAME",
    "OCI_REPOSITORY",
    "OCI_TAG",
    "SEMVER",
    "VERSION_CHARS",
    "NPM_RANGE",
    "PEP440_SPEC",
    "REGISTRY_URL",
    "REGISTRY_CREDENTIALS",
    "DNS1123_SUBDOMAIN",
    "DNS1123_LABEL",
    "DNS1035_LABEL",
    "ENV_NAME",
    "DURATION",
]


def test_npm_comparator_and_join_operators_are_gone() -> None:
    # One whole-range pattern (NPM_RANGE) replaced the comparator pattern and the token gluing.
    assert not hasattr(v, "NPM_COMPARATOR")
    assert not hasattr(v, "_join_operators")


def test_every_pattern_constant_is_listed() -> None:
    constants = {
        name
        for name, value in vars(v).items()
        if name.isupper()
        and not name.startswith("_")
        and isinstance(value, str)
        and not name.endswith("_MESSAGE")  # the words of the CRD's CEL rules
    }
    assert constants == set(PATTERN_NAMES)


@pytest.mark.parametrize("name", PATTERN_NAMES)
def test_pattern_compiles_and_is_anchored_and_re2_safe(name: str) -> None:
    pattern = getattr(v, name)
    re.compile(pattern)
    assert pattern.startswith("^"), f"{name} must be anchored at the start"
    assert pattern.endswith("$"), f"{name} must be anchored at the end"
    # Go RE2 (the API server) has no look-arounds, back references or possessive quantifiers.
    for construct in ("(?=", "(?!", "(?<=", "(?<!", "(?P=", "(?>", "*+", "++", "?+"):
        assert construct not in pattern, f"{name} uses {construct!r}, which RE2 does not support"
    assert not re.search(r"\\[1-9]", pattern), f"{name} uses a back reference"
    # CEL raw strings are r'...': a single quote would end the literal.
    assert "'" not in pattern


def re2_match(pattern: str, text: str, flags: int = 0) -> bool:
    """Match as the API server does: in Go RE2, '$' matches only at the very end of the text."""
    assert pattern.endswith("$")
    return re.match(pattern[:-1] + r"\Z", text, flags) is not None


def _agrees(check: object, pattern: str, text: str) -> None:
    assert callable(check)
    try:
        check(text)
        accepted = True
    except InputError:
        accepted = False
    matched = re2_match(pattern, text)
    assert accepted == matched, f"{text!r}: check says {accepted}, the CRD pattern says {matched}"


@pytest.mark.parametrize("text", NPM_NAMES_OK + NPM_NAMES_BAD)
def test_npm_name_pattern_agrees_with_check(text: str) -> None:
    _agrees(v.check_npm_name, v.NPM_NAME, text)


@pytest.mark.parametrize("text", PYPI_NAMES_OK + PYPI_NAMES_BAD)
def test_pypi_name_pattern_agrees_with_check(text: str) -> None:
    _agrees(v.check_pypi_name, v.PYPI_NAME, text)


@pytest.mark.parametrize("text", [*OCI_REPOS_OK, *OCI_REPOS_BAD[:-1], *OCI_WITH_TAG_OR_DIGEST])
def test_oci_repository_pattern_agrees_with_check(text: str) -> None:
    _agrees(v.check_oci_repository, v.OCI_REPOSITORY, text)


@pytest.mark.parametrize("text", OCI_TAGS_OK + OCI_TAGS_BAD)
def test_oci_tag_pattern_agrees_with_check(text: str) -> None:
    _agrees(v.check_oci_tag, v.OCI_TAG, text)


@pytest.mark.parametrize("text", VERSION_CHARS_OK + VERSION_CHARS_BAD)
def test_version_chars_pattern_agrees_with_check(text: str) -> None:
    _agrees(v.check_version_chars, v.VERSION_CHARS, text)


@pytest.mark.parametrize("text", NPM_EXACT + NPM_NOT_EXACT)
def test_semver_pattern_agrees_with_is_exact_semver(text: str) -> None:
    assert v.is_exact_semver(text) == re2_match(v.SEMVER, text)


@pytest.mark.parametrize("text", ["1h", "1h30m", "7d", "10", "", "1h 30m", "1H", "1.5h"])
def test_duration_pattern_agrees_with_parse_duration(text: str) -> None:
    _agrees(v.parse_duration, v.DURATION, text)


NPM_MORE = [
    "",
    "||",
    "1 - 2 - 3",
    " ^1.2 ",
    ">=1.2.3<2",
    "^1.2.3 ||",
    "x || *",
    "1.2.3 - 2.3.4 || ^5",
    "~ 1.2",
    "1.2.3\n",  # RE2's \s matches a newline too: surrounding whitespace, accepted by both
    "^1.2\n",
    "\t^1.2",
    "latest || 1.x",
    " latest ",
    "LATEST",
    "1 2",
]


@pytest.mark.parametrize("spec", NPM_EXACT + NPM_RANGES_OK + NPM_RANGES_BAD + NPM_MORE)
def test_npm_range_pattern_agrees_with_check(spec: str) -> None:
    """The CRD's CEL rule (NPM_RANGE) and check_npm_version accept the same versions."""
    _agrees(v.check_npm_version, v.NPM_RANGE, spec)


CEL_PYPI_RULE = re.compile(
    r"self\.type != 'pypi' \|\| self\.version == 'latest' \|\| self\.version\.matches\(r'([^']*)'\)"
)


def crd_pypi_version_rule() -> str:
    """The regex literal of the CRD's CEL rule for pypi versions, exactly as the API server gets it."""
    source = crds.crd(PACKAGE_KIND)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["source"]
    found = [
        m.group(1)
        for rule in source["x-kubernetes-validations"]
        if (m := CEL_PYPI_RULE.fullmatch(rule["rule"]))
    ]
    assert len(found) == 1, "the CRD has no rule `self.version == 'latest' || self.version.matches(...)`"
    return found[0]


def cel_accepts_pypi_version(text: str) -> bool:
    """The CRD's rule as the API server evaluates it: `== 'latest'`, else RE2 on (?i)PEP440_SPEC."""
    literal = crd_pypi_version_rule()
    assert literal.startswith("(?i)")
    return text == "latest" or re2_match(literal.removeprefix("(?i)"), text, re.IGNORECASE)


def test_crd_pypi_version_rule_is_the_case_insensitive_pep440_spec() -> None:
    assert crd_pypi_version_rule() == "(?i)" + v.PEP440_SPEC
    # 'latest' is no longer part of the pattern: (?i) would let 'LATEST' through
    assert not re2_match(v.PEP440_SPEC, "latest", re.IGNORECASE)


def code_accepts_pypi_version(text: str) -> bool:
    try:
        v.check_pypi_version(text)
    except InputError:
        return False
    return True


# Inputs on which the CRD and the code used to disagree, and the verdict both give now.
PEP440_EDGES = {
    "===weird": True,  # arbitrary equality
    "=== 1.0-foo": True,
    "1.0-1": True,  # implicit post release (1.0.post1)
    "1.0-1.dev2": True,
    " 1.0 ": False,  # surrounding spaces around an exact version
    ">=1.0,": False,  # trailing comma
    ",>=1": False,  # leading comma
    ">=1,,<2": False,
    ">=1.0.*": False,  # a wildcard only after == and !=
    "<1.*": False,
    "~=1.0.*": False,
    "==1.0.*": True,
    "!=1.*": True,
    "~=1": False,  # ~= needs two release parts
    "~=1.0": True,
    "~=1!1.0": True,
    "LATEST": False,  # 'latest' is case-sensitive in the CRD and in the code
    "Latest": False,
    " latest": False,
    "latest,>=1": False,
    " >=1.0 , <2 ": True,
    ">=1.0\n": True,  # \s (RE2 too) takes the newline: whitespace around a clause
    "1.0\n": False,
    "==1.0+local.1": True,
    "!=1.0+local": True,
}
PEP440_AGREE = [
    *PYPI_VERSIONS_OK,
    *PYPI_VERSIONS_BAD,
    *PEP440_EDGES,
    "V1.0",
    "1.0RC1",
    "1.0.0-beta",
    "== 1.0",
    ">=1.2, <2",
    "1.0+ubuntu.1",
    "1.0.post",
    "1.0a",
    "",
    ",",
    "===",
    "1.0.*",
    "==",
]


@pytest.mark.parametrize(("spec", "accepted"), PEP440_EDGES.items())
def test_pep440_edge_verdicts(spec: str, accepted: bool) -> None:
    assert code_accepts_pypi_version(spec) is accepted, spec
    assert cel_accepts_pypi_version(spec) is accepted, spec


@pytest.mark.parametrize("spec", PEP440_AGREE)
def test_pep440_crd_rule_agrees_with_check(spec: str) -> None:
    """The CRD's CEL rule (as the API server evaluates it) and check_pypi_version give one verdict."""
    code, crd = code_accepts_pypi_version(spec), cel_accepts_pypi_version(spec)
    assert code == crd, f"{spec!r}: check says {code}, the CRD rule says {crd}"


# PEP 440 allows a local version label (+local) only after == and !=: both sides reject the rest.
@pytest.mark.parametrize("spec", [">=1.0+local", "~=1.0+l", "<2+x", ">1, <=2+ubuntu.1"])
def test_pep440_local_label_after_an_ordered_comparison(spec: str) -> None:
    assert not code_accepts_pypi_version(spec)
    assert not cel_accepts_pypi_version(spec), f"{spec!r}: the CRD rule accepts it, the code rejects it"


@pytest.mark.parametrize("spec", NPM_EXACT + NPM_RANGES_OK + NPM_RANGES_BAD)
def test_every_accepted_npm_version_passes_the_crd_character_pattern(spec: str) -> None:
    try:
        v.check_npm_version(spec)
    except InputError:
        return
    assert re2_match(v.VERSION_CHARS, spec), spec


@pytest.mark.parametrize("spec", PYPI_VERSIONS_OK + PYPI_VERSIONS_BAD)
def test_every_accepted_pypi_version_passes_the_crd_character_pattern(spec: str) -> None:
    try:
        v.check_pypi_version(spec)
    except InputError:
        return
    assert re2_match(v.VERSION_CHARS, spec), spec


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (
            "REGISTRY_URL",
            [
                "https://registry.npmjs.org",
                "http://127.0.0.1:4873",
                "https://pypi.org/simple/",
                "https://x/a%20b",
            ],
            ["ftp://x", "https://", "https://x:123456", "registry.npmjs.org", "https://x/a b", "https://u@x"],
        ),
        (
            "DNS1123_SUBDOMAIN",
            ["a", "my-server", "a.b.c", "0abc"],
            ["", "A", "-a", "a-", "a_b", "a..b", ".a"],
        ),
        ("DNS1123_LABEL", ["a", "my-server", "a1"], ["", "a.b", "A", "-a", "a-"]),
        ("ENV_NAME", ["A", "_A", "a.b", "-x", "A1", "MY_VAR"], ["", "1A", "A B", "A=B", "A$"]),
        (
            "NPM_RANGE",
            ["*", "x", "X", "^1", ">= 1.2.3", "~>1", "v1.2.x", "1.2.3-beta+b", "1 2", "latest"],
            ["", "^", ">=", "1 -", "|| 1", "1 ||", "1.2.3.4", "latest 1"],
        ),
        (
            "PEP440_SPEC",
            ["1.0", "1.0-1", ">=1,<2", "===x", "==1.*", "~=1.4"],
            ["latest", "", "~=1", ">=1.*", "1.0,", ",1.0", " 1.0"],
        ),
    ],
)
def test_other_patterns(pattern: str, good: list[str], bad: list[str]) -> None:
    for text in good:
        assert re2_match(getattr(v, pattern), text), f"{pattern} should accept {text!r}"
    for text in bad:
        assert not re2_match(getattr(v, pattern), text), f"{pattern} should reject {text!r}"


def test_input_error_is_a_value_error() -> None:
    # pydantic turns ValueError raised in validators into a ValidationError with our message.
    assert issubclass(InputError, ValueError)


TRAILING_NEWLINE = [
    (v.check_npm_name, "left-pad\n"),
    (v.check_pypi_name, "mcp-server-time\n"),
    (v.check_oci_repository, "mcp/time\n"),
    (v.check_oci_tag, "latest\n"),
    (v.check_version_chars, "1.2.3\n"),
    (v.check_pypi_version, "1.2.3\n"),
]


@pytest.mark.parametrize(("check", "text"), TRAILING_NEWLINE, ids=[c.__name__ for c, _ in TRAILING_NEWLINE])
def test_trailing_newline_is_rejected_like_the_crd_does(check: object, text: str) -> None:
    assert callable(check)
    with pytest.raises(InputError):
        check(text)
    assert check(text[:-1]) == text[:-1]


def test_npm_version_with_a_trailing_newline_agrees_with_the_crd_rule() -> None:
    # NPM_RANGE allows whitespace around a range and RE2's \s matches a newline: the CEL rule accepts
    # '1.2.3\n' and so does the check. The field's VERSION_CHARS pattern rejects it (see test_models).
    assert v.check_npm_version("1.2.3\n") == "1.2.3\n"
    assert re2_match(v.NPM_RANGE, "1.2.3\n")
    with pytest.raises(InputError, match="is not a version"):
        v.check_version_chars("1.2.3\n")


def test_exact_semver_with_trailing_newline() -> None:
    assert not v.is_exact_semver("1.2.3\n")
    assert v.is_exact_semver("1.2.3")
