"""Version order, constraints and policy bounds per ecosystem, as pure functions (docs/upgrades.md).

npm follows semver (registries/semver.py, a port of npm's rules); PyPI follows PEP 440 through the
`packaging` library; OCI tags are ordered only when they look like versions (v?MAJOR[.MINOR[.PATCH]]).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from mcp_operator.registries import semver

_OCI_VERSION = re.compile(r"^v?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?$")
POLICY_DEPTH = {"patch": 2, "minor": 1, "major": 0}  # release components that must stay equal


@dataclass(frozen=True)
class Verdict:
    """What a registry's versions mean for one package."""

    latest: str | None  # the registry's newest release
    allowed: str | None  # the newest version the constraint allows, failed versions left out
    policy_target: str | None  # what updates.policy would upgrade to now, if anything
    update_available: bool  # latest is newer than the pin


def parse(ecosystem: str, text: str) -> Any | None:
    """A comparable key for a version, or None when it is not a version of that ecosystem."""
    if ecosystem == "npm":
        return semver.try_parse_version(text)
    if ecosystem == "pypi":
        try:
            return Pep440(text)
        except InvalidVersion:
            return None
    match = _OCI_VERSION.match(text)
    if match is None:
        return None
    return tuple(int(part or 0) for part in match.groups())


def release(ecosystem: str, text: str) -> tuple[int, ...] | None:
    """MAJOR, MINOR, PATCH of a version (missing components are 0)."""
    key = parse(ecosystem, text)
    if key is None:
        return None
    if ecosystem == "npm":
        return tuple(key.release)
    if ecosystem == "pypi":
        return (*tuple(key.release), 0, 0, 0)[:3]
    return tuple(key)


def is_prerelease(ecosystem: str, text: str) -> bool:
    key = parse(ecosystem, text)
    if ecosystem == "npm":
        return bool(key is not None and key.prerelease)
    if ecosystem == "pypi":
        return bool(key is not None and (key.is_prerelease or key.is_devrelease))
    return False


def newer(ecosystem: str, candidate: str | None, current: str | None) -> bool:
    """Is candidate newer than current? Versions that do not parse are never newer."""
    if not candidate or not current or candidate == current:
        return False
    a, b = parse(ecosystem, candidate), parse(ecosystem, current)
    return a is not None and b is not None and bool(a > b)


def highest(ecosystem: str, versions: Iterable[str]) -> str | None:
    best: tuple[Any, str] | None = None
    for text in versions:
        key = parse(ecosystem, text)
        if key is not None and (best is None or key > best[0]):
            best = (key, text)
    return best[1] if best else None


def allows(ecosystem: str, constraint: str, version: str, latest: str | None = None) -> bool:
    """Does spec.source.version allow this version? 'latest' allows releases up to the registry's
    latest (prereleases only if latest is one); a dist-tag or OCI tag allows only itself."""
    constraint = (constraint or "latest").strip() or "latest"
    if constraint == "latest":
        if is_prerelease(ecosystem, version) and not (latest and is_prerelease(ecosystem, latest)):
            return False
        return latest is None or not newer(ecosystem, version, latest)
    if ecosystem == "npm":
        exact = semver.try_parse_version(constraint)
        if exact is not None:
            return semver.try_parse_version(version) == exact
        try:
            return semver.satisfies(version, constraint)
        except semver.InvalidRange:
            return False  # a dist-tag: only what it points at, which the resolver knows
    if ecosystem == "pypi":
        key = parse("pypi", version)
        if key is None:
            return False
        exact = parse("pypi", constraint)  # a bare version pins it; '==' and '===' are specifiers
        if exact is not None:
            return bool(key == exact)
        try:
            return SpecifierSet(constraint).contains(key)
        except InvalidSpecifier:
            return False
    return version == constraint


def within_policy(ecosystem: str, policy: str, pin: str, candidate: str) -> bool:
    """patch: same MAJOR.MINOR; minor: same MAJOR; major: anything newer; none: nothing."""
    depth = POLICY_DEPTH.get(policy)
    if depth is None or not newer(ecosystem, candidate, pin):
        return False
    a, b = release(ecosystem, pin), release(ecosystem, candidate)
    if a is None or b is None:  # cannot happen: newer() parsed both
        return False
    return a[:depth] == b[:depth]


def verdict(
    ecosystem: str,
    versions: Collection[str],
    *,
    latest: str | None,
    constraint: str,
    pin: str | None,
    policy: str,
    failed: Collection[str] = (),
    tags: Mapping[str, str] | None = None,
) -> Verdict:
    """Everything status says about newer versions, from the registry's list of releases. `tags`
    are npm's dist-tags: a constraint naming one (other than latest) allows only what it points at."""
    latest = latest or highest(ecosystem, [v for v in versions if not is_prerelease(ecosystem, v)])
    named = (constraint or "").strip()
    tagged = (tags or {}).get(named) if ecosystem == "npm" and named != "latest" else None
    if tagged is not None:
        candidates = [tagged] if tagged not in failed else []
    else:
        candidates = [v for v in versions if v not in failed and allows(ecosystem, constraint, v, latest)]
    allowed = highest(ecosystem, candidates)
    in_bound = [v for v in candidates if pin is not None and within_policy(ecosystem, policy, pin, v)]
    target = highest(ecosystem, in_bound)
    return Verdict(
        latest=latest,
        allowed=allowed,
        policy_target=target,
        update_available=newer(ecosystem, latest, pin),
    )
