"""PyPI client: JSON API, PEP 691 JSON / PEP 503 HTML simple index, PEP 440 selection, entry points."""

from __future__ import annotations

import configparser
import re
import tarfile
import tomllib
import zipfile
from collections import OrderedDict
from contextlib import closing
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mcp_operator.registries import bounded
from mcp_operator.registries.bounded import Cap, ReadLimits
from mcp_operator.registries.errors import (
    InvalidPackage,
    InvalidSpec,
    PackageNotFound,
    RegistryUnavailable,
    VersionNotFound,
)
from mcp_operator.registries.http import (
    DEFAULT_CACHE,
    ResponseCache,
    RetryPolicy,
    auth_headers,
    fetch,
    fetch_document,
    normalise_registry_url,
    raise_for_auth,
    redact,
)
from mcp_operator.registries.types import Catalog, Credentials, Resolution

__all__ = [
    "DEFAULT_PYPI_REGISTRY",
    "PyFile",
    "PypiClient",
    "index_base",
    "normalise_name",
    "select_file",
    "select_version",
]

DEFAULT_PYPI_REGISTRY = "https://pypi.org"
SIMPLE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.2, text/html; q=0.01"
)
_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def normalise_name(name: str) -> str:
    """PEP 503 normal form of a project name; raise InvalidPackage for names PyPI cannot hold."""
    if not isinstance(name, str) or len(name) > 200 or not _NAME_RE.match(name):
        raise InvalidPackage(
            f"{name!r} is not a valid PyPI project name; use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    return str(canonicalize_name(name))


def index_base(registry: str | None) -> str:
    """Base URL of a PyPI-compatible index: 'https://host/x/simple/' and 'https://host/x' give 'https://host/x'."""
    base = normalise_registry_url(registry or DEFAULT_PYPI_REGISTRY, what="PyPI index")
    return base.removesuffix("/simple")


@dataclass(frozen=True)
class PyFile:
    filename: str
    url: str
    sha256: str | None
    version: str
    yanked: bool = False

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def is_sdist(self) -> bool:
        return self.filename.endswith((".tar.gz", ".zip"))


def _file_version(project: str, filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return str(version) if canonicalize_name(name) == project else None


def _wheel_rank(filename: str) -> int | None:
    """Lower is better; None for wheels that cannot be installed everywhere."""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    ranks = []
    for tag in tags:
        if tag.abi == "none" and tag.platform == "any":
            if tag.interpreter == "py3":
                ranks.append(0)
            elif tag.interpreter.startswith("py3"):
                ranks.append(1)
    return min(ranks) if ranks else None


def select_file(files: list[PyFile]) -> PyFile | None:
    """The artifact to install: a pure py3 wheel, else an sdist (.tar.gz preferred).

    Yanked files only count when all the release's files are yanked, which select_version allows
    for a pinned version alone (PEP 592).
    """
    files = [f for f in files if not f.yanked] or files
    wheels = sorted(
        (
            (rank, f.filename, f)
            for f in files
            if f.is_wheel
            for rank in [_wheel_rank(f.filename)]
            if rank is not None
        ),
        key=lambda t: (t[0], t[1]),
    )
    if wheels:
        return wheels[0][2]
    sdists = sorted(
        (f for f in files if f.is_sdist), key=lambda f: (not f.filename.endswith(".tar.gz"), f.filename)
    )
    return sdists[0] if sdists else None


def _version_or_none(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _available(versions: list[Version], limit: int = 8) -> str:
    shown = sorted(versions, reverse=True)
    text = ", ".join(str(v) for v in shown[:limit]) or "none"
    return text + (f" (and {len(shown) - limit} more)" if len(shown) > limit else "")


def _specifier(spec: str) -> SpecifierSet:
    """The PEP 440 specifier set *spec* stands for; a bare version pins it ("1.2" is "==1.2")."""
    try:
        return SpecifierSet(f"=={spec}" if _version_or_none(spec) is not None else spec)
    except InvalidSpecifier as exc:
        raise InvalidSpec(
            f"{spec!r} is neither 'latest', an exact version nor a PEP 440 specifier (e.g. '>=1.2,<2'); "
            "fix spec.source.version"
        ) from exc


def _pins(specifier: SpecifierSet) -> bool:
    """True when the set names one version: == without a wildcard, or ===."""
    return any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*")) for s in specifier
    )


def _highest(specifier: SpecifierSet, pool: dict[str, Version]) -> str | None:
    # Filter the texts, not the parsed versions: === compares the version as the index spells it.
    # filter() applies PEP 440's prerelease rule: only when the specifier names one, or when no
    # final release matches.
    matching = list(specifier.filter(pool))
    return max(matching, key=pool.__getitem__) if matching else None


def select_version(
    project: str, spec: str, releases: dict[str, list[PyFile]], *, where: str
) -> tuple[str, str | None]:
    """Pick the version for *spec* among *releases*; return (version, latest), as the index spells them.

    The candidates are the releases with files and a PEP 440 version; a release is yanked when all
    its files are. 'latest' is the highest live final release, else the highest live prerelease.
    Otherwise the highest live release the specifier matches (PEP 440, prereleases included only
    when it names one or nothing else matches); when none does and the specifier pins a version
    (== without a wildcard, or ===), the yanked release it pins (PEP 592). *latest* is the highest
    live final release, or None.
    """
    candidates: dict[str, Version] = {}
    for text, files in releases.items():
        if files and (v := _version_or_none(text)) is not None:
            candidates[text] = v
    live = {t: v for t, v in candidates.items() if not all(f.yanked for f in releases[t])}
    finals = [t for t, v in live.items() if not v.is_prerelease]
    latest = max(finals, key=live.__getitem__) if finals else None
    spec = (spec or "latest").strip() or "latest"
    if spec == "latest":
        if not live:
            raise VersionNotFound(
                f"PyPI project {project!r} has no installable (non-yanked) release in {where}"
            )
        return latest or max(live, key=live.__getitem__), latest
    specifier = _specifier(spec)
    pinned = _pins(specifier)
    chosen = _highest(specifier, live) or (_highest(specifier, candidates) if pinned else None)
    if chosen is None:
        missing = (
            f"PyPI project {project!r} has no release {spec!r} in {where}"
            if pinned
            else f"no release of PyPI project {project!r} in {where} satisfies {spec!r}"
        )
        raise VersionNotFound(
            f"{missing}; available versions: {_available(list(live.values()))}; fix spec.source.version"
        )
    return chosen, latest


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


def _sha256_of(url: str, hashes: object) -> str | None:
    if isinstance(hashes, dict):
        value = hashes.get("sha256")
        if isinstance(value, str) and _SHA256_RE.match(value.lower()):
            return value.lower()
    fragment = urlsplit(url).fragment
    if fragment.startswith("sha256="):
        value = fragment.removeprefix("sha256=").lower()
        if _SHA256_RE.match(value):
            return value
    return None


def _strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


# Indexes known to lack the JSON API (e.g. pypiserver), learnt once per process.
_NO_JSON_API: set[str] = set()
_COMMAND_CACHE: OrderedDict[str, tuple[str, ...]] = OrderedDict()


def _pick_script(project: str, scripts: list[str]) -> tuple[str, ...]:
    if not scripts:
        return ()
    for script in scripts:
        if canonicalize_name(script) == project:
            return (script,)
    return (scripts[0],)


def scripts_from_entry_points(text: str) -> list[str]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    if not parser.has_section("console_scripts"):
        return []
    return [k.strip() for k in parser["console_scripts"] if k.strip()]


def scripts_from_wheel(
    data: bytes, *, what: str = "the wheel", limits: ReadLimits | None = None
) -> list[str]:
    """console scripts of a wheel's ``*.dist-info/entry_points.txt``. Only that member is read, in
    bounded chunks; the archive is checked against the caps first (registries/bounded.py) and never
    extracted, so member paths do not matter."""
    with bounded.open_wheel(data, what=what, limits=limits) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "entry_points.txt":
                with archive.open(info) as handle:
                    text = bounded.read_member(
                        handle, declared=info.file_size, what=what, name=info.filename, limits=limits
                    )
                return scripts_from_entry_points(text.decode("utf-8", "replace"))
    return []


def _sdist_metadata(name: str) -> bool:
    return name.count("/") == 1 and name.endswith(("/pyproject.toml", "/setup.cfg"))


def scripts_from_sdist(
    data: bytes, *, what: str = "the sdist", limits: ReadLimits | None = None
) -> list[str]:
    """console scripts declared in an sdist's pyproject.toml ([project.scripts]) or setup.cfg.

    One capped pass over the decompressed archive (registries/bounded.py); only those two files at
    the top level are read, nothing is extracted.
    """
    configs: list[bytes] = []
    with closing(bounded.tar_files(data, what=what, wanted=_sdist_metadata, limits=limits)) as files:
        for name, content in files:
            if name.endswith("/setup.cfg"):
                configs.append(content)
                continue
            try:
                doc = tomllib.loads(content.decode("utf-8", "replace"))
            except tomllib.TOMLDecodeError:
                continue
            project = doc.get("project")
            scripts = project.get("scripts") if isinstance(project, dict) else None
            if isinstance(scripts, dict) and scripts:
                return [str(k) for k in scripts]
    for content in configs:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(content.decode("utf-8", "replace"))
            value = parser.get("options.entry_points", "console_scripts", fallback="")
        except configparser.Error:
            continue
        return [line.split("=", 1)[0].strip() for line in value.splitlines() if "=" in line]
    return []


def _releases_from_json(doc: object, url: str) -> dict[str, list[PyFile]] | None:
    """version -> files from a JSON API document (None: not one); relative URLs resolved against `url`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("releases"), dict):
        return None
    releases: dict[str, list[PyFile]] = {}
    for version, files in doc["releases"].items():
        entries = []
        for f in files if isinstance(files, list) else []:
            if (
                not isinstance(f, dict)
                or not isinstance(f.get("filename"), str)
                or not isinstance(f.get("url"), str)
            ):
                continue
            # Mirrors may answer with URLs relative to the JSON document: resolve them.
            absolute = urljoin(url, f["url"])
            entries.append(
                PyFile(
                    filename=f["filename"],
                    url=absolute,
                    sha256=_sha256_of(absolute, f.get("digests")),
                    version=str(version),
                    yanked=bool(f.get("yanked")),
                )
            )
        releases[str(version)] = entries
    return releases


def _files_from_pep691(doc: object, url: str) -> list[tuple[str, str, object, bool]]:
    files: list[tuple[str, str, object, bool]] = []
    for f in doc.get("files", []) if isinstance(doc, dict) else []:
        if isinstance(f, dict) and isinstance(f.get("filename"), str) and isinstance(f.get("url"), str):
            files.append(
                (f["filename"], urljoin(url, f["url"]), f.get("hashes"), bool(f.get("yanked", False)))
            )
    return files


def _files_from_html(content: bytes, url: str) -> list[tuple[str, str, object, bool]]:
    files: list[tuple[str, str, object, bool]] = []
    parser = _LinkParser()
    parser.feed(content.decode("utf-8", "replace"))
    for link in parser.links:
        href = link.get("href")
        if not href:
            continue
        absolute = urljoin(url, href)
        filename = _strip_fragment(absolute).rsplit("/", 1)[-1]
        files.append((filename, absolute, None, "data-yanked" in link))
    return files


@dataclass
class PypiClient:
    """Resolves PyPI projects against one index (pypi.org or a PEP 503/691 compatible mirror)."""

    client: httpx.AsyncClient
    registry: str = DEFAULT_PYPI_REGISTRY
    credentials: Credentials | None = None
    retry: RetryPolicy | None = None  # None: http.DEFAULT_RETRY at call time
    cache: ResponseCache | None = field(default_factory=lambda: DEFAULT_CACHE)

    @property
    def base(self) -> str:
        return index_base(self.registry)

    async def releases(self, name: str) -> tuple[str, dict[str, list[PyFile]]]:
        """(canonical project name, version -> files) from the JSON API or the simple index."""
        project = normalise_name(name)
        base = self.base
        if base not in _NO_JSON_API:
            found = await self._json_api(project)
            if found is not None:
                return project, found
        result = await self._simple(project)
        if result is None:
            raise PackageNotFound(
                f"PyPI project {name!r} was not found in {base}; "
                "check spec.source.package or spec.source.registry"
            )
        _NO_JSON_API.add(base)
        return project, result

    async def _get(self, url: str, what: str, accept: str) -> Any:
        return await fetch_document(
            self.client,
            url,
            what=what,
            accept=accept,
            credentials=self.credentials,
            retry=self.retry,
            cache=self.cache,
        )

    async def _json_api(self, project: str) -> dict[str, list[PyFile]] | None:
        url = f"{self.base}/pypi/{project}/json"
        fetched = await self._get(url, f"PyPI project {project!r}", "application/json")
        if fetched.status == 404:
            return None
        try:
            doc = await bounded.parse_json(fetched.content)
        except ValueError:
            return None  # not a JSON API: fall back to the simple index
        # Thousands of files for a big project: built off the loop, like the parse.
        return await bounded.offload(len(fetched.content), _releases_from_json, doc, fetched.url)

    async def _simple(self, project: str) -> dict[str, list[PyFile]] | None:
        url = f"{self.base}/simple/{project}/"
        fetched = await self._get(url, f"PyPI project {project!r}", SIMPLE_ACCEPT)
        if fetched.status == 404:
            return None
        content_type = fetched.headers.get("content-type", "")
        files: list[tuple[str, str, object, bool]]  # filename, absolute url, hashes, yanked
        if "json" in content_type:
            try:
                doc = await bounded.parse_json(fetched.content)
            except ValueError as exc:
                raise InvalidPackage(f"PyPI index {self.base} sent unreadable JSON for {project!r}") from exc
            files = _files_from_pep691(doc, fetched.url)
        else:  # HTMLParser is pure Python: a big page is parsed off the loop
            files = await bounded.offload(
                len(fetched.content), _files_from_html, fetched.content, fetched.url
            )
        releases: dict[str, list[PyFile]] = {}
        for filename, absolute, hashes, yanked in files:
            version = _file_version(project, filename)
            if version is None:
                continue
            releases.setdefault(version, []).append(
                PyFile(filename, _strip_fragment(absolute), _sha256_of(absolute, hashes), version, yanked)
            )
        return releases

    async def download(self, file: PyFile, *, limit: int | None = None) -> bytes:
        """Download an artifact (streamed, at most `limit` bytes, default the artifact cap) and check
        its sha256."""
        what = f"PyPI file {file.filename!r}"
        normalise_registry_url(_strip_fragment(file.url), what="artifact")
        headers = auth_headers(self.credentials, file.url) if _same_origin(file.url, self.base) else {}
        cap = (
            bounded.artifact_cap()
            if limit is None
            else Cap(limit, bounded.artifact_cap().setting, "an artifact")
        )
        fetched = await fetch(
            self.client, file.url, what=what, headers=headers, retry=self.retry, cache=None, cap=cap
        )
        raise_for_auth(fetched, what, file.url, sent=bool(headers))
        if fetched.status != 200:
            raise RegistryUnavailable(
                f"{what} could not be downloaded from {redact(file.url)} (HTTP {fetched.status})"
            )
        if file.sha256 and await bounded.sha256_hex(fetched.content) != file.sha256:
            raise InvalidPackage(
                f"{what} from {redact(file.url)} does not match the sha256 the index lists; "
                "the index or a proxy serves corrupt files: check spec.source.registry"
            )
        return fetched.content

    async def command_of(self, project: str, file: PyFile) -> tuple[str, ...]:
        key = file.sha256 or file.url
        if key in _COMMAND_CACHE:
            return _COMMAND_CACHE[key]
        what = f"PyPI file {file.filename!r} of {project!r}"
        # At most DEFAULT_READ_LIMITS.artifacts_at_once artifacts in memory at once; inspected off the
        # loop (zlib releases the GIL), within the archive caps.
        async with bounded.artifact_slot():
            data = await self.download(file)
            try:
                if file.is_wheel:
                    scripts = await bounded.offload(len(data), scripts_from_wheel, data, what=what)
                elif file.filename.endswith(".tar.gz"):
                    scripts = await bounded.offload(len(data), scripts_from_sdist, data, what=what)
                else:
                    scripts = []
            except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
                raise InvalidPackage(f"{what} is not a readable archive; pick another version") from exc
            finally:
                del data
        command = _pick_script(project, scripts)
        _COMMAND_CACHE[key] = command
        while len(_COMMAND_CACHE) > 1024:
            _COMMAND_CACHE.popitem(last=False)
        return command

    async def catalog(self, name: str) -> Catalog:
        """Releases with at least one file that is not yanked; latest is the newest final one."""
        _, releases = await self.releases(name)
        live: list[str] = []
        for text, files in releases.items():
            if files and not all(f.yanked for f in files):
                live.append(text)
        finals = [v for v in live if (parsed := _version_or_none(v)) is not None and not parsed.is_prerelease]
        latest = max(finals, key=Version) if finals else None
        return Catalog(tuple(live), latest)

    async def resolve(self, name: str, spec: str) -> Resolution:
        project, releases = await self.releases(name)
        if not any(releases.values()):
            raise PackageNotFound(
                f"PyPI project {name!r} in {self.base} has no files; check spec.source.package"
            )
        version, latest = select_version(project, spec, releases, where=self.base)
        chosen = select_file(releases[version])
        if chosen is None:
            raise InvalidPackage(
                f"PyPI project {project!r} {version} has neither a pure-Python wheel nor an sdist in "
                f"{self.base}; pick another version"
            )
        if not chosen.sha256:
            raise InvalidPackage(
                f"PyPI index {self.base} lists no sha256 for {chosen.filename!r}; the artifact cannot be "
                "pinned: use an index that publishes hashes"
            )
        command = await self.command_of(project, chosen)
        return Resolution(
            version=version,
            latest=latest,
            integrity=f"sha256:{chosen.sha256}",
            artifact_url=chosen.url,
            command=command,
        )


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)
