"""npm semver: versions, ranges and the prerelease rule (cases from node-semver's own tests)."""

from __future__ import annotations

import pytest

from mcp_operator.registries import semver

SATISFIED = [
    ("1.0.0 - 2.0.0", "1.2.3"),
    ("^1.2.3+build", "1.2.3"),
    ("^1.2.3+build", "1.3.0"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha"),
    ("1.0.0", "1.0.0"),
    (">=*", "0.2.4"),
    ("", "1.0.0"),
    ("*", "1.2.3"),
    (">=1.0.0", "1.0.1"),
    (">1.0.0", "1.1.0"),
    ("<=2.0.0", "1.9999.9999"),
    ("<2.0.0", "0.2.9"),
    (">= 1.0.0", "1.0.0"),
    (">=  1.0.0", "1.0.1"),
    ("<    2.0.0", "0.2.9"),
    ("0.1.20 || 1.2.4", "1.2.4"),
    (">=0.2.3 || <0.0.1", "0.0.0"),
    ("||", "1.3.4"),
    ("2.x.x", "2.1.3"),
    ("1.2.x", "1.2.3"),
    ("1.2.x || 2.x", "2.1.3"),
    ("x", "1.2.3"),
    ("2.*.*", "2.1.3"),
    ("1.2.*", "1.2.3"),
    ("2", "2.1.2"),
    ("2.3", "2.3.1"),
    ("~0.0.1", "0.0.1"),
    ("~2.4", "2.4.5"),
    ("~>3.2.1", "3.2.2"),
    ("~1", "1.2.3"),
    ("~>1", "1.2.3"),
    ("~ 1.0", "1.0.2"),
    ("~1.0.3", "1.0.12"),
    (">=1", "1.0.0"),
    ("<1.2", "1.1.1"),
    ("~v0.5.4-pre", "0.5.5"),
    ("~v0.5.4-pre", "0.5.4"),
    ("=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.7.2"),
    (">=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.6.2"),
    ("~1.2.1 >=1.2.3", "1.2.3"),
    (">=1.2.1 1.2.3", "1.2.3"),
    ("^1.2.3", "1.8.1"),
    ("^0.1.2", "0.1.2"),
    ("^0.1", "0.1.2"),
    ("^0.0.1", "0.0.1"),
    ("^1.2", "1.4.2"),
    ("^1.2 ^1", "1.4.2"),
    ("^1.2.3-alpha", "1.2.3-pre"),
    ("^1.2.0-alpha", "1.2.0-pre"),
    ("^0.0.1-alpha", "0.0.1-beta"),
    ("^0.0.1-alpha", "0.0.1"),
    ("^0.1.1-alpha", "0.1.1-beta"),
    ("^x", "1.2.3"),
    ("^0.0.x", "0.0.5"),
    ("^0.x", "0.9.0"),
    ("1.2.3 - 2", "2.9.9"),
    ("1.2 - 2.3.4", "1.2.0"),
    ("<=1", "1.9.9"),
    (">1", "2.0.0"),
    ("1.x - 2.x", "2.5.0"),
]

NOT_SATISFIED = [
    ("1.0.0 - 2.0.0", "2.2.3"),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2"),
    ("^1.2.3+build", "2.0.0"),
    ("^1.2.3+build", "1.2.0"),
    ("^1.2.3", "1.2.3-pre"),
    ("^1.2", "1.2.0-pre"),
    (">1.2", "1.3.0-beta"),
    ("<=1.2.3", "1.2.3-beta"),
    ("^1.2.3", "2.0.0-alpha"),
    ("1.0.0", "1.0.1"),
    (">=1.0.0", "0.0.0"),
    (">=1.0.0", "0.0.1"),
    (">1.0.0", "0.0.1"),
    ("<=2.0.0", "3.0.0"),
    ("<2.0.0", "2.0.0"),
    ("0.1.20 || 1.2.4", "1.2.3"),
    (">=0.2.3 || <0.0.1", "0.0.3"),
    ("2.x.x", "1.1.3"),
    ("2.x.x", "3.1.3"),
    ("1.2.x", "1.3.3"),
    ("1.2.x || 2.x", "3.1.3"),
    ("2.*.*", "1.1.3"),
    ("2", "1.1.2"),
    ("2.3", "2.4.1"),
    ("~0.0.1", "0.1.0-alpha"),
    ("~0.0.1", "0.1.0"),
    ("~2.4", "2.5.0"),
    ("~2.4", "2.3.9"),
    ("~>3.2.1", "3.3.2"),
    ("~1", "0.2.3"),
    ("<1", "1.0.0"),
    (">=1.2", "1.1.1"),
    ("~v0.5.4-beta", "0.5.4-alpha"),
    ("=0.7.x", "0.8.2"),
    (">=0.7.x", "0.6.2"),
    ("<0.7.x", "0.7.2"),
    ("<1.2.3", "1.2.3-beta"),
    ("=1.2.3", "1.2.3-beta"),
    (">1.2", "1.2.8"),
    ("^0.0.1", "0.0.2"),
    ("^1.2.3", "2.0.0"),
    ("^0.1.2", "0.2.0"),
    ("^0.0.1-beta", "0.0.2"),
    ("^1.2.3-beta", "1.2.4-beta"),
    ("*", "1.0.0-beta"),
    ("", "1.0.0-rc.1"),
    ("1.2.3 - 2", "3.0.0-0"),
    ("blerg", "1.2.3"),
    (">*", "1.0.0"),
    ("<*", "1.0.0"),
]


@pytest.mark.parametrize(("spec", "version"), SATISFIED)
def test_satisfied(spec: str, version: str) -> None:
    assert semver.satisfies(version, spec), f"{version} should satisfy {spec!r}"


@pytest.mark.parametrize(("spec", "version"), NOT_SATISFIED)
def test_not_satisfied(spec: str, version: str) -> None:
    try:
        assert not semver.satisfies(version, spec), f"{version} should not satisfy {spec!r}"
    except semver.InvalidRange:
        assert spec == "blerg"


@pytest.mark.parametrize(
    ("spec", "desugared"),
    [
        ("^1.2.3", ">=1.2.3 <2.0.0-0"),
        ("^0.2.3", ">=0.2.3 <0.3.0-0"),
        ("^0.0.3", ">=0.0.3 <0.0.4-0"),
        ("~1.2", ">=1.2.0 <1.3.0-0"),
        ("1.x", ">=1.0.0 <2.0.0-0"),
        ("1.2.3 - 2.3", ">=1.2.3 <2.4.0-0"),
        ("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"),
        (">1.2", ">=1.3.0"),
        ("<=1.2", "<1.3.0-0"),
        ("*", "*"),
        (">= 1.2.3 || ^3", ">=1.2.3 || >=3.0.0 <4.0.0-0"),
        ("* - 2", "<3.0.0-0"),
    ],
)
def test_desugaring(spec: str, desugared: str) -> None:
    assert str(semver.parse_range(spec)) == desugared


def test_prerelease_included_when_asked() -> None:
    assert semver.satisfies("1.3.0-beta", "^1.2.3", include_prerelease=True)
    assert not semver.satisfies("not-a-version", "*")


@pytest.mark.parametrize(
    "bad", ["1.2.3.4 - 5", "a.b.c", ">=", "1.2.3 ; rm -rf /", "^1.2.3$", "x" * 300, "~~1"]
)
def test_invalid_ranges(bad: str) -> None:
    with pytest.raises(semver.InvalidRange):
        semver.parse_range(bad)


def test_versions_parse_and_order() -> None:
    ordered = [
        "1.0.0-0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    parsed = [semver.parse_version(v) for v in ordered]
    assert parsed == sorted(reversed(parsed))
    assert str(semver.parse_version("v1.2.3-rc.1+build.5")) == "1.2.3-rc.1+build.5"
    assert semver.parse_version("=1.2.3") == semver.parse_version("1.2.3+meta")
    assert hash(semver.parse_version("1.2.3")) == hash(semver.parse_version("1.2.3+x"))
    assert semver.parse_version("1.2.3").__eq__("1.2.3") is NotImplemented
    assert semver.is_exact("1.2.3")
    assert not semver.is_exact("^1.2.3")


@pytest.mark.parametrize("bad", ["1.2", "01.2.3", "1.2.3-", "1.2.3-01", "latest", "", "1.2.3 " * 100])
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(semver.InvalidVersion):
        semver.parse_version(bad)


def test_max_satisfying() -> None:
    versions = ["1.0.0", "1.5.0", "1.9.9-rc.1", "2.0.0", "junk"]
    assert semver.max_satisfying(versions, "^1") == "1.5.0"
    assert semver.max_satisfying(versions, ">=1.9.9-rc.0 <2") == "1.9.9-rc.1"
    assert semver.max_satisfying(versions, semver.parse_range("*")) == "2.0.0"
    assert semver.max_satisfying(versions, "^3") is None
