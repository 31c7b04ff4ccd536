"""Benchmark: update checks of N packages against local registries, cold and warm, with a bare-GET baseline.

What the operator does for `spec.updates.check` (docs/upgrades.md), N times, 16 at a time (the
controller's workers, handlers/state.py `Tuning.workers`): `registries.catalog()` through one
shared httpx.AsyncClient built like the operator's (handlers/lifecycle.py), with the shared
`http.DEFAULT_CACHE` and `http.DEFAULT_HOST_LIMITS`, then the pure `versions.verdict()`. Half the
packages are npm packages in a local verdaccio, half PyPI projects in a local pypiserver
(tests/fixtures/registries.py); no public network. Every verdict is compared with what the
generated registries hold, so a registry serving the wrong thing fails the run.

The registries are generated, not published: publishing a thousand packages through verdaccio's
API takes ~0.2 s each. The bench writes verdaccio's local storage directly (`<storage>/<name>/
package.json` with versions, dist-tags and dist.tarball URLs, and `.verdaccio-db.json`; no
tarballs, a check needs none) and a pypiserver directory of tiny files named like real wheels and
sdists (pypiserver lists files by their names). Before measuring, it checks that verdaccio serves
a generated packument and pypiserver a generated /simple/<project>/ page.

Per N (default 100 and 1000), in one run, for each set of host limits (default: the operator's
defaults, then the same with the rate limit off):

* checks, cold: empty ResponseCache (and the PyPI client's memory of which indexes have no JSON
  API), fresh host limits (full token buckets);
* checks, warm: the same checks again, as the periodic check does them (interval 24h, the
  default): an answer still fresh in the ResponseCache is used without a request (the registry's
  Cache-Control/Expires, else MCP_OPERATOR_REGISTRY_FRESH, 60 s); then the check must ask;
* checks, asked: the same checks again, as a check a user asks for (mcp-operator.dev/check): every
  npm request is conditional and answered 304, every PyPI page fetched again (pypiserver sends no
  validators);
* baselines, once per N: the same URLs fetched with a bare httpx client at the same concurrency
  (16 workers, 8 in flight per host), no parsing, no cache, no rate limit: plain GETs, then
  conditional GETs with the validators they returned.

pypiserver runs with its cached-dir backend and a listen backlog of 128 (see _PYPISERVER_LAUNCHER:
as the fixture starts it, it scans its whole directory per request and drops concurrent connects);
--stock-pypiserver runs it as the fixture does.

Requests, response body bytes as received (compressed) and 304s are counted by a counting
transport under the client; CPU seconds of the bench and of each registry are printed per pass.
One untimed pass of bare GETs warms the registries before anything is measured. Goals at N=1000:
cold under 10 s, warm under 2 s (PASS/FAIL printed; "asked" has no goal: it is bounded by the
per-host rate limit and by pypiserver, see the floor printed).

    .venv/bin/python bench/updates.py                  # N = 100 and 1000, about a minute
    .venv/bin/python bench/updates.py --n 1000 --profile   # cProfile of the checks, top printed
    .venv/bin/python bench/updates.py --limits default     # only the operator's default limits
    .venv/bin/python bench/updates.py --n 1000 --mix npm   # all packages in verdaccio

Needs verdaccio (node_modules/.bin/verdaccio, `make deps`) and pypiserver in .venv. Every process it
starts is stopped on exit, on errors and on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import code_version, profile_summary, table  # noqa: E402
from tests.fixtures.registries import NpmRegistry, PypiRegistry  # noqa: E402

from mcp_operator import registries, versions  # noqa: E402
from mcp_operator.handlers.lifecycle import REGISTRY_TIMEOUT  # noqa: E402
from mcp_operator.handlers.state import Tuning  # noqa: E402
from mcp_operator.registries import http  # noqa: E402
from mcp_operator.registries import npm as npm_client  # noqa: E402
from mcp_operator.registries import pypi as pypi_client  # noqa: E402

WORKERS = Tuning.workers  # the controller's reconciles in flight (16)
GOALS = {"cold": 10.0, "warm": 2.0}  # seconds at N = 1000
GOAL_N = 1000
NPM_CONSTRAINT, PYPI_CONSTRAINT, PIN, POLICY = "^1.0.0", "~=1.0", "1.0.0", "minor"
LIMIT_SETS = {
    "default": http.HostLimit(),
    "no-rate": http.HostLimit(concurrency=http.HostLimit().concurrency, rate=None),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the packages


@dataclass(frozen=True)
class Package:
    kind: str  # npm / pypi
    name: str
    registry: str
    releases: tuple[str, ...]  # what the registry holds, prereleases included

    @property
    def latest(self) -> str:
        return "2.0.0"

    @property
    def allowed(self) -> str:  # the newest 1.x: what ^1.0.0 / ~=1.0 allow
        return max((r for r in self.releases if r.startswith("1.")), key=lambda v: int(v.split(".")[1]))

    @property
    def url(self) -> str:
        """The URL a check ends up asking (npm packument; PyPI simple page, pypiserver has no JSON API)."""
        if self.kind == "npm":
            return npm_client.packument_url(self.registry, self.name)
        return f"{pypi_client.index_base(self.registry)}/simple/{pypi_client.normalise_name(self.name)}/"

    @property
    def accept(self) -> str:
        return npm_client.ACCEPT if self.kind == "npm" else pypi_client.SIMPLE_ACCEPT


def releases_of(i: int, count: int) -> tuple[str, ...]:
    """``count`` 1.x releases (1.0.0 .. 1.(count-3).0, varying a little per package), 2.0.0, and a
    3.0.0 prerelease that neither `latest` nor the constraints may pick."""
    minors = max(1, count - 2 - i % 3)
    return (*(f"1.{m}.0" for m in range(minors)), "2.0.0", "3.0.0-rc.1")


def npm_name(i: int) -> str:
    return f"@bench/upd-{i:05d}" if i % 5 == 0 else f"bench-upd-{i:05d}"  # some scoped: %2F in the URL


def write_verdaccio_storage(storage: Path, registry_url: str, count: int, releases: int) -> list[Package]:
    """verdaccio's local storage for ``count`` packages, as `npm publish` would leave it."""
    storage.mkdir(parents=True, exist_ok=True)
    packages = []
    now = "2026-11-30T00:00:00.000Z"
    for i in range(count):
        name = npm_name(i)
        tags = releases_of(i, releases)
        doc_versions: dict[str, Any] = {}
        for version in tags:
            filename = f"{name.rsplit('/', 1)[-1]}-{version}.tgz"
            digest = hashlib.sha512(f"{name}@{version}".encode()).digest()
            doc_versions[version] = {
                "name": name,
                "version": version,
                "description": f"bench package {name}",
                "license": "MIT",
                "bin": {name.rsplit("/", 1)[-1]: "cli.js"},
                "dependencies": {"bench-dep-a": "^1.0.0", "bench-dep-b": "~2.3.0"},
                "engines": {"node": ">=18"},
                "_id": f"{name}@{version}",
                "dist": {
                    "integrity": "sha512-" + base64.b64encode(digest).decode(),
                    "shasum": hashlib.sha1(digest).hexdigest(),  # npm's field, not security
                    "tarball": f"{registry_url}{name}/-/{filename}",
                },
                "contributors": [],
            }
        doc = {
            "name": name,
            "versions": doc_versions,
            "time": {"modified": now, "created": now, **dict.fromkeys(tags, now)},
            "users": {},
            "dist-tags": {"latest": "2.0.0", "next": "3.0.0-rc.1"},
            "_uplinks": {},
            "_distfiles": {},
            "_attachments": {},
            "_rev": f"{len(tags)}-{hashlib.sha256(name.encode()).hexdigest()[:16]}",
            "_id": name,
            "readme": "",
        }
        folder = storage / name  # a scoped name is a folder in its scope's folder, as verdaccio keeps it
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(json.dumps(doc, indent="\t"))
        packages.append(Package("npm", name, registry_url, tags))
    names = [p.name for p in packages]
    (storage / ".verdaccio-db.json").write_text(json.dumps({"list": names, "secret": secrets.token_hex(16)}))
    return packages


def write_pypi_directory(directory: Path, registry_url: str, count: int, releases: int) -> list[Package]:
    """Tiny files named like a pure-Python wheel per release (and an sdist of 2.0.0)."""
    directory.mkdir(parents=True, exist_ok=True)
    packages = []
    for i in range(count):
        project = f"bench-upd-{i:05d}"
        tags = tuple(r.replace("-rc.", "rc") for r in releases_of(i, releases))  # PEP 440: 3.0.0rc1
        stem = project.replace("-", "_")
        for version in tags:
            (directory / f"{stem}-{version}-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
        (directory / f"{stem}-2.0.0.tar.gz").write_bytes(b"\x1f\x8b")
        packages.append(Package("pypi", project, registry_url, tags))
    return packages


def split(n: int, mix: str) -> tuple[int, int]:
    """How many of n packages are npm packages and PyPI projects."""
    return {"both": ((n + 1) // 2, n // 2), "npm": (n, 0), "pypi": (0, n)}[mix]


def interleave(npm: list[Package], pypi: list[Package]) -> list[Package]:
    """Alternating, so both registries are busy all along and any first n are split as split() says."""
    mixed = [p for pair in zip(npm, pypi, strict=False) for p in pair]
    shorter = min(len(npm), len(pypi))
    return mixed + npm[shorter:] + pypi[shorter:]


def verify_served(npm: Package | None, pypi: Package | None) -> None:
    """The registries serve what was generated: a packument with its dist-tags, a simple page."""
    if npm is not None:
        got = httpx.get(npm.url, headers={"Accept": npm.accept}, timeout=30)
        got.raise_for_status()
        doc = got.json()
        if set(doc["versions"]) != set(npm.releases) or doc["dist-tags"]["latest"] != "2.0.0":
            raise RuntimeError(f"verdaccio serves {npm.name} wrong: {got.text[:500]}")
        if not got.headers.get("etag"):
            raise RuntimeError("verdaccio sent no ETag: warm checks could not revalidate")
    if pypi is None:
        return
    page = httpx.get(pypi.url, headers={"Accept": pypi.accept}, timeout=30)
    page.raise_for_status()
    stem = pypi.name.replace("-", "_")
    missing = [v for v in pypi.releases if f"{stem}-{v}-py3-none-any.whl" not in page.text]
    if missing:
        raise RuntimeError(f"pypiserver does not list {missing} of {pypi.name}: {page.text[:500]}")


# pypiserver as the test fixture starts it (backend simple-dir) lists and hashes its whole directory
# for every /simple/<project>/ request, ~0.1 s with 2,400 files here, and its wsgiref server listens
# with a backlog of 5, so 8 clients connecting at once get connect timeouts. The bench starts it
# with its own cached-dir backend (the listing and digests kept in memory; pypiserver uses it when
# its `cache` extra, watchdog, is installed: here nothing changes the directory while the bench
# runs, so nothing needs watching) and a backlog of 128. --stock-pypiserver runs it unchanged.
_PYPISERVER_LAUNCHER = """\
import socketserver
import sys

import pypiserver.cache


class Unwatched:  # the bench's package directory does not change while it runs
    def start(self):
        pass

    def schedule(self, *args, **kwargs):
        pass


pypiserver.cache.ENABLE_CACHING = True
pypiserver.cache.Observer = Unwatched
socketserver.TCPServer.request_queue_size = 128

from pypiserver.__main__ import main

sys.exit(main(sys.argv[1:]))
"""


class CachedPypiRegistry(PypiRegistry):
    """The fixture's pypiserver, with its cached-dir backend and a listen backlog of 128."""

    def command(self) -> list[str]:
        stock = super().command()
        launcher = self.workdir / "pypiserver_cached.py"
        launcher.write_text(_PYPISERVER_LAUNCHER)
        args = stock[1:]
        args[args.index("--backend") + 1] = "cached-dir"
        return [sys.executable, str(launcher), *args]


# ------------------------------------------------------------------------------ counting


@dataclass
class Tally:
    requests: int = 0
    bytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # transport errors (then retried) by type


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, tally: Tally) -> None:
        self.inner = inner
        self.tally = tally

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.tally.bytes += len(chunk)  # as received: before the client decompresses
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, counting requests, body bytes and statuses per registry."""

    def __init__(self, names: dict[str, str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()  # what AsyncClient() builds: same pool limits
        self.names = names  # port -> registry name
        self.tallies: dict[str, Tally] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tally = self.tallies.setdefault(self.names.get(str(request.url.port), "other"), Tally())
        tally.requests += 1
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            tally.errors[type(exc).__name__] = tally.errors.get(type(exc).__name__, 0) + 1
            raise
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CountedStream(response.stream, tally)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


# ------------------------------------------------------------------------------ passes


@dataclass
class Pass:
    n: int
    label: str
    seconds: float
    cpu: dict[str, float]  # CPU seconds during the pass: bench (the checks), verdaccio, pypiserver
    tallies: dict[str, Tally]
    problems: list[str] = field(default_factory=list)
    cache_hits: int | None = None  # checks answered from http.DEFAULT_CACHE after a 304
    fresh_hits: int | None = None  # checks answered from http.DEFAULT_CACHE without a request
    cache_held: tuple[int, int] = (0, 0)  # DEFAULT_CACHE after the pass: entries, bytes (compressed)

    @property
    def requests(self) -> int:
        return sum(t.requests for t in self.tallies.values())

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tallies.values())

    def status(self, code: int) -> int:
        return sum(t.statuses.get(code, 0) for t in self.tallies.values())

    @property
    def errors(self) -> str:
        found: dict[str, int] = {}
        for t in self.tallies.values():
            for name, count in t.errors.items():
                found[name] = found.get(name, 0) + count
        return ", ".join(f"{count} {name}" for name, count in sorted(found.items())) or "0"


REGISTRY_PIDS: dict[str, int] = {}  # verdaccio / pypiserver -> pid, for their CPU seconds
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process and by each registry (utime + stime)."""
    used = {"bench": time.process_time()}
    for name, pid in REGISTRY_PIDS.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / TICKS
    return used


async def in_workers(items: list[Package], work: Any) -> tuple[float, dict[str, float]]:
    """Run ``work(item)`` for every item, WORKERS at a time like the controller; the wall time and
    the CPU seconds each process used meanwhile."""
    queue: asyncio.Queue[Package] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    cpu = cpu_seconds()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    seconds = time.perf_counter() - start
    return seconds, {k: v - cpu[k] for k, v in cpu_seconds().items()}


PERIODIC = 24 * 3600.0  # updates.interval's default: how old a fresh answer a periodic check takes


async def checks(packages: list[Package], names: dict[str, str], label: str, max_age: float) -> Pass:
    """What the operator's update check does per package: catalog() then verdict(), taking fresh
    cached answers up to `max_age` seconds old (0: always ask, as for a check a user asked for)."""
    transport = CountingTransport(names)
    problems: list[str] = []
    hits, fresh_hits = http.DEFAULT_CACHE.hits, http.DEFAULT_CACHE.fresh_hits

    async def check(package: Package) -> None:
        try:
            found = await registries.catalog(
                package.kind,  # type: ignore[arg-type]
                package.name,
                registry=package.registry,
                client=client,
            )
        except registries.RegistryError as exc:
            problems.append(f"{package.name}: {exc}")
            return
        verdict = versions.verdict(
            package.kind,
            found.versions,
            latest=found.latest,
            constraint=NPM_CONSTRAINT if package.kind == "npm" else PYPI_CONSTRAINT,
            pin=PIN,
            policy=POLICY,
        )
        expected = (package.latest, package.allowed, package.allowed, True)
        got = (verdict.latest, verdict.allowed, verdict.policy_target, verdict.update_available)
        if got != expected:
            problems.append(f"{package.kind} {package.name}: verdict {got}, expected {expected}")

    async with httpx.AsyncClient(
        timeout=REGISTRY_TIMEOUT, follow_redirects=True, transport=transport
    ) as client:
        with http.fresh_answers(max_age):
            seconds, cpu = await in_workers(packages, check)
    return Pass(
        len(packages),
        label,
        seconds,
        cpu,
        transport.tallies,
        problems,
        http.DEFAULT_CACHE.hits - hits,
        http.DEFAULT_CACHE.fresh_hits - fresh_hits,
        (len(http.DEFAULT_CACHE), http.DEFAULT_CACHE.bytes),
    )


async def bare_gets(
    packages: list[Package], names: dict[str, str], label: str, validators: dict[str, dict[str, str]] | None
) -> tuple[Pass, dict[str, dict[str, str]]]:
    """The same URLs with a bare client: no parsing, no cache, no rate limit; the same bound of
    requests in flight per registry host as the checks, so the two see the same registry load. With
    ``validators``, each GET carries them (If-None-Match / If-Modified-Since): the floor of a warm
    check."""
    transport = CountingTransport(names)
    seen: dict[str, dict[str, str]] = {}
    in_flight = http.HostLimits(http.HostLimit(concurrency=http.HostLimit().concurrency, rate=None))

    async def get(package: Package) -> None:
        headers = {"Accept": package.accept, "User-Agent": http.USER_AGENT}
        if validators is not None:
            headers.update(validators.get(package.url, {}))
        for attempt in range(3):  # like fetch(): a kept-alive connection the server just closed is retried
            try:
                async with in_flight.gate(package.url).slot():
                    response = await client.get(package.url, headers=headers)
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
        if response.status_code not in (200, 304):
            raise RuntimeError(f"{package.url}: HTTP {response.status_code}")
        kept = {}
        if "etag" in response.headers:
            kept["If-None-Match"] = response.headers["etag"]
        if "last-modified" in response.headers:
            kept["If-Modified-Since"] = response.headers["last-modified"]
        seen[package.url] = kept

    async with httpx.AsyncClient(timeout=REGISTRY_TIMEOUT, transport=transport) as client:
        seconds, cpu = await in_workers(packages, get)
    return Pass(len(packages), label, seconds, cpu, transport.tallies), seen


def fresh_operator_state(limit: http.HostLimit) -> None:
    """A just-started operator: empty response cache, nothing learnt about PyPI indexes, full buckets."""
    http.DEFAULT_CACHE.clear()
    pypi_client._NO_JSON_API.clear()
    http.DEFAULT_HOST_LIMITS = http.HostLimits(limit)


async def measure(
    sizes: list[int],
    packages: list[Package],
    names: dict[str, str],
    limit_sets: list[str],
    profile: Path | None,
) -> tuple[dict[int, list[Pass]], dict[tuple[int, str], list[Pass]]]:
    baselines: dict[int, list[Pass]] = {}
    runs: dict[tuple[int, str], list[Pass]] = {}
    log("warm-up: one untimed pass of bare GETs over every URL")
    await bare_gets(packages, names, "warm-up", None)
    profiler = cProfile.Profile() if profile else None
    for n in sizes:
        subset = packages[:n]
        plain, validators = await bare_gets(subset, names, "bare GET", None)
        conditional, _ = await bare_gets(subset, names, "bare GET, conditional", validators)
        baselines[n] = [plain, conditional]
        for key in limit_sets:
            fresh_operator_state(LIMIT_SETS[key])
            profiling = profiler is not None and n == max(sizes) and key == limit_sets[-1]
            if profiling:
                assert profiler is not None
                profiler.enable()
            cold = await checks(subset, names, "checks, cold", PERIODIC)
            http.DEFAULT_HOST_LIMITS = http.HostLimits(LIMIT_SETS[key])  # full buckets for the warm pass too
            warm = await checks(subset, names, "checks, warm", PERIODIC)
            http.DEFAULT_HOST_LIMITS = http.HostLimits(LIMIT_SETS[key])
            asked = await checks(subset, names, "checks, asked", 0.0)
            if profiling:
                assert profiler is not None
                assert profile is not None
                profiler.disable()
                profiler.dump_stats(str(profile))
            runs[(n, key)] = [cold, warm, asked]
            log(
                f"N={n} limits={key}: cold {cold.seconds:.2f} s, warm {warm.seconds:.2f} s, "
                f"asked {asked.seconds:.2f} s, "
                f"bare GET {plain.seconds:.2f} s, conditional {conditional.seconds:.2f} s"
            )
    return baselines, runs


# ------------------------------------------------------------------------------ report


def describe(limit: http.HostLimit) -> str:
    rate = "no rate limit" if limit.rate is None else f"{limit.rate:g} requests/s (burst {limit.burst})"
    return f"{limit.concurrency} in flight, {rate}"


def rate_floor(limit: http.HostLimit, per_host: int) -> float:
    """Seconds the token bucket alone needs for ``per_host`` requests to one host from full."""
    if limit.rate is None:
        return 0.0
    return max(0, per_host - limit.burst) / limit.rate


def row_of(p: Pass) -> tuple[str, ...]:
    per_registry = " / ".join(f"{p.tallies.get(k, Tally()).requests}" for k in ("npm", "pypi"))
    return (
        p.label,
        f"{p.seconds:.2f} s",
        f"{p.seconds / p.n * 1000:.2f} ms",
        f"{p.requests} ({per_registry})",
        f"{p.bytes / 1024:.0f} KiB",
        f"{p.status(304)}" + ("" if p.cache_hits is None else f" ({p.cache_hits})"),
        "" if p.fresh_hits is None else f"{p.fresh_hits}",
        f"{p.status(404)}",
        p.errors,
        f"{len(p.problems)}",
        " / ".join(f"{p.cpu.get(k, 0):.2f}" for k in ("bench", "verdaccio", "pypiserver")),
    )


def report(
    mix: str,
    sizes: list[int],
    baselines: dict[int, list[Pass]],
    runs: dict[tuple[int, str], list[Pass]],
    keys: list[str],
) -> tuple[str, bool]:
    out = []
    ok = True
    header = (
        "pass",
        "time",
        "per package",
        "requests (npm / pypi)",
        "bytes received",
        "304s (from cache)",
        "fresh (no request)",
        "404s",
        "transport errors",
        "wrong verdicts",
        "CPU s: bench / verdaccio / pypiserver",
    )
    for n in sizes:
        rows = [header]
        plain, conditional = baselines[n]
        rows += [row_of(plain), row_of(conditional)]
        for key in keys:
            cold, warm, asked = runs[(n, key)]
            rows += [
                (f"limits {key}:", *[""] * (len(header) - 1)),
                row_of(cold),
                row_of(warm),
                row_of(asked),
            ]
        npm_n, pypi_n = split(n, mix)
        out.append(f"N = {n} ({npm_n} npm packages in verdaccio, {pypi_n} PyPI projects in pypiserver)")
        out.append(table(rows))
        lines = []
        for key in keys:
            cold, warm, asked = runs[(n, key)]
            limit = LIMIT_SETS[key]
            lines.append(
                f"  limits {key} ({describe(limit)} per registry host): "
                f"cold/warm {cold.seconds / warm.seconds:.1f}x; "
                f"checks cost {cold.seconds / plain.seconds:.1f}x a bare GET cold, "
                f"{asked.seconds / conditional.seconds:.1f}x a bare conditional GET when asked; "
                f"rate-limit floor {rate_floor(limit, max(npm_n, pypi_n)):.1f} s per pass"
            )
            passes = (cold, warm, asked, plain, conditional)
            per = {p.label: f"{p.cpu['bench'] / n * 1000:.2f} ms" for p in passes}
            lines.append(
                f"    bench CPU per package: checks cold {per['checks, cold']}, warm {per['checks, warm']}, "
                f"asked {per['checks, asked']}; "
                f"bare GET {per['bare GET']}, conditional {per['bare GET, conditional']}; "
                f"response cache after the warm pass: {warm.cache_held[0]} entries, "
                f"{warm.cache_held[1] / 2**20:.1f} MiB compressed"
            )
            for p in (cold, warm, asked):
                ok = ok and not p.problems
                for problem in p.problems[:5]:
                    lines.append(f"    wrong ({p.label}): {problem}")
            if n == GOAL_N:
                for p, goal in ((cold, GOALS["cold"]), (warm, GOALS["warm"])):
                    verdict = "PASS" if p.seconds < goal else "FAIL"
                    lines.append(
                        f"    goal: {n} packages {p.label.split(', ')[1]} under {goal:g} s: "
                        f"{verdict} ({p.seconds:.2f} s)"
                    )
        out.append("\n".join(lines))
    return "\n\n".join(out), ok


# ------------------------------------------------------------------------------ main


@contextmanager
def local_registries(
    workdir: Path, counts: tuple[int, int], releases: int, *, stock_pypiserver: bool = False
) -> Iterator[tuple[list[Package], dict[str, str]]]:
    npm_dir, pypi_dir = workdir / "verdaccio", workdir / "pypiserver"
    npm_dir.mkdir()
    pypi_dir.mkdir()
    npm = NpmRegistry(npm_dir)
    pypi = PypiRegistry(pypi_dir) if stock_pypiserver else CachedPypiRegistry(pypi_dir)
    started = time.monotonic()
    npm_packages = write_verdaccio_storage(npm_dir / "storage", npm.url, counts[0], releases)
    pypi_packages = write_pypi_directory(pypi.packages, pypi.url, counts[1], releases)
    log(
        f"generated {len(npm_packages)} npm packages and {len(pypi_packages)} PyPI projects in "
        f"{time.monotonic() - started:.1f} s"
    )
    try:
        npm.start()
        pypi.start()
        for end in (0, -1):
            verify_served(
                npm_packages[end] if npm_packages else None, pypi_packages[end] if pypi_packages else None
            )
        log(f"verdaccio on {npm.url}, pypiserver on {pypi.url}: both serve the generated packages")
        names = {str(npm.port): "npm", str(pypi.port): "pypi"}
        assert npm.process is not None
        assert pypi.process is not None
        REGISTRY_PIDS.update(verdaccio=npm.process.pid, pypiserver=pypi.process.pid)
        yield interleave(npm_packages, pypi_packages), names
    finally:
        npm.stop()
        pypi.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", default="100,1000", help="comma-separated numbers of packages (default 100,1000)"
    )
    parser.add_argument(
        "--mix",
        choices=("both", "npm", "pypi"),
        default="both",
        help="which registries the N packages are in: half each (default), or all in one",
    )
    parser.add_argument("--releases", type=int, default=12, help="releases per package, about (default 12)")
    parser.add_argument(
        "--limits",
        default="default,no-rate",
        help="host limits to measure, comma-separated: default (the operator's), no-rate (default: both)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the largest N's checks; print the top"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (registries, logs)")
    parser.add_argument(
        "--stock-pypiserver",
        action="store_true",
        help="run pypiserver exactly as the test fixture does (simple-dir backend, backlog 5): slow",
    )
    args = parser.parse_args(argv)
    sizes = sorted({int(x) for x in args.n.split(",") if x.strip()})
    keys = [k.strip() for k in args.limits.split(",") if k.strip()]
    if unknown := [k for k in keys if k not in LIMIT_SETS]:
        parser.error(f"unknown --limits {unknown}; use {', '.join(LIMIT_SETS)}")

    def terminate(signum: int, _: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    load = os.getloadavg()
    version = code_version()
    workdir = Path(tempfile.mkdtemp(prefix="mcp-bench-updates-"))
    profile = workdir / "checks.prof" if args.profile else None
    try:
        registries_at = local_registries(
            workdir, split(max(sizes), args.mix), args.releases, stock_pypiserver=args.stock_pypiserver
        )
        with registries_at as (packages, names):
            baselines, runs = asyncio.run(measure(sizes, packages, names, keys, profile))
        print(
            f"mcp-operator update-check benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end\n"
            f"{version}\n"
            f"checks: registries.catalog + versions.verdict, {WORKERS} at a time (the controller's workers), "
            f"about {args.releases} releases per package; local verdaccio + pypiserver\n"
        )
        text, ok = report(args.mix, sizes, baselines, runs, keys)
        print(text)
        if profile is not None:
            print(f"\n--- profile of the checks, N={max(sizes)}, limits {keys[-1]} ({profile}) ---")
            print(profile_summary(profile))
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        return 130
    finally:
        if args.keep or args.profile:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
