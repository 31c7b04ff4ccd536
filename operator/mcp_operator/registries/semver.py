"""A small, strict implementation of npm's semver versions and ranges (node-semver semantics).

Supported range syntax: exact versions, primitive comparators (``<``, ``<=``, ``>``, ``>=``,
``=``), X-ranges (``1.x``, ``1.2.*``, ``*``, ``""``), tilde (``~1.2.3``, ``~>1.2``), caret
(``^1.2.3``, ``^0.0.x``), hyphen ranges (``1.2.3 - 2.3``) and unions (``||``). As in npm, a
prerelease version only satisfies a comparator set when one of its comparators has a
prerelease on the same ``[major, minor, patch]`` tuple.

Ranges are desugared the way node-semver 7 does it (classes/range.js, default options, strict
mode): the same regular expressions rewrite the text step by step into primitive comparators,
so its quirks (``==1.2`` is valid, ``x.1`` is not) come along. tests/unit/test_semver_property.py
checks this module against the npm package itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
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
MAX_SAFE_INTEGER = 2**53 - 1  # npm refuses larger major, minor and patch numbers

# JavaScript's \s and String.prototype.trim (Python's \s and str.strip differ from them).
_WS = (
    "\t\n\v\f\r \u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_S = f"[{_WS}]"

# The strict tokens of node-semver's internal/re.js, as its "safe" variants (whitespace runs
# of at most one character, which is all a trimmed and collapsed range has).
_NUM = r"0|[1-9][0-9]*"
_NUM_LOOSE = r"[0-9]+"
_NONNUM = r"[0-9]*[a-zA-Z-][a-zA-Z0-9-]*"
_PRE = rf"(?:-((?:{_NONNUM}|{_NUM})(?:\.(?:{_NONNUM}|{_NUM}))*))"
_PRE_LOOSE = rf"(?:-?((?:{_NONNUM}|{_NUM_LOOSE})(?:\.(?:{_NONNUM}|{_NUM_LOOSE}))*))"
_BUILD = r"(?:\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))"
_FULL_PLAIN = rf"v?({_NUM})\.({_NUM})\.({_NUM}){_PRE}?{_BUILD}?"
_LOOSE_PLAIN = rf"[v={_WS}]*({_NUM_LOOSE})\.({_NUM_LOOSE})\.({_NUM_LOOSE}){_PRE_LOOSE}?{_BUILD}?"
_GTLT = r"((?:<|>)?=?)"
_XID = rf"{_NUM}|x|X|\*"
_XRANGE_PLAIN = rf"[v={_WS}]*({_XID})(?:\.({_XID})(?:\.({_XID})(?:{_PRE})?{_BUILD}?)?)?"

_FULL = re.compile(rf"^{_FULL_PLAIN}\Z")
_BUILD_STRIP = re.compile(_BUILD)
_HYPHEN = re.compile(rf"^{_S}?({_XRANGE_PLAIN}){_S}-{_S}({_XRANGE_PLAIN}){_S}?\Z")
_COMPARATOR_TRIM = re.compile(rf"({_S}?){_GTLT}{_S}?({_LOOSE_PLAIN}|{_XRANGE_PLAIN})")
_TILDE_TRIM = re.compile(rf"({_S}?)~>?{_S}")
_CARET_TRIM = re.compile(rf"({_S}?)\^{_S}")
_TILDE = re.compile(rf"^~>?{_XRANGE_PLAIN}\Z")
_CARET = re.compile(rf"^\^{_XRANGE_PLAIN}\Z")
_XRANGE = re.compile(rf"^{_GTLT}{_S}?{_XRANGE_PLAIN}\Z")
_STAR = re.compile(rf"(<|>)?=?{_S}?\*")
_GTE0 = re.compile(rf"^{_S}?>={_S}?0\.0\.0{_S}?\Z")
_COMPARATOR = re.compile(rf"^{_GTLT}{_S}?({_FULL_PLAIN})\Z|^\Z")
_SPACES = re.compile(f"{_S}+")


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


def _trim(text: str) -> str:
    return text.strip(_WS)


def _strict(text: str) -> Version | None:
    """npm's ``new SemVer(text)``: trimmed, at most 256 characters, numbers up to 2**53 - 1."""
    match = _FULL.match(_trim(text)) if len(text) <= MAX_LENGTH else None
    if not match:
        return None
    pre, build = match[4], match[5]
    version = Version(
        int(match[1]),
        int(match[2]),
        int(match[3]),
        tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre else (),
        tuple(build.split(".")) if build else (),
    )
    return version if max(version.release) <= MAX_SAFE_INTEGER else None


def parse_version(text: str) -> Version:
    """Parse an exact semver version (a leading ``v`` or ``=`` is tolerated, as in npm specs)."""
    trimmed = _trim(text)
    version = _strict(trimmed[1:] if trimmed.startswith("=") else text)
    if version is None:
        raise InvalidVersion(f"{text!r} is not a valid semver version (expected MAJOR.MINOR.PATCH)")
    return version


@functools.lru_cache(maxsize=4096)  # a check parses the same texts for every version
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


# The desugaring steps of node-semver's classes/range.js; each maps one token to its rewrite.


def _is_x(part: str | None) -> bool:
    return not part or part.lower() == "x" or part == "*"


def _tilde(match: re.Match[str]) -> str:
    major, minor, patch, pre = match.group(1, 2, 3, 4)
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    lower = f"{major}.{minor}.0" if _is_x(patch) else f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    return f">={lower} <{major}.{int(minor) + 1}.0-0"


def _caret(match: re.Match[str]) -> str:
    major, minor, patch, pre = match.group(1, 2, 3, 4)
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0 <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        upper = f"{major}.{int(minor) + 1}.0-0" if major == "0" else f"{int(major) + 1}.0.0-0"
        return f">={major}.{minor}.0 <{upper}"
    lower = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    if major != "0":
        return f">={lower} <{int(major) + 1}.0.0-0"
    if minor != "0":
        return f">={lower} <0.{int(minor) + 1}.0-0"
    return f">={lower} <0.0.{int(patch) + 1}-0"


def _xrange(match: re.Match[str]) -> str:
    op, major, minor, patch = match.group(1, 2, 3, 4)
    if (_is_x(major) and not _is_x(minor)) or (_is_x(minor) and patch and not _is_x(patch)):
        return match[0]  # "x.1", "1.x.2": left alone, so the comparator check refuses them
    x_minor = _is_x(major) or _is_x(minor)
    if not (x_minor or _is_x(patch)):
        return match[0]
    op = "" if op == "=" else op
    if _is_x(major):
        return "<0.0.0-0" if op in {">", "<"} else "*"
    if not op:
        if x_minor:
            return f">={major}.0.0 <{int(major) + 1}.0.0-0"
        return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0-0"
    big, mid = int(major), 0 if x_minor else int(minor)
    if op in {">", "<="}:  # >1 is >=2.0.0, >1.2 is >=1.3.0; <=1.2 is <1.3.0-0
        op = ">=" if op == ">" else "<"
        big, mid = (big + 1, 0) if x_minor else (big, mid + 1)
    return f"{op}{big}.{mid}.0" + ("-0" if op == "<" else "")


def _hyphen(match: re.Match[str]) -> str:
    low, low_major, low_minor, low_patch = match.group(1, 2, 3, 4)
    high, high_major, high_minor, high_patch, high_pre = match.group(7, 8, 9, 10, 11)
    if _is_x(low_major):
        low = ""
    elif _is_x(low_minor):
        low = f">={low_major}.0.0"
    elif _is_x(low_patch):
        low = f">={low_major}.{low_minor}.0"
    else:
        low = f">={low}"
    if _is_x(high_major):
        high = ""
    elif _is_x(high_minor):
        high = f"<{int(high_major) + 1}.0.0-0"
    elif _is_x(high_patch):
        high = f"<{high_major}.{int(high_minor) + 1}.0-0"
    elif high_pre:
        high = f"<={high_major}.{high_minor}.{high_patch}-{high_pre}"
    else:
        high = f"<={high}"
    return _trim(f"{low} {high}")


def _each(pattern: re.Pattern[str], rewrite: Callable[[re.Match[str]], str], text: str) -> str:
    """Apply an anchored rewrite to every whitespace-separated token of *text*."""
    return " ".join(pattern.sub(rewrite, token) for token in _SPACES.split(text))


def _desugar(token: str) -> str:
    token = _each(_CARET, _caret, _trim(token))
    token = _each(_TILDE, _tilde, _trim(token))
    token = " ".join(_XRANGE.sub(_xrange, _trim(t)) for t in _SPACES.split(token))
    return _STAR.sub("", _trim(token), count=1)


def _comparator(token: str, whole: str) -> Comparator | None:
    """One primitive comparator; None for "any version"."""
    match = _COMPARATOR.match(" ".join(_SPACES.split(_trim(token))))
    if not match:
        raise InvalidRange(f"{whole!r} is not a valid npm version range: cannot parse {token!r}")
    if not match[2]:
        return None
    version = _strict(match[2])
    if version is None:
        raise InvalidRange(f"{whole!r} is not a valid npm version range: {match[2]!r} is not a version")
    return Comparator(match[1] if match[1] not in {"", "="} else "=", version)


def _parse_set(text: str, whole: str) -> tuple[Comparator, ...]:
    text = _BUILD_STRIP.sub("", text)
    text = _HYPHEN.sub(_hyphen, text)
    text = _COMPARATOR_TRIM.sub(r"\1\2\3", text)
    text = _TILDE_TRIM.sub(r"\1~", text)
    text = _CARET_TRIM.sub(r"\1^", text)
    tokens = _SPACES.split(" ".join(_desugar(token) for token in text.split(" ")))
    comparators = (_comparator(_GTE0.sub("", _trim(token)), whole) for token in tokens)
    return tuple(c for c in comparators if c is not None)


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


@functools.lru_cache(maxsize=4096)  # a check parses the same texts for every version
def parse_range(text: str) -> Range:
    """Parse an npm semver range; raise :class:`InvalidRange` when it is not one."""
    if len(text) > MAX_LENGTH:
        raise InvalidRange(f"{text[:40]!r}... is not a valid npm version range: longer than {MAX_LENGTH}")
    raw = _SPACES.sub(" ", _trim(text))
    sets = tuple(_parse_set(_trim(part), text) for part in raw.split("||"))
    # As npm: a union with an "any version" set is just that set, so "^1.2.3-beta || *" no
    # longer lets 1.2.3-rc through the prerelease rule.
    return Range(text, ((),) if len(sets) > 1 and () in sets else sets)


def satisfies(version: str | Version, range_text: str | Range, *, include_prerelease: bool = False) -> bool:
    v = version if isinstance(version, Version) else _strict(version)
    if v is None:
        return False
    r = range_text if isinstance(range_text, Range) else parse_range(range_text)
    return r.test(v, include_prerelease=include_prerelease)


def max_satisfying(versions: Iterable[str], range_text: str | Range) -> str | None:
    """The highest of *versions* (strings) that satisfies the range, or None (npm's maxSatisfying)."""
    r = range_text if isinstance(range_text, Range) else parse_range(range_text)
    best: tuple[Version, str] | None = None
    for text in versions:
        v = _strict(text)
        if v is not None and r.test(v) and (best is None or v > best[0]):
            best = (v, text)
    return best[1] if best else None
