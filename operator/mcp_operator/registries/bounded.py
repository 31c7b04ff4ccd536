"""Bounded reading of what registries send, so that a hostile or broken registry or artifact cannot
knock the operator over.

* Response bodies are streamed and counted as they arrive, after Content-Encoding decoding (done here,
  in pieces of at most :data:`CHUNK` bytes, so a gzip bomb stops at the cap instead of inflating in
  one call); a Content-Length over the cap is refused before any byte is read.
* Every request has a total deadline, body included: a server trickling a byte every few seconds never
  trips httpx's per-read timeout, but it does trip this.
* Archives (wheels, sdists) are inspected in memory, never extracted: member count, per-member and
  total uncompressed sizes are capped, sizes declared in headers are checked and so are the bytes
  actually read. Nothing is written to disk, so member paths (``../``, absolute, links) cannot
  escape anywhere.
* CPU-heavy work on big inputs (parsing JSON, hashing, inspecting archives) runs in a worker thread,
  so the event loop keeps serving everything else.

The caps live in :data:`DEFAULT_READ_LIMITS`, looked up at call time; the operator sets them at start
from MCP_OPERATOR_MAX_DOCUMENT_BYTES, MCP_OPERATOR_MAX_ARTIFACT_BYTES, MCP_OPERATOR_MAX_UNPACKED_BYTES
and MCP_OPERATOR_REGISTRY_DEADLINE (handlers/state.py).
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import io
import json
import struct
import tarfile
import threading
import zipfile
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from contextlib import aclosing, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import IO, Any, ParamSpec, TypeVar

import httpx

from mcp_operator.registries.errors import RegistryUnavailable, TooLarge, TooSlow

__all__ = [
    "CHUNK",
    "DEFAULT_READ_LIMITS",
    "Cap",
    "ReadLimits",
    "artifact_cap",
    "artifact_slot",
    "document_cap",
    "iter_decoded",
    "offload",
    "open_wheel",
    "parse_json",
    "read_body",
    "read_member",
    "receive",
    "sha256_hex",
    "streaming",
    "tar_files",
]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CHUNK = 64 * KiB  # the most one decoding or reading step produces

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class ReadLimits:
    """What the operator reads at most. Looked up at call time: the operator sets them at start."""

    # A registry document: npm packument, PyPI JSON or simple page, OCI manifest, tag list, config
    # blob, token. The largest real ones are full npm packuments (vite ~39 MB, next ~31 MB,
    # typescript ~16 MB; npm refuses more than 100 MB); the abbreviated ones the operator asks for
    # are 0.2-3 MB, but some mirrors send the full document anyway.
    document_bytes: int = 64 * MiB
    # An artifact the operator downloads to read its entry points (a PyPI wheel or sdist); PyPI's
    # default upload limit is 100 MB per file.
    artifact_bytes: int = 100 * MiB
    # What an inspected archive may unpack to in all: the sum of its members' sizes (zip), or the
    # decompressed stream (tar.gz).
    unpacked_bytes: int = 1 * GiB
    # Seconds one request may take in all, body included (per try).
    deadline: float = 120.0
    # Members of an inspected archive (real wheels and sdists hold hundreds to a few tens of thousands).
    members: int = 100_000
    # A metadata file read from an archive (entry_points.txt, pyproject.toml, setup.cfg), and any
    # single archive header.
    member_bytes: int = 1 * MiB
    # Inputs at least this big are parsed, hashed or inspected in a worker thread.
    offload_bytes: int = 512 * KiB
    # Artifacts downloaded and inspected at once: what they hold in memory together is at most this
    # times artifact_bytes.
    artifacts_at_once: int = 4


DEFAULT_READ_LIMITS = ReadLimits()


@dataclass(frozen=True)
class Cap:
    """A size cap with the setting that raises it, for messages."""

    bytes: int
    setting: str
    noun: str  # what kind of thing is capped, e.g. "a registry document"


def document_cap() -> Cap:
    return Cap(DEFAULT_READ_LIMITS.document_bytes, "MCP_OPERATOR_MAX_DOCUMENT_BYTES", "a registry document")


def artifact_cap() -> Cap:
    return Cap(DEFAULT_READ_LIMITS.artifact_bytes, "MCP_OPERATOR_MAX_ARTIFACT_BYTES", "an artifact")


def _size(n: int) -> str:
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if n >= unit:
            return f"{n / unit:.1f}".removesuffix(".0") + f" {name}"
    return f"{n} bytes"


def _too_large(what: str, where: str, cap: Cap, detail: str) -> TooLarge:
    return TooLarge(
        f"{what} from {where} is larger than {_size(cap.bytes)}, the most the operator reads of "
        f"{cap.noun} ({detail}); if the registry is right to send that much, raise {cap.setting} "
        f"(now {cap.bytes}), else check the registry"
    )


# --- Content-Encoding, decoded in bounded pieces ------------------------------------------------


class _Inflate:
    """One gzip or deflate coding; each step yields at most CHUNK bytes (zlib's max_length)."""

    def __init__(self, coding: str) -> None:
        self.gzip = coding == "gzip"
        self.z = zlib.decompressobj(zlib.MAX_WBITS | 16 if self.gzip else zlib.MAX_WBITS)
        self.started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self.z.decompress(data, CHUNK)
            except zlib.error:
                if self.gzip or self.started:
                    raise
                # Like httpx: "deflate" is sometimes sent without its zlib header.
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                self.started = True
                continue
            self.started = True
            if out:
                yield out
            data = self.z.unconsumed_tail
            if not data and len(out) < CHUNK:
                return

    def finish(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        rest = self.z.flush()  # everything was drained above: at most a few bytes
        if rest:
            yield rest


class _Decoding:
    """The codings of a Content-Encoding header, undone in reverse order, in bounded pieces. Codings
    httpx does not decode either (br, zstd without their libraries) are passed through, as httpx does."""

    def __init__(self, codings: list[str]) -> None:
        self.codings = [c.strip().lower() for c in codings if c.strip()]
        self.steps = [_Inflate(c) for c in reversed(self.codings) if c in {"gzip", "deflate"}]

    def _through(self, data: bytes, level: int) -> Iterator[bytes]:
        if level == len(self.steps):
            if data:
                yield data
            return
        for piece in self.steps[level].feed(data):
            yield from self._through(piece, level + 1)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(data, 0)

    def finish(self) -> Iterator[bytes]:
        for level, step in enumerate(self.steps):
            for piece in step.finish():
                yield from self._through(piece, level + 1)


async def iter_decoded(response: httpx.Response, *, what: str, where: str) -> AsyncGenerator[bytes, None]:
    """The body of a streamed response with its Content-Encoding undone, in pieces of at most CHUNK
    bytes however much one network read inflates to. Raises RegistryUnavailable for a corrupt body."""
    if response.is_stream_consumed:  # read in full already (a mock transport's ready-made response)
        for start in range(0, len(response.content), CHUNK):
            yield response.content[start : start + CHUNK]
        return
    decoding = _Decoding(response.headers.get_list("content-encoding", split_commas=True))
    since_yield = 0
    try:
        async for raw in response.aiter_raw():
            for piece in decoding.feed(raw):
                yield piece
                since_yield += len(piece)
                if since_yield >= 16 * CHUNK:  # a bomb inflates a lot per network read: let others run
                    since_yield = 0
                    await asyncio.sleep(0)
        for piece in decoding.finish():
            yield piece
    except zlib.error as exc:
        raise RegistryUnavailable(
            f"{what} from {where} could not be decoded (Content-Encoding {', '.join(decoding.codings)}: "
            f"{exc}); the registry or a proxy sent a corrupt body: the operator retries later"
        ) from None


async def read_body(response: httpx.Response, *, what: str, where: str, cap: Cap) -> bytes:
    """The decoded body of a streamed response, refused with TooLarge as soon as it passes the cap
    (counted after decoding, so a compression bomb stops there too)."""
    length = response.headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > cap.bytes:
        raise _too_large(what, where, cap, f"its Content-Length says {_size(int(length))}")
    body = bytearray()
    async with aclosing(iter_decoded(response, what=what, where=where)) as pieces:
        async for piece in pieces:
            if len(body) + len(piece) > cap.bytes:
                raise _too_large(what, where, cap, "reading stopped there")
            body.extend(piece)
    return bytes(body)


_DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@asynccontextmanager
async def streaming(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    follow_redirects: bool = True,
) -> AsyncIterator[httpx.Response]:
    """``client.stream(...)``, except that redirects are followed without reading their bodies
    (httpx reads each one in full, however big, before following it). The next request is the one
    httpx builds, so credentials are dropped on a change of origin as usual."""
    request = client.build_request(method, url, headers=headers)
    history: list[httpx.Response] = []
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        following = response.next_request if follow_redirects else None
        if following is None:
            break
        await response.aclose()
        history.append(response)
        if len(history) > client.max_redirects:
            raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=following)
        request = following
    response.history = history
    try:
        yield response
    finally:
        await response.aclose()


async def receive(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    what: str,
    where: str,
    cap: Cap,
    body_for: Callable[[int], bool] = lambda status: True,
    follow_redirects: bool = True,
    deadline: float | None = None,
) -> httpx.Response:
    """Send a request and read its body within ``cap`` and ``deadline`` seconds in all.

    Returns a complete response whose content is the decoded body (its headers lose
    Content-Encoding and Content-Length, which described the body as sent); statuses for which
    ``body_for`` is false get an empty body, unread, and so do redirects. Raises TooLarge, TooSlow,
    RegistryUnavailable (undecodable body) or httpx errors (TransportError, TooManyRedirects).
    """
    seconds = DEFAULT_READ_LIMITS.deadline if deadline is None else deadline
    timer = asyncio.timeout(seconds)
    try:
        async with (
            timer,
            streaming(client, method, url, headers=headers, follow_redirects=follow_redirects) as streamed,
        ):
            wanted = body_for(streamed.status_code)
            body = await read_body(streamed, what=what, where=where, cap=cap) if wanted else b""
    except TimeoutError:
        if not timer.expired():
            raise
        raise TooSlow(
            f"{what} from {where} did not arrive within {seconds:g} s; the registry is too slow or never "
            "finishes its answer: check it (the operator retries later), or raise "
            "MCP_OPERATOR_REGISTRY_DEADLINE if it is sound but slow"
        ) from None
    kept = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _DROPPED]
    return httpx.Response(
        streamed.status_code,
        headers=kept,
        content=body,
        request=streamed.request,
        history=streamed.history,
    )


# --- CPU off the loop -----------------------------------------------------------------------------


async def offload(size: int, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)`` in a worker thread when ``size`` (of its input) is big, else here."""
    if size < DEFAULT_READ_LIMITS.offload_bytes:
        return func(*args, **kwargs)
    return await asyncio.to_thread(func, *args, **kwargs)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(pairs)


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Cyclic garbage collection paused (process-wide, so counted across threads): a parse makes
    objects by the million, each collection it triggers walks the whole heap holding the GIL, and
    a JSON document makes no cycles for it to find. Reference counting frees as ever."""
    global _gc_holders, _gc_was_enabled  # noqa: PLW0603
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def _loads_sharing(content: bytes) -> Any:
    # json's C parser holds the GIL from start to end, so in a thread it would still stop the loop
    # for the whole parse; a Python-level hook per object gives the interpreter a point to switch
    # threads at (every 5 ms, sys.getswitchinterval()). It costs ~25% more time, off the loop.
    with _no_cyclic_gc():
        return json.loads(content, object_pairs_hook=_pairs)


async def parse_json(content: bytes) -> Any:
    """json.loads, in a worker thread (and sharing the GIL) for big documents. Raises ValueError."""
    if len(content) < DEFAULT_READ_LIMITS.offload_bytes:
        return json.loads(content)
    return await asyncio.to_thread(_loads_sharing, content)


async def sha256_hex(data: bytes) -> str:
    """sha256 of data, in a worker thread for big inputs (hashlib releases the GIL)."""
    return await offload(len(data), lambda: hashlib.sha256(data).hexdigest())


_ARTIFACT_SLOTS: dict[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]] = {}


@asynccontextmanager
async def artifact_slot() -> AsyncIterator[None]:
    """Hold one of the DEFAULT_READ_LIMITS.artifacts_at_once slots for downloading and inspecting an
    artifact, so that many resolves at once cannot hold many artifacts in memory together."""
    loop = asyncio.get_running_loop()
    wanted = max(1, DEFAULT_READ_LIMITS.artifacts_at_once)
    entry = _ARTIFACT_SLOTS.get(loop)
    if entry is None or entry[0] != wanted:
        for other in list(_ARTIFACT_SLOTS):
            if other.is_closed():
                _ARTIFACT_SLOTS.pop(other, None)
        entry = _ARTIFACT_SLOTS[loop] = (wanted, asyncio.Semaphore(wanted))
    async with entry[1]:
        yield


# --- archives, inspected in memory -----------------------------------------------------------------


def _unpack_too_large(what: str, limits: ReadLimits, declared: int | None = None) -> TooLarge:
    cap = _size(limits.unpacked_bytes)
    amount = (
        f"{_size(declared)} (its headers say), more than the {cap}"
        if declared is not None
        else f"more than {cap}, the most"
    )
    return TooLarge(
        f"{what} unpacks to {amount} the operator unpacks of an archive (a decompression bomb, or a "
        "huge package); pick another version, or raise MCP_OPERATOR_MAX_UNPACKED_BYTES "
        f"(now {limits.unpacked_bytes}) if the package is sound"
    )


def _too_many(what: str, limits: ReadLimits) -> TooLarge:
    return TooLarge(
        f"{what} holds more than {limits.members} files, more than the operator inspects of an "
        "archive; pick another version or check the registry"
    )


def _zip_directory_entries(data: bytes) -> int | None:
    """An upper bound of the entries in a zip's central directory, counted before zipfile parses it
    (it makes an object per entry), or None when there is no end record (zipfile refuses it)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        return None
    _, _, _, _, total, size, offset, _ = struct.unpack("<4s4H2LH", data[end : end + 22])
    top = end
    if total == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:
        record = end - 20 - 56  # zip64: locator, then end record, before the classic end record
        if (
            record >= 0
            and data[end - 20 : end - 16] == b"PK\x06\x07"
            and data[record : record + 4] == b"PK\x06\x06"
        ):
            size = struct.unpack("<Q", data[record + 40 : record + 48])[0]
            top = record
    # zipfile reads the directory from just below the end record(s); every entry starts with
    # PK\x01\x02, so counting those over-counts at worst.
    return data.count(b"PK\x01\x02", max(0, top - size), top)


def open_wheel(data: bytes, *, what: str, limits: ReadLimits | None = None) -> zipfile.ZipFile:
    """A zip archive in memory whose member count and declared unpacked size are within the caps."""
    limits = limits or DEFAULT_READ_LIMITS
    entries = _zip_directory_entries(data)
    if entries is not None and entries > limits.members:
        raise _too_many(what, limits)
    archive = zipfile.ZipFile(io.BytesIO(data))
    try:
        infos = archive.infolist()
        if len(infos) > limits.members:
            raise _too_many(what, limits)
        declared = sum(info.file_size for info in infos)
        if declared > limits.unpacked_bytes:
            raise _unpack_too_large(what, limits, declared)
    except BaseException:
        archive.close()
        raise
    return archive


def read_member(
    handle: IO[bytes], *, declared: int, what: str, name: str, limits: ReadLimits | None = None
) -> bytes:
    """A small (metadata) member, read in chunks: refused when its header or its bytes pass the cap."""
    limits = limits or DEFAULT_READ_LIMITS
    cap = limits.member_bytes
    if declared > cap:
        raise TooLarge(
            f"{what}: its {name} is {_size(declared)}, more than the {_size(cap)} the operator reads of a "
            "metadata file; pick another version or check the registry"
        )
    out = bytearray()
    while chunk := handle.read(CHUNK):
        out.extend(chunk)
        if len(out) > cap:
            raise TooLarge(
                f"{what}: its {name} unpacks to more than {_size(cap)} although its header says "
                f"{_size(declared)}; the archive is broken or hostile: pick another version"
            )
    return bytes(out)


class _Gunzip:
    """The decompressed stream of a .tar.gz for tarfile: counted (TooLarge past the unpacked cap),
    read in bounded steps, any single read (an archive header) at most member_bytes; seeks go forward
    only, by reading."""

    def __init__(self, data: bytes, what: str, limits: ReadLimits) -> None:
        self._gz = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
        self._pos = 0
        self._what = what
        self._limits = limits

    def _read(self, n: int) -> bytes:
        chunk = self._gz.read(n)
        self._pos += len(chunk)
        if self._pos > self._limits.unpacked_bytes:
            raise _unpack_too_large(self._what, self._limits)
        return chunk

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0 or n > max(self._limits.member_bytes, CHUNK):
            raise TooLarge(
                f"{self._what} has an archive header or read of {n} bytes, more than the "
                f"{_size(self._limits.member_bytes)} the operator reads at once; the archive is broken "
                "or hostile: pick another version"
            )
        return self._read(n)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or offset < self._pos:
            raise OSError("the archive is read forward only")
        while self._pos < offset:
            if not self._read(min(CHUNK, offset - self._pos)):
                break
        return self._pos

    def close(self) -> None:
        self._gz.close()


def tar_files(
    data: bytes, *, what: str, wanted: Callable[[str], bool], limits: ReadLimits | None = None
) -> Generator[tuple[str, bytes], None, None]:
    """(name, content) of the regular files of a .tar.gz that ``wanted`` picks, in archive order.

    One forward pass over the decompressed stream, which is capped; members are counted, and the ones
    picked are read with :func:`read_member`. Nothing is extracted.
    """
    limits = limits or DEFAULT_READ_LIMITS
    stream = _Gunzip(data, what, limits)
    try:
        with tarfile.open(fileobj=stream, mode="r:") as archive:  # type: ignore[call-overload]
            count = 0
            while (member := archive.next()) is not None:
                count += 1
                if count > limits.members:
                    raise _too_many(what, limits)
                archive.members.clear()  # one pass: keep no list of everything seen
                if member.isfile() and wanted(member.name):
                    handle = archive.extractfile(member)
                    if handle is None:  # pragma: no cover - isfile() guarantees a handle
                        continue
                    yield (
                        member.name,
                        read_member(handle, declared=member.size, what=what, name=member.name, limits=limits),
                    )
    finally:
        stream.close()
