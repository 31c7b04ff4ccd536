"""Property tests of registries/semver.py with the real npm `semver` package as the oracle.

One node process (tests/unit/semver_oracle.js) answers every example of this module. The
strategies cover the syntax semver.py claims: versions with prereleases and build metadata,
primitive comparators, X-ranges, tilde, caret, hyphen ranges, unions, "*" and "".

Deliberate differences, kept out of the properties:

* ``parse_version`` also takes a leading ``=`` (``=1.2.3``), as npm does for a version spec
  (``npm install pkg@=1.2.3``); the oracle is asked about the text without it.
* Only the default options are compared: semver.py has no loose mode, and its
  ``include_prerelease`` only lifts the prerelease rule (npm's also moves lower bounds to ``-0``).
* Prerelease numbers stay small: npm compares those above 2**53 - 1 as floats. Major, minor and
  patch numbers go up to 2**53 - 1, and validity is checked around that limit, above which both
  refuse a version.
* Ranges stay short: semver.py refuses ranges longer than 256 characters outright, npm has no limit.
* Only strings are compared: npm's functions also take SemVer and Range objects.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from tests.fixtures.processes import end

from mcp_operator.registries import semver

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("semver_oracle.js")
MAX_SAFE_INTEGER = 2**53 - 1
MAKE_TEST = "run `make test` (or `make test-fast`), which installs node_modules from package-lock.json"


class Oracle:
    """npm semver in a node process: one JSON line of requests in, one line of answers out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def ask(self, *requests: tuple[Any, ...]) -> list[Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        line = json.dumps([{"op": op, "args": list(args)} for op, *args in requests])
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            pytest.fail(f"the semver oracle exited (code {self.process.poll()}); see its stderr above")
        answers = json.loads(reply)
        errors = [a["error"] for a in answers if "error" in a]
        assert not errors, f"npm semver threw for {requests}: {errors}"
        return [a["ok"] for a in answers]


@pytest.fixture(scope="module")
def npm() -> Iterator[Oracle]:
    node = shutil.which("node")
    installed = ROOT / "node_modules" / "semver" / "package.json"
    if node is None:
        pytest.fail(f"node is not on PATH; the npm semver oracle needs it: install Node.js and {MAKE_TEST}")
    if not installed.exists():
        pytest.fail(f"node_modules/semver is missing: {MAKE_TEST}")
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["semver"]
    process = subprocess.Popen(
        [node, str(DRIVER)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        hello = process.stdout.readline()
        if not hello:
            pytest.fail(f"the semver oracle did not start (code {process.wait(10)}); see its stderr")
        running = json.loads(hello)["semver"]
        if running != pinned:
            pytest.fail(f"node_modules has semver {running} but package.json pins {pinned}: {MAKE_TEST}")
        yield Oracle(process)
    finally:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()  # the driver exits when its input ends
        end(process, grace=10)
        process.stdout.close()


# --- strategies -------------------------------------------------------------------------------

SMALL = st.integers(0, 3)
NUMBERS = st.one_of(SMALL, SMALL, st.integers(0, 30), st.integers(0, MAX_SAFE_INTEGER))
PRE_WORDS = ["alpha", "beta", "rc", "pre", "a1", "1a", "0a", "x", "X", "-", "--", "alpha-1", "00a"]
# Any identifier shape, including invalid numeric ones with a leading zero ("01").
ANY_PRE_ID = st.one_of(
    st.sampled_from(PRE_WORDS), st.integers(0, 12).map(str), st.from_regex(r"\A[0-9A-Za-z-]{1,4}\Z")
)
PRE_ID = ANY_PRE_ID.filter(lambda s: not (s.isdigit() and len(s) > 1 and s.startswith("0")))
BUILD_ID = st.one_of(st.sampled_from(["build", "001", "sha", "x-1"]), st.from_regex(r"\A[0-9A-Za-z-]{1,4}\Z"))
# Versions and ranges share small numbers and a few prereleases so that versions fall on the
# ranges' boundaries and the prerelease rule comes into play.
COMMON_PRE = st.sampled_from(["0", "1", "alpha", "beta", "rc", "alpha.1", "beta.2"])
SMALL_PRE = st.lists(COMMON_PRE, max_size=1)


@st.composite
def versions(draw: st.DrawFn, numbers: st.SearchStrategy[int] = NUMBERS, small: bool = False) -> str:
    """A valid semver version, sometimes with a ``v`` prefix."""
    text = ".".join(str(draw(numbers)) for _ in range(3))
    pre = draw(SMALL_PRE if small else st.lists(PRE_ID, max_size=3))
    build = draw(st.lists(BUILD_ID, max_size=2 if not small else 1))
    if pre:
        text += "-" + ".".join(pre)
    if build:
        text += "+" + ".".join(build)
    return draw(st.sampled_from(["", "", "", "v"])) + text


SMALL_VERSIONS = versions(numbers=SMALL, small=True)
# Noise for invalid inputs, with whitespace JavaScript trims and Python does not (and the other
# way round) and a digit that Python's \d matches and JavaScript's does not.
NOISE = [*"0123456789.-+vV=xX*a <>^~|\t", "01", "٣", "\u00a0", "\ufeff", "\x1c", "\n"]


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """*base* with up to three characters inserted, deleted or replaced: often invalid."""
    text = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        noise = draw(st.sampled_from(NOISE))
        if action == "insert":
            text = text[:at] + noise + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + noise + text[at + 1 :]
    return text


VERSION_LIKE = st.one_of(
    mutated(versions()),
    mutated(versions(numbers=st.integers(MAX_SAFE_INTEGER - 1, MAX_SAFE_INTEGER + 2))),
    st.builds(lambda v: "=" + v, versions()),
    st.text(alphabet="0123456789.-+vV=xX*a <>^", max_size=12),
)

X_ID = st.one_of(SMALL.map(str), SMALL.map(str), st.sampled_from(["x", "X", "*"]))


@st.composite
def partials(draw: st.DrawFn) -> str:
    """A version or X-range in a range: ``1``, ``1.x``, ``1.2.*``, ``v1.2.3-beta+b``."""
    parts = draw(st.lists(X_ID, min_size=1, max_size=3))
    text = ".".join(parts)
    if len(parts) == 3 and draw(st.booleans()):
        text += "-" + draw(st.one_of(COMMON_PRE, COMMON_PRE, PRE_ID))
    if len(parts) == 3 and draw(st.integers(0, 4)) == 0:
        text += "+" + draw(BUILD_ID)
    return draw(st.sampled_from(["", "", "", "", "v", "="])) + text


OPERATORS = st.sampled_from(["", "", "=", "<", "<=", ">", ">=", "~", "~>", "^"])
SPACE = st.sampled_from(["", "", " "])


@st.composite
def comparator_sets(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return draw(partials()) + " - " + draw(partials())
    if kind == 1:  # any version
        return draw(st.sampled_from(["*", "x", "", ">=0.0.0", "^*", "* - *"]))
    items = [draw(OPERATORS) + draw(SPACE) + draw(partials()) for _ in range(draw(st.integers(1, 3)))]
    return draw(st.sampled_from([" ", "  "])).join(items)


@st.composite
def ranges(draw: st.DrawFn) -> str:
    sets = draw(st.lists(comparator_sets(), min_size=1, max_size=3))
    return draw(st.sampled_from([" || ", "||", " ||  "])).join(sets)


RANGES = st.one_of(ranges(), ranges(), st.sampled_from(["", "*", " ", "x", "||", ">=*", "<*", "*.*.*"]))


@st.composite
def versions_near(draw: st.DrawFn, range_text: str) -> str:
    """A version made of the numbers (give or take one) and prereleases that *range_text* names."""
    named = [int(n) for n in re.findall(r"\d+", range_text)[:12]]
    numbers = sorted({n + d for n in named for d in (-1, 0, 1) if n + d >= 0})
    words = re.findall(r"-([a-z]+(?:\.\d+)?|\d+)\b", range_text)
    releases = re.findall(r"\d+\.\d+\.\d+", range_text)
    number = st.sampled_from(numbers) if numbers else SMALL
    if releases and draw(st.booleans()):
        text = draw(st.sampled_from(releases))  # on a bound: where the prerelease rule bites
    else:
        text = ".".join(str(draw(number)) for _ in range(3))
    if draw(st.booleans()):
        text += "-" + draw(st.sampled_from(words) if words and draw(st.booleans()) else COMMON_PRE)
    return text


@st.composite
def ranges_and_versions(draw: st.DrawFn) -> tuple[str, str]:
    range_text = draw(RANGES)
    return range_text, draw(st.one_of(versions_near(range_text), SMALL_VERSIONS, versions()))


RANGE_LIKE = st.one_of(RANGES, mutated(RANGES))


def _npm_view(text: str) -> str:
    """What npm is asked about *text*: parse_version's extra leading ``=`` taken away."""
    stripped = text.strip(semver._WS)  # JavaScript's trim()
    return stripped[1:] if stripped.startswith("=") else text


def _ours(text: str) -> semver.Version | None:
    try:
        return semver.parse_version(text)
    except semver.InvalidVersion:
        return None


def _our_range(text: str) -> semver.Range | None:
    try:
        return semver.parse_range(text)
    except semver.InvalidRange:
        return None


# --- properties -------------------------------------------------------------------------------


@given(text=VERSION_LIKE)
@example("1.2.3")
@example("v1.2.3-alpha.01")
@example("1.2.3-")
# Regressions: semver.py took numbers npm refuses, Python-only digits and whitespace, and
# refused text npm trims.
@example("9007199254740992.0.0")
@example("1.\u0663.0")  # ARABIC-INDIC DIGIT THREE: Python's \d, not JavaScript's
@example("1.2.3\x1c")  # str.strip() removes it, JavaScript's trim() does not
@example("\ufeff1.2.3")  # and the other way round
def test_version_validity_and_parts_agree(npm: Oracle, text: str) -> None:
    (theirs,) = npm.ask(("parse", _npm_view(text)))
    ours = _ours(text)
    event("valid" if theirs else "invalid")
    assert (ours is not None) == (theirs is not None), f"{text!r}: ours {ours}, npm {theirs}"
    if ours is not None:
        pre = "-" + ".".join(map(str, ours.prerelease)) if ours.prerelease else ""
        assert f"{ours.major}.{ours.minor}.{ours.patch}{pre}" == theirs["version"]
        assert list(ours.prerelease) == theirs["prerelease"]
        assert list(ours.build) == theirs["build"]


@given(a=versions(), b=versions())
@example("1.0.0-alpha", "1.0.0-alpha.1")
@example("1.0.0-alpha.beta", "1.0.0-beta")
@example("1.0.0-2", "1.0.0-11")
@example("1.0.0-rc.1", "1.0.0")
@example("1.0.0+build.1", "v1.0.0+build.2")
def test_ordering_agrees_with_compare(npm: Oracle, a: str, b: str) -> None:
    (expected,) = npm.ask(("compare", a, b))
    event(f"compare {expected}")
    va, vb = semver.parse_version(a), semver.parse_version(b)
    assert (va > vb) - (va < vb) == expected
    assert (va == vb) == (expected == 0)
    if va == vb:
        assert hash(va) == hash(vb)


@given(range_text=RANGE_LIKE)
@example(">=1.2.3 <2")
@example("1.2.3 - 2")
@example("^1.2.3+build")
# Regressions: ranges semver.py refused or took against npm's word.
@example("x.1")  # X-ranges with a number after an X are invalid...
@example("1.x.2")
@example("^1.x.2")  # ...except after ^ or ~
@example("==1.2")  # "=" and "v" may repeat before an X-range...
@example("^=1.2.3")
@example("==1.2.3")  # ...but not before a whole version
@example("+build")  # build metadata is dropped wherever it stands
@example("^1.2+b")
@example("*1.2.3")  # npm drops the first "*"
@example("^9007199254740991")  # the upper bound overflows
@example("1.2.3\ufeff")
def test_range_validity_agrees(npm: Oracle, range_text: str) -> None:
    (theirs,) = npm.ask(("validRange", range_text))
    ours = _our_range(range_text)
    event("valid" if theirs else "invalid")
    assert (ours is not None) == (theirs is not None), f"{range_text!r}: ours {ours}, npm {theirs!r}"


@given(case=ranges_and_versions())
@example(("^1.2.3-beta.1", "1.2.3-beta.2"))
@example(("^1.2.3-beta.1", "1.2.4-beta"))
@example(("^0.0.x", "0.0.1"))
@example(("<2", "2.0.0-0"))
# Regression: a union with an any-version set is that set alone in npm, so the prerelease rule
# turns 1.2.3-rc away although ^1.2.3-beta would let it in.
@example(("^1.2.3-beta || *", "1.2.3-rc"))
def test_satisfies_agrees(npm: Oracle, case: tuple[str, str]) -> None:
    range_text, version = case
    valid_range, expected = npm.ask(("validRange", range_text), ("satisfies", version, range_text))
    ours = _our_range(range_text)
    event("invalid range" if valid_range is None else f"satisfied: {expected}")
    assert (ours is not None) == (valid_range is not None), f"{range_text!r}: npm says {valid_range!r}"
    if ours is not None:
        assert semver.satisfies(version, ours) == expected, f"{version} in {ours} ({valid_range})"
        assert semver.satisfies(version, range_text) == expected


@st.composite
def ranges_and_candidates(draw: st.DrawFn) -> tuple[str, list[str]]:
    range_text = draw(RANGES)
    near = versions_near(range_text)
    candidate = st.one_of(near, SMALL_VERSIONS, mutated(SMALL_VERSIONS), st.just("=1.0.0"))
    return range_text, draw(st.lists(candidate, max_size=8))


@given(case=ranges_and_candidates())
@example(("^1.2", ["1.2.3", "1.2.4-beta", "v1.2.4"]))
@example(("1", ["1.0.0+a", "1.0.0+b"]))  # the first of equal versions wins
@example(("*", ["=1.0.0", "0.1.0"]))  # npm reads the versions strictly: no leading "="
def test_max_satisfying_agrees(npm: Oracle, case: tuple[str, list[str]]) -> None:
    range_text, candidates = case
    valid_range, expected = npm.ask(("validRange", range_text), ("maxSatisfying", candidates, range_text))
    event("invalid range" if valid_range is None else "none" if expected is None else "found")
    if valid_range is None:
        with pytest.raises(semver.InvalidRange):
            semver.max_satisfying(candidates, range_text)
    else:
        assert semver.max_satisfying(candidates, range_text) == expected
