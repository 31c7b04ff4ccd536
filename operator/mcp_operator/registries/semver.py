"""A small, strict implementation of npm's semver versions and ranges (node-semver semantics).

Supported range syntax: exact versions, primitive comparators (``<``, ``<=``, ``>``, ``>=``,
``=``), X-ranges (``1.x``, ``1.2.*``, ``*``, ``""``), tilde (``~1.2.3``, ``~>1.2``), caret
(``^1.2.3``, ``^0.0.x``), hyphen ranges (``1.2.3 - 2.3``) and unions (``||``). As in npm, a
prerelease version only satisfies a comparator set when one of its comparators has a
prerelease on the same ``[major, minor, patch]`` tuple.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import total_ordering

__all__ = [
    "InvalidRange",
    "InvalidVersion",
    "Range",
    "Version",
    "is_exact",
    "max_satisfying",
    "parse_range",
    "parse_version",
    "satisfies",
]

MAX_LENGTH = 256

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_VERSION_RE = re.compile(
    rf"^v?(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?$"
)
_XR = r"x|X|\*|0|[1-9]\d*"
_PARTIAL_RE = re.compile(
    rf"^v?(?P<major>{_XR})(?:\.(?P<minor>{_XR})(?:\.(?P<patch>{_XR})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?)?)?$"
)
_OP_RE = re.compile(r"^(?P<op><=|>=|<|>|=|~>|~|\^)?\s*(?P<rest>.*)$")
_HYPHEN_RE = re.compile(r"^(?P<lo>\S+)\s+-\s+(?P<hi>\S+)$")


class InvalidVersion(ValueError):
    """Not a valid semver version."""


class InvalidRange(ValueError):
    """Not a valid npm semver range."""


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int | str], ...]]:
        # A version without a prerelease sorts after every prerelease of the same release.
        # Numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, p) if isinstance(p, int) else (1, p) for p in self.prerelease)
        return (self.release, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()


def _pre(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def parse_version(text: str) -> Version:
    """Parse an exact semver version (a leading ``v`` or ``=`` is tolerated, as in npm)."""
    candidate = text.strip()
    if candidate.startswith("="):
        candidate = candidate[1:].strip()
    match = _VERSION_RE.match(candidate) if len(candidate) <= MAX_LENGTH else None
    if not match:
        raise InvalidVersion(f"{text!r} is not a valid semver version (expected MAJOR.MINOR.PATCH)")
    return Version(
        int(match["major"]),
        int(match["minor"]),
        int(match["patch"]),
        _pre(match["pre"]),
        tuple(match["build"].split(".")) if match["build"] else (),
    )


def try_parse_version(text: str) -> Version | None:
    try:
        return parse_version(text)
    except InvalidVersion:
        return None


def is_exact(text: str) -> bool:
    """True if *text* is one exact version rather than a range."""
    return try_parse_version(text) is not None


@dataclass(frozen=True)
class Comparator:
    op: str  # one of "<", "<=", ">", ">=", "="
    version: Version

    def test(self, version: Version) -> bool:
        if self.op == "=":
            return version == self.version
        if self.op == "<":
            return version < self.version
        if self.op == "<=":
            return version <= self.version
        if self.op == ">":
            return version > self.version
        return version >= self.version

    def __str__(self) -> str:
        return f"{self.op}{self.version}"


# A set that matches every release version (but no prerelease), like node-semver's ANY.
_ANY: tuple[Comparator, ...] = ()
_NOTHING = (Comparator("<", Version(0, 0, 0, (0,))),)


@dataclass(frozen=True)
class _Partial:
    major: int | None
    minor: int | None
    patch: int | None
    pre: tuple[int | str, ...]


def _is_x(part: str | None) -> bool:
    return part is None or part in {"x", "X", "*"}


def _parse_partial(text: str, whole: str) -> _Partial:
    match = _PARTIAL_RE.match(text)
    if not match:
        raise InvalidRange(f"{whole!r} is not a valid npm version range: cannot parse {text!r}")
    major = None if _is_x(match["major"]) else int(match["major"])
    minor = None if major is None or _is_x(match["minor"]) else int(match["minor"])
    patch = None if minor is None or _is_x(match["patch"]) else int(match["patch"])
    pre = _pre(match["pre"]) if patch is not None else ()
    return _Partial(major, minor, patch, pre)


def _lower(p: _Partial) -> Version:
    return Version(p.major or 0, p.minor or 0, p.patch or 0, p.pre)


def _upper_exclusive_of_partial(p: _Partial) -> Version:
    """Smallest version above every version the partial names, as ``X.Y.Z-0``."""
    assert p.major is not None
    if p.minor is None:
        return Version(p.major + 1, 0, 0, (0,))
    return Version(p.major, p.minor + 1, 0, (0,))


def _desugar(op: str, p: _Partial) -> tuple[Comparator, ...]:
    if op in {"~", "~>"}:
        if p.major is None:
            return _ANY
        if p.minor is None:
            return (Comparator(">=", _lower(p)), Comparator("<", Version(p.major + 1, 0, 0, (0,))))
        return (Comparator(">=", _lower(p)), Comparator("<", Version(p.major, p.minor + 1, 0, (0,))))
    if op == "^":
        if p.major is None:
            return _ANY
        if p.major > 0 or p.minor is None:
            upper = Version(p.major + 1, 0, 0, (0,))
        elif p.minor > 0 or p.patch is None:
            upper = Version(0, p.minor + 1, 0, (0,))
        else:
            upper = Version(0, 0, p.patch + 1, (0,))
        return (Comparator(">=", _lower(p)), Comparator("<", upper))
    # Primitive operators and bare (X-)versions.
    if p.patch is not None:
        return (Comparator(op or "=", _lower(p)),)
    if p.major is None:
        return _NOTHING if op in {"<", ">"} else _ANY
    if op in {"", "="}:
        return (Comparator(">=", _lower(p)), Comparator("<", _upper_exclusive_of_partial(p)))
    if op == ">":
        upper = _upper_exclusive_of_partial(p)
        return (Comparator(">=", Version(*upper.release)),)
    if op == ">=":
        return (Comparator(">=", _lower(p)),)
    if op == "<":
        return (Comparator("<", Version(p.major, p.minor or 0, 0, (0,))),)
    # "<="
    return (Comparator("<", _upper_exclusive_of_partial(p)),)


def _hyphen(lo_text: str, hi_text: str, whole: str) -> tuple[Comparator, ...]:
    lo = _parse_partial(lo_text, whole)
    hi = _parse_partial(hi_text, whole)
    result: list[Comparator] = []
    if lo.major is not None:
        result.append(Comparator(">=", _lower(lo)))
    if hi.major is not None:
        if hi.patch is not None:
            result.append(Comparator("<=", _lower(hi)))
        else:
            result.append(Comparator("<", _upper_exclusive_of_partial(hi)))
    return tuple(result)


def _parse_set(text: str, whole: str) -> tuple[Comparator, ...]:
    text = text.strip()
    hyphen = _HYPHEN_RE.match(text)
    if hyphen:
        return _hyphen(hyphen["lo"], hyphen["hi"], whole)
    # Glue operators to their versions: ">= 1.2.3" -> ">=1.2.3".
    text = re.sub(r"(<=|>=|<|>|=|~>|~|\^)\s+", r"\1", text)
    comparators: list[Comparator] = []
    for token in text.split():
        match = _OP_RE.match(token)
        assert match is not None
        op, rest = match["op"] or "", match["rest"]
        if not rest:
            raise InvalidRange(f"{whole!r} is not a valid npm version range: {token!r} has no version")
        comparators.extend(_desugar(op, _parse_partial(rest, whole)))
    return tuple(comparators)


@dataclass(frozen=True)
class Range:
    """A parsed npm range: a union of comparator sets."""

    text: str
    sets: tuple[tuple[Comparator, ...], ...]

    def test(self, version: Version, *, include_prerelease: bool = False) -> bool:
        return any(_test_set(s, version, include_prerelease) for s in self.sets)

    def __str__(self) -> str:
        return " || ".join(" ".join(str(c) for c in s) or "*" for s in self.sets)


def _test_set(comparators: tuple[Comparator, ...], version: Version, include_prerelease: bool) -> bool:
    if not all(c.test(version) for c in comparators):
        return False
    if version.prerelease and not include_prerelease:
        return any(c.version.prerelease and c.version.release == version.release for c in comparators)
    return True


_RANGE_CHARS_RE = re.compile(r"^[0-9A-Za-z.+\-^~<>=|*\s]*$")


def parse_range(text: str) -> Range:
    """Parse an npm semver range; raise :class:`InvalidRange` when it is not one."""
    if len(text) > MAX_LENGTH or not _RANGE_CHARS_RE.match(text):
        raise InvalidRange(f"{text!r} is not a valid npm version range")
    sets = tuple(_parse_set(part, text) for part in text.split("||"))
    return Range(text, sets)


def satisfies(version: str | Version, range_text: str | Range, *, include_prerelease: bool = False) -> bool:
    v = version if isinstance(version, Version) else try_parse_version(version)
    if v is None:
        return False
    r = range_text if isinstance(range_text, Range) else parse_range(range_text)
    return r.test(v, include_prerelease=include_prerelease)


def max_satisfying(versions: Iterable[str], range_text: str | Range) -> str | None:
    """The highest of *versions* (strings) that satisfies the range, or None."""
    r = range_text if isinstance(range_text, Range) else parse_range(range_text)
    best: tuple[Version, str] | None = None
    for text in versions:
        v = try_parse_version(text)
        if v is not None and r.test(v) and (best is None or v > best[0]):
            best = (v, text)
    return best[1] if best else None
