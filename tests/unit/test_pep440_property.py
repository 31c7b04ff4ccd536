"""Property tests of PyPI version selection (registries/pypi.py) with `packaging` as the oracle.

The property select_version must have, stated with packaging's primitives only:

* the candidates are the releases with at least one file whose version parses (PEP 440);
  a release is yanked when all its files are (PEP 592 yanks files; one live file keeps it);
* "latest" (or an empty spec) is the highest live final release, else the highest live
  prerelease; a bare version ``1.2`` means ``==1.2``; anything else must be a SpecifierSet;
* a release matches when ``SpecifierSet.contains(text, prereleases=True)``; prereleases count
  only when the specifier calls for them (``SpecifierSet.prereleases``) or when no final release
  matches (PEP 440);
* the answer is the highest matching live release; when there is none and the specifier pins a
  version (``==`` without a wildcard, or ``===``), the highest matching yanked one (PEP 592);
* the second value is the text of the highest live final release (None without one).

Releases are unique after normalisation, as on PyPI (it refuses "1.0.0" next to "1.0").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from mcp_operator.registries import errors, pypi
from mcp_operator.registries.pypi import PyFile

WHERE = "https://pypi.example"

# --- strategies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parts:
    epoch: int
    release: tuple[int, ...]
    pre: tuple[str, int] | None
    post: int | None
    dev: int | None
    local: str | None


PARTS = st.builds(
    Parts,
    epoch=st.sampled_from([0, 0, 0, 0, 1]),
    release=st.lists(st.integers(0, 3), min_size=1, max_size=3).map(tuple),
    pre=st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 2)),
    post=st.none() | st.none() | st.integers(0, 2),
    dev=st.none() | st.none() | st.integers(0, 1),
    local=st.none() | st.none() | st.none() | st.sampled_from(["local", "1", "abc.5"]),
)


@st.composite
def version_texts(draw: st.DrawFn, parts: Parts | None = None) -> str:
    """A PEP 440 version, normalised or in one of the spellings PEP 440 also accepts."""
    p = draw(PARTS) if parts is None else parts
    plain = draw(st.integers(0, 3)) > 0
    text = f"{p.epoch}!" if p.epoch else ""
    text += ".".join(map(str, p.release))
    if p.pre is not None:
        spelled = {"a": "alpha", "b": "beta", "rc": "c"}
        letter = p.pre[0] if plain else draw(st.sampled_from([p.pre[0], spelled[p.pre[0]]]))
        text += ("" if plain else draw(st.sampled_from(["", "-", "."]))) + f"{letter}{p.pre[1]}"
    if p.post is not None:
        text += (
            f".post{p.post}"
            if plain
            else draw(st.sampled_from([f".post{p.post}", f"-{p.post}", f"-r{p.post}"]))
        )
    if p.dev is not None:
        text += f".dev{p.dev}"
    if p.local is not None:
        text += f"+{p.local}"
    return text if plain else draw(st.sampled_from(["", "v", "V"])) + text


@st.composite
def releases(draw: st.DrawFn) -> dict[str, list[PyFile]]:
    """An index's releases: unique after normalisation, 0-2 files each, some files yanked."""
    texts = draw(st.lists(version_texts(), min_size=1, max_size=8, unique_by=Version))
    if draw(st.integers(0, 4)) == 0:
        texts.append("not-a-version")
    result: dict[str, list[PyFile]] = {}
    for text in texts:
        # Yanked or not, per file; now and then a release without files.
        flags = draw(st.lists(st.booleans(), min_size=0 if draw(st.integers(0, 5)) == 0 else 1, max_size=2))
        result[text] = [
            PyFile(f"tool-{text}-{i}.tar.gz", f"{WHERE}/f/{i}", "0" * 64, text, yanked)
            for i, yanked in enumerate(flags)
        ]
    return result


OPERATORS = ["==", "==", "!=", "<=", ">=", ">=", "<", ">", "~=", "~=", "==="]


@st.composite
def specifiers(draw: st.DrawFn, named: list[str]) -> str:
    """One PEP 440 specifier, about a version the releases name half of the time."""
    op = draw(st.sampled_from(OPERATORS))
    text = draw(st.sampled_from(named)) if named and draw(st.integers(0, 3)) else draw(version_texts())
    if op in {"==", "!="} and draw(st.integers(0, 3)) == 0:  # prefix matching: ==1.2.*
        release = Version(text).release
        return f"{op}{'.'.join(map(str, release[: draw(st.integers(1, len(release)))]))}.*"
    if op not in {"==", "!=", "==="} and draw(st.integers(0, 3)) > 0:
        text = text.split("+")[0]  # only == and != take local versions (and ===, anything)
    return op + draw(st.sampled_from(["", "", " "])) + text


@st.composite
def specs(draw: st.DrawFn, named: list[str]) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(["latest", "", "  ", "^1.0", "1.*", ">=", "1.0,", "foo"]))
    if kind <= 2:  # a bare version
        return draw(st.sampled_from(named)) if named and draw(st.booleans()) else draw(version_texts())
    return draw(st.sampled_from([",", ", "])).join(draw(st.lists(specifiers(named), min_size=1, max_size=2)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, dict[str, list[PyFile]]]:
    index = draw(releases())
    named = [t for t in index if t != "not-a-version"]
    return draw(specs(named)), index


# --- the oracle -------------------------------------------------------------------------------


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def expected(spec: str, index: dict[str, list[PyFile]]) -> tuple[str, str | None] | type[Exception]:
    candidates = {t: v for t, files in index.items() if files and (v := _version(t)) is not None}
    live = {t: v for t, v in candidates.items() if not all(f.yanked for f in index[t])}
    finals = [t for t, v in live.items() if not v.is_prerelease]
    latest = max(finals, key=live.__getitem__) if finals else None
    spec = spec.strip()
    if spec in {"", "latest"}:
        if not live:
            return errors.VersionNotFound
        return latest or max(live, key=live.__getitem__), latest
    try:
        specifier = SpecifierSet(f"=={spec}" if _version(spec) is not None else spec)
    except InvalidSpecifier:
        return errors.InvalidSpec

    def best(pool: dict[str, Version]) -> str | None:
        matching = [t for t in pool if specifier.contains(t, prereleases=True)]
        if not specifier.prereleases:
            matching = [t for t in matching if not pool[t].is_prerelease] or matching
        return max(matching, key=pool.__getitem__) if matching else None

    pinned = any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*")) for s in specifier
    )
    chosen = best(live) or (best(candidates) if pinned else None)
    return errors.VersionNotFound if chosen is None else (chosen, latest)


def files(text: str, *yanked: bool) -> list[PyFile]:
    return [
        PyFile(f"tool-{text}-{i}.tar.gz", f"{WHERE}/f/{i}", "0" * 64, text, y) for i, y in enumerate(yanked)
    ]


# --- properties -------------------------------------------------------------------------------


@given(case=cases())
@example((">=1.0", {"1.0": files("1.0", False), "2.0a1": files("2.0a1", False)}))
@example((">=1.0", {"2.0a1": files("2.0a1", False)}))  # only a prerelease matches: take it
@example((">=2.0a1", {"2.0": files("2.0", True), "2.0a1": files("2.0a1", False), "1.0": files("1.0", False)}))
@example(("==1.3", {"1.3": files("1.3", True), "1.2": files("1.2", False)}))  # yanked, but pinned
@example(("<=1.3", {"1.3": files("1.3", True), "1.2": files("1.2", False)}))  # yanked: skipped
@example(("1.3", {"1.3": files("1.3", True, False)}))  # one live file: not yanked
@example(("==1.*", {"1.3": files("1.3", True)}))  # a wildcard pins nothing
# Regressions: select_version used to answer these against PEP 440 and PEP 592.
@example(("latest", {"v1.0": files("v1.0", False)}))  # latest as the index spells it, not "1.0"
@example(("===1.0", {"1.0.0": files("1.0.0", False)}))  # === compares strings: no match
@example(("==1.0", {"1.0": files("1.0", False), "1.0+cpu": files("1.0+cpu", False)}))  # + is ignored
@example(("==1.3", {"1.3": files("1.3", True), "1.3+cpu": files("1.3+cpu", False)}))  # live first
@example((">=1.0, ==1.3", {"1.3": files("1.3", True)}))  # pinned within a set
def test_select_version_is_the_highest_matching_release(case: tuple[str, dict[str, list[PyFile]]]) -> None:
    spec, index = case
    want = expected(spec, index)
    if isinstance(want, type):
        event(want.__name__)
        with pytest.raises(want):
            pypi.select_version("tool", spec, index, where=WHERE)
    else:
        event("prerelease" if Version(want[0]).is_prerelease else "final")
        event("yanked" if all(f.yanked for f in index[want[0]]) else "live")
        assert pypi.select_version("tool", spec, index, where=WHERE) == want


FILENAMES = [
    "tool-1.0-py3-none-any.whl",
    "tool-1.0-py2.py3-none-any.whl",
    "tool-1.0-py311-none-any.whl",
    "tool-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
    "tool-1.0.tar.gz",
    "tool-1.0.zip",
]


@given(
    picked=st.lists(st.tuples(st.sampled_from(FILENAMES), st.booleans()), unique_by=lambda t: t[0]),
    order=st.randoms(use_true_random=False),
)
# Regression: a yanked wheel was installed although the release had a live sdist.
@example([("tool-1.0-py3-none-any.whl", True), ("tool-1.0.tar.gz", False)], None)
def test_select_file_skips_yanked_files(picked: list[tuple[str, bool]], order: random.Random | None) -> None:
    release = [PyFile(name, f"{WHERE}/f/{name}", "0" * 64, "1.0", yanked) for name, yanked in picked]
    chosen = pypi.select_file(release)
    live = [f for f in release if not f.yanked]
    if live:
        assert chosen is None or not chosen.yanked, "a yanked file while the release has live ones"
        assert chosen == pypi.select_file(live)
    else:  # the whole release is yanked, so its version was pinned: yanked files count
        unyanked = pypi.select_file([PyFile(f.filename, f.url, f.sha256, f.version) for f in release])
        assert (chosen and chosen.filename) == (unyanked and unyanked.filename)
    if order is not None:
        shuffled = list(release)
        order.shuffle(shuffled)
        assert pypi.select_file(shuffled) == chosen  # the index's order does not matter
