"""Hostile or broken registries and artifacts cannot knock the operator over (issue 10): bodies are
capped while they stream (compression bombs included), every request has a total deadline, archives
are inspected within caps, and big parses run off the event loop.

Every case must fail fast, with the error that names the cap, in bounded memory (tracemalloc's peak
counts what Python allocates, worker threads included).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fixtures import bombs
from tests.fixtures.pkgbuild import build_sdist, build_wheel

from mcp_operator import installer
from mcp_operator.handlers import state
from mcp_operator.registries import bounded, errors, http, pypi
from mcp_operator.registries.integrity import parse_integrity
from mcp_operator.registries.npm import NpmClient
from mcp_operator.registries.pypi import PyFile, PypiClient

MiB = 1024 * 1024
URL = "https://registry.example/thing"
ONE_TRY = http.RetryPolicy(attempts=1)


@dataclass
class Cost:
    seconds: float = 0.0
    peak: int = 0  # bytes Python allocated at most meanwhile


@contextmanager
def measured() -> Iterator[Cost]:
    cost = Cost()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        yield cost
    finally:
        cost.seconds = time.perf_counter() - started
        cost.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def serving(body: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client whose every request is answered 200 with ``body`` (bytes, or an async iterable
    streamed as it is produced, as a real server's would be)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))
        return httpx.Response(200, headers=headers, content=body)

    return client_for(handler)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> bounded.ReadLimits:
    """The process-wide caps, restored after the test."""
    for name, value in vars(bounded.ReadLimits()).items():
        monkeypatch.setattr(bounded.DEFAULT_READ_LIMITS, name, value)
    return bounded.DEFAULT_READ_LIMITS


# --- documents: endless, trickling, compression bombs, Content-Length ---------------------------


async def test_endless_response_stops_at_the_document_cap(limits: bounded.ReadLimits) -> None:
    endless = bombs.Endless()
    async with serving(endless) as client:
        with measured() as cost, pytest.raises(errors.TooLarge) as caught:
            await http.fetch(client, URL, what="npm package 'x'", retry=ONE_TRY)
    message = str(caught.value)
    assert "npm package 'x' from https://registry.example/thing is larger than 64 MiB" in message
    assert "raise MCP_OPERATOR_MAX_DOCUMENT_BYTES (now 67108864)" in message
    assert endless.served <= limits.document_bytes + MiB  # it stopped reading there
    assert cost.seconds < 10
    assert cost.peak < 2.5 * limits.document_bytes


async def test_document_cap_is_settable(limits: bounded.ReadLimits) -> None:
    limits.document_bytes = 1 * MiB
    endless = bombs.Endless()
    async with serving(endless) as client:
        with measured() as cost, pytest.raises(errors.TooLarge, match=r"larger than 1 MiB"):
            await http.fetch(client, URL, what="thing", retry=ONE_TRY)
    assert endless.served <= 2 * MiB
    assert cost.peak < 4 * MiB


async def test_trickling_response_hits_the_deadline(limits: bounded.ReadLimits) -> None:
    limits.deadline = 0.5
    trickle = bombs.Endless(b"{", delay=0.05, safety=200)  # a byte every 50 ms: no read timeout trips
    async with serving(trickle) as client:
        started = time.perf_counter()
        with pytest.raises(errors.TooSlow) as caught:
            await http.fetch(client, URL, what="PyPI project 'x'", retry=ONE_TRY)
    assert time.perf_counter() - started < 3
    assert caught.value.transient
    assert caught.value.reason == "RegistryUnavailable"
    assert "did not arrive within 0.5 s" in str(caught.value)
    assert "MCP_OPERATOR_REGISTRY_DEADLINE" in str(caught.value)
    assert trickle.served < 200


async def test_gzip_content_encoding_bomb_stops_at_the_cap(limits: bounded.ReadLimits) -> None:
    limits.document_bytes = 8 * MiB
    bomb = bombs.EndlessGzip()  # ~1 KiB on the wire per MiB it inflates to; up to 512 MiB
    async with serving(bomb, {"Content-Encoding": "gzip", "Content-Type": "application/json"}) as client:
        with measured() as cost, pytest.raises(errors.TooLarge, match="larger than 8 MiB"):
            await http.fetch(client, URL, what="npm package 'x'", retry=ONE_TRY)
    assert bomb.served <= 16 * MiB
    assert cost.peak < 3 * limits.document_bytes
    assert cost.seconds < 5


async def test_stacked_content_encodings_are_decoded_in_bounded_pieces(limits: bounded.ReadLimits) -> None:
    limits.document_bytes = 4 * MiB
    once = bombs.gzip_zeros(256)  # 256 MiB of zeros in ~256 KiB
    twice = bombs.gzip_wrap(*_deflated(once))  # and that in a few KiB: each network read is a bomb
    async with serving(twice, {"Content-Encoding": "gzip, gzip"}) as client:
        with measured() as cost, pytest.raises(errors.TooLarge):
            await http.fetch(client, URL, what="thing", retry=ONE_TRY)
    assert cost.peak < 4 * limits.document_bytes


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data)


async def test_gzip_documents_still_decode(limits: bounded.ReadLimits) -> None:
    import gzip

    doc = {"name": "x", "versions": {f"1.0.{i}": {"dist": {}} for i in range(1000)}}
    raw = json.dumps(doc).encode()
    for coding, body in [("gzip", gzip.compress(raw)), ("deflate", _deflated(raw)[0]), ("identity", raw)]:
        async with serving(body, {"Content-Encoding": coding}) as client:
            fetched = await http.fetch(client, URL, what="thing", retry=ONE_TRY)
        assert fetched.json() == doc
        assert "content-encoding" not in {k.lower() for k in fetched.headers}


async def test_corrupt_gzip_is_a_clear_transient_error(limits: bounded.ReadLimits) -> None:
    async with serving(b"this is not gzip", {"Content-Encoding": "gzip"}) as client:
        with pytest.raises(errors.RegistryUnavailable, match="could not be decoded"):
            await http.fetch(client, URL, what="thing", retry=ONE_TRY)


async def test_content_length_over_the_cap_is_refused_before_reading(limits: bounded.ReadLimits) -> None:
    endless = bombs.Endless(delay=0.01)
    async with serving(endless, {"Content-Length": str(10 * 1024 * MiB)}) as client:
        started = time.perf_counter()
        with pytest.raises(errors.TooLarge, match=r"its Content-Length says 10 GiB"):
            await http.fetch(client, URL, what="thing", retry=ONE_TRY)
    assert endless.served == 0
    assert time.perf_counter() - started < 1


async def test_error_bodies_are_not_read(limits: bounded.ReadLimits) -> None:
    endless = bombs.Endless(delay=0.01)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=endless)

    async with client_for(handler) as client:
        with pytest.raises(errors.RegistryUnavailable, match="HTTP 500"):
            await http.fetch(client, URL, what="thing", retry=ONE_TRY)
    assert endless.served == 0


async def test_redirect_bodies_are_not_read(limits: bounded.ReadLimits) -> None:
    endless = bombs.Endless(delay=0.01)  # httpx itself would read it whole before following

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/thing":
            return httpx.Response(302, headers={"Location": "/moved"}, content=endless)
        if request.url.path == "/loop":
            return httpx.Response(302, headers={"Location": "/loop"}, content=endless)
        return httpx.Response(200, json={"ok": True})

    async with client_for(handler) as client:
        fetched = await http.fetch(client, URL, what="thing", retry=ONE_TRY)
        assert fetched.json() == {"ok": True}
        assert fetched.url == "https://registry.example/moved"
        with pytest.raises(httpx.TooManyRedirects):
            await http.fetch(client, "https://registry.example/loop", what="thing", retry=ONE_TRY)
    assert endless.served == 0


# --- artifacts: downloads and archives ------------------------------------------------------------


def wheel_file(data: bytes, name: str = "demo-1.0-py3-none-any.whl") -> PyFile:
    return PyFile(name, f"https://files.example/{name}", hashlib.sha256(data).hexdigest(), "1.0")


async def command_of(data: bytes, name: str = "demo-1.0-py3-none-any.whl") -> tuple[str, ...]:
    pypi._COMMAND_CACHE.clear()
    async with serving(data) as client:
        return await PypiClient(client, "https://pypi.example", cache=None).command_of(
            "demo", wheel_file(data, name)
        )


async def test_zip_bomb_entry_points_is_refused_by_its_header(limits: bounded.ReadLimits) -> None:
    limits.unpacked_bytes = 2 * 1024 * MiB  # so that the member's own cap is what refuses it
    wheel = bombs.zip_bomb_wheel(bomb="demo-1.0.dist-info/entry_points.txt", mib=1024)
    assert len(wheel) < 2 * MiB
    with measured() as cost, pytest.raises(errors.TooLarge) as caught:
        await command_of(wheel)
    assert "entry_points.txt is 1 GiB, more than the 1 MiB the operator reads of a metadata file" in str(
        caught.value
    )
    assert cost.seconds < 5
    assert cost.peak < 16 * MiB


async def test_zip_bomb_with_a_lying_size_header(limits: bounded.ReadLimits) -> None:
    # The headers claim 40 bytes; the member inflates to 1 GiB. Read in chunks and counted, it is
    # refused after at most the declared size (zipfile stops there and finds the CRC wrong).
    wheel = bombs.zip_bomb_wheel(bomb="demo-1.0.dist-info/entry_points.txt", mib=1024, declared=40)
    with (
        measured() as cost,
        pytest.raises(errors.InvalidPackage, match=r"not a readable archive|unpacks to more"),
    ):
        await command_of(wheel)
    assert cost.seconds < 5
    assert cost.peak < 16 * MiB


def test_member_reads_are_counted_whatever_the_header_says() -> None:
    import io

    limits = bounded.ReadLimits(member_bytes=1000)
    with pytest.raises(errors.TooLarge, match="unpacks to more than 1000 bytes although its header says 10"):
        bounded.read_member(io.BytesIO(bytes(5000)), declared=10, what="w", name="m", limits=limits)


async def test_zip_bomb_data_member_over_the_unpacked_cap(limits: bounded.ReadLimits) -> None:
    limits.unpacked_bytes = 512 * MiB
    wheel = bombs.zip_bomb_wheel(bomb="demo/data.bin", mib=1024)
    with measured() as cost, pytest.raises(errors.TooLarge) as caught:
        await command_of(wheel)
    assert "unpacks to 1 GiB (its headers say)" in str(caught.value)
    assert "MCP_OPERATOR_MAX_UNPACKED_BYTES" in str(caught.value)
    assert cost.seconds < 5
    assert cost.peak < 16 * MiB


async def test_zip_with_too_many_members_is_refused_before_parsing(limits: bounded.ReadLimits) -> None:
    archive = bombs.zip_with_members(limits.members + 50_000)  # its end record claims 0 entries
    with measured() as cost, pytest.raises(errors.TooLarge, match="holds more than 100000 files"):
        await command_of(archive)
    assert cost.seconds < 5
    assert cost.peak < 2 * len(archive) + 8 * MiB  # the download, and no object per entry


async def test_tar_gz_bomb_stops_at_the_unpacked_cap(limits: bounded.ReadLimits) -> None:
    sdist = bombs.tar_gz_bomb(2048)  # 2 GiB of zeros in ~2 MiB
    assert len(sdist) < 4 * MiB
    with measured() as cost, pytest.raises(errors.TooLarge) as caught:
        await command_of(sdist, "demo-1.0.tar.gz")
    assert "unpacks to more than 1 GiB, the most the operator unpacks of an archive" in str(caught.value)
    assert cost.peak < 16 * MiB
    assert cost.seconds < 20  # 1 GiB inflated, in a worker thread


def test_tar_with_too_many_members() -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for i in range(60):
            archive.addfile(tarfile.TarInfo(f"demo-1.0/f{i}"), io.BytesIO(b""))
    with pytest.raises(errors.TooLarge, match="holds more than 50 files"):
        pypi.scripts_from_sdist(buffer.getvalue(), limits=bounded.ReadLimits(members=50))


def test_tar_with_a_huge_pax_header() -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("demo-1.0/pyproject.toml")
        info.pax_headers = {"comment": "x" * (2 * MiB)}
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(errors.TooLarge, match="archive header or read of"):
        pypi.scripts_from_sdist(buffer.getvalue())


def test_sdist_metadata_over_the_member_cap() -> None:
    sdist = build_sdist("demo", "1.0", console_scripts={"demo": "demo:main"})
    assert pypi.scripts_from_sdist(sdist.data) == ["demo"]
    with pytest.raises(errors.TooLarge, match="more than the 10 bytes the operator reads of a metadata file"):
        pypi.scripts_from_sdist(sdist.data, limits=bounded.ReadLimits(member_bytes=10))


async def test_real_artifacts_still_work(limits: bounded.ReadLimits) -> None:
    wheel = build_wheel("demo", "1.0", console_scripts={"demo": "demo:main"})
    assert await command_of(wheel.data) == ("demo",)
    sdist = build_sdist("demo", "1.0", console_scripts={"demo-cli": "demo:main"})
    assert await command_of(sdist.data, "demo-1.0.tar.gz") == ("demo-cli",)


async def test_endless_artifact_download_stops_at_the_artifact_cap(limits: bounded.ReadLimits) -> None:
    limits.artifact_bytes = 4 * MiB
    endless = bombs.Endless()
    pypi._COMMAND_CACHE.clear()
    async with serving(endless) as client:
        index = PypiClient(client, "https://pypi.example", cache=None)
        with measured() as cost, pytest.raises(errors.TooLarge) as caught:
            await index.command_of("demo", wheel_file(b"x"))
    assert "raise MCP_OPERATOR_MAX_ARTIFACT_BYTES (now 4194304)" in str(caught.value)
    assert endless.served <= 5 * MiB
    assert cost.peak < 16 * MiB


# --- the init container's download ------------------------------------------------------------------


async def test_installer_download_bomb_and_trickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = parse_integrity("sha256:" + "0" * 64)
    monkeypatch.setattr(installer, "MAX_ARTIFACT_BYTES", 8 * MiB)
    bomb = bombs.EndlessGzip()
    async with serving(bomb, {"Content-Encoding": "gzip"}) as client:
        with measured() as cost, pytest.raises(installer.InstallFailed, match="larger than 8388608 bytes"):
            await installer.download(client, URL, tmp_path / "a", expected, headers={}, retry=ONE_TRY)
    assert bomb.served <= 16 * MiB
    assert cost.peak < 16 * MiB

    async with serving(b"x", {"Content-Length": str(9 * MiB)}) as client:
        with pytest.raises(installer.InstallFailed, match="its Content-Length says"):
            await installer.download(client, URL, tmp_path / "b", expected, headers={}, retry=ONE_TRY)

    monkeypatch.setattr(installer, "DOWNLOAD_DEADLINE", 0.3)
    trickle = bombs.Endless(b"x", delay=0.05, safety=200)
    async with serving(trickle) as client:
        with pytest.raises(installer.InstallFailed, match=r"did not finish within 0\.3 s"):
            await installer.download(client, URL, tmp_path / "c", expected, headers={}, retry=ONE_TRY)
    assert trickle.served < 200


# --- CPU off the loop ---------------------------------------------------------------------------------


def big_packument(versions: int = 8000) -> bytes:
    """A packument shaped like a real full one (typescript's is ~16 MB)."""
    doc: dict[str, Any] = {"name": "big", "dist-tags": {"latest": f"1.0.{versions - 1}"}, "versions": {}}
    for i in range(versions):
        version = f"1.0.{i}"
        doc["versions"][version] = {
            "name": "big",
            "version": version,
            "description": "a package with a long history " * 2,
            "dependencies": {f"dep-{j}": f"^{j}.0.0" for j in range(15)},
            "devDependencies": {f"dev-{j}": f"^{j}.1.0" for j in range(30)},
            "bin": {"big": "bin/big.js"},
            "maintainers": [{"name": f"m{k}", "email": f"m{k}@example.com"} for k in range(4)],
            "dist": {
                "tarball": f"https://registry.example/big/-/big-{version}.tgz",
                "integrity": "sha512-" + "A" * 86 + "==",
                "shasum": "0" * 40,
            },
        }
    return json.dumps(doc).encode()


async def max_lag_during(work: Callable[[], Awaitable[object]]) -> float:
    """The longest the event loop was late for a 1 ms tick while `work` ran, in seconds."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.001)
            lags.append(loop.time() - before - 0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    try:
        await work()
    finally:
        done.set()
        await task
    return max(lags)


async def test_the_loop_stays_responsive_while_a_big_packument_is_parsed(limits: bounded.ReadLimits) -> None:
    body = big_packument()
    assert len(body) > 11 * MiB
    started = time.perf_counter()
    json.loads(body)
    inline = time.perf_counter() - started  # what parsing on the loop would block it for

    async with serving(body, {"Content-Type": "application/json"}) as client:
        npm = NpmClient(client, "https://registry.example", cache=None, retry=ONE_TRY)
        lag = await max_lag_during(lambda: npm.resolve("big", "latest"))
    size = len(body) / MiB
    print(f"\n{size:.1f} MiB packument: json.loads {inline * 1000:.0f} ms, loop lag {lag * 1000:.0f} ms")
    assert lag < max(0.05, inline / 3)


async def test_small_documents_are_parsed_inline(
    limits: bounded.ReadLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_thread(*_: object, **__: object) -> None:
        raise AssertionError("a small document went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    assert await bounded.parse_json(b'{"a": 1}') == {"a": 1}
    assert await bounded.sha256_hex(b"x") == hashlib.sha256(b"x").hexdigest()


async def test_hashing_a_big_artifact_leaves_the_loop_free(limits: bounded.ReadLimits) -> None:
    data = bytes(200 * MiB)
    lag = await max_lag_during(lambda: bounded.sha256_hex(data))
    assert lag < 0.05


# --- settings --------------------------------------------------------------------------------------


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    tuning = state.tuning_from_env()
    assert tuning.max_document_bytes == 64 * MiB
    assert tuning.max_artifact_bytes == 100 * MiB
    assert tuning.max_unpacked_bytes == 1024 * MiB
    assert tuning.registry_deadline == 120
    monkeypatch.setenv("MCP_OPERATOR_MAX_DOCUMENT_BYTES", str(128 * MiB))
    monkeypatch.setenv("MCP_OPERATOR_MAX_ARTIFACT_BYTES", "1000")
    monkeypatch.setenv("MCP_OPERATOR_MAX_UNPACKED_BYTES", "2000")
    monkeypatch.setenv("MCP_OPERATOR_REGISTRY_DEADLINE", "30")
    tuning = state.tuning_from_env()
    assert (tuning.max_document_bytes, tuning.max_artifact_bytes) == (128 * MiB, 1000)
    assert (tuning.max_unpacked_bytes, tuning.registry_deadline) == (2000, 30)
    monkeypatch.setenv("MCP_OPERATOR_MAX_DOCUMENT_BYTES", "lots")
    with pytest.raises(SystemExit, match="MCP_OPERATOR_MAX_DOCUMENT_BYTES='lots' is not a number"):
        state.tuning_from_env()
