"""Benchmark: plain stdio vs our bridge vs supergateway vs mcp-proxy, at 1, 8 and 32 sessions.

Workload per session: initialize once, then `tools/call echo` of a small message in a loop for a
fixed time; plus one large payload (echo of --large-kb KiB) on one session. The MCP server is
@modelcontextprotocol/server-everything (node_modules/.bin). Clients are raw aiohttp (the same
load generator for every HTTP bridge), so the numbers compare the bridges, not client SDKs.

    .venv/bin/python bench/bridge.py                  # full run, about three minutes
    .venv/bin/python bench/bridge.py --seconds 1 --sessions 1 8   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER = [str(ROOT / "node_modules" / ".bin" / "mcp-server-everything")]
INIT = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "bench", "version": "1"},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def echo(request_id: int, message: str) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": message}},
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- clients -----------------------------------------------------------------------------------


class StdioSession:
    """The baseline: the bench speaks JSON-RPC to the server's stdin/stdout directly."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.ids = 0

    async def open(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *SERVER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=64 * 1024 * 1024,
        )
        await self.request({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT})
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _write(self, msg: dict[str, object]) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")

    async def request(self, msg: dict[str, object]) -> dict[str, object]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        self._write(msg)
        while True:
            reply = json.loads(await self.proc.stdout.readline())
            if reply.get("id") == msg["id"] and "method" not in reply:
                return reply  # type: ignore[no-any-return]

    async def call(self, message: str) -> dict[str, object]:
        self.ids += 1
        return await self.request(echo(self.ids, message))

    async def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            await self.proc.wait()


class HttpSession:
    """A Streamable HTTP client session (JSON or SSE responses, whichever the bridge picks)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.headers = dict(ACCEPT)
        self.ids = 0

    async def open(self) -> None:
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INIT}
        async with self.http.post(self.url, json=init, headers=self.headers) as response:
            response.raise_for_status()
            session_id = response.headers.get("Mcp-Session-Id")
            await self._parse(response, 0)
        if session_id:
            self.headers["Mcp-Session-Id"] = session_id
        self.headers["MCP-Protocol-Version"] = "2025-11-25"
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        async with self.http.post(self.url, json=note, headers=self.headers) as response:
            await response.read()

    async def _parse(self, response: aiohttp.ClientResponse, request_id: int) -> dict[str, object]:
        body = await response.read()
        if response.content_type == "text/event-stream":
            for line in body.split(b"\n"):
                if line.startswith(b"data:"):
                    msg = json.loads(line[5:])
                    if msg.get("id") == request_id and "method" not in msg:
                        return msg  # type: ignore[no-any-return]
            raise RuntimeError(f"no response in SSE body: {body[:200]!r}")
        return json.loads(body)  # type: ignore[no-any-return]

    async def call(self, message: str) -> dict[str, object]:
        self.ids += 1
        async with self.http.post(self.url, json=echo(self.ids, message), headers=self.headers) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:200]}")
            return await self._parse(response, self.ids)

    async def close(self) -> None:
        if "Mcp-Session-Id" in self.headers:
            async with self.http.delete(self.url, headers=self.headers) as response:
                await response.read()


# -- targets -----------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    argv: list[str] = field(default_factory=list)  # empty: plain stdio
    path: str = "/mcp"
    proc: asyncio.subprocess.Process | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Target]:
        if not self.argv:
            yield self
            return
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    await writer.wait_closed()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.proc.returncode is not None:
                        raise RuntimeError(f"{self.name} did not start: {' '.join(argv)}") from None
                    await asyncio.sleep(0.05)
            yield self
        finally:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def rss(self) -> int | None:
        return rss_kib(self.proc.pid) if self.proc is not None else None


def targets() -> list[Target]:
    server = " ".join(SERVER)
    return [
        Target("stdio (baseline)"),
        Target(
            "mcp-operator bridge",
            [
                str(BIN / "python"),
                "-m",
                "mcp_operator",
                "bridge",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--log-level",
                "warning",
                "--",
                *SERVER,
            ],
        ),
        Target(
            "supergateway",
            [
                str(ROOT / "node_modules" / ".bin" / "supergateway"),
                "--stdio",
                server,
                "--outputTransport",
                "streamableHttp",
                "--stateful",
                "--port",
                "{port}",
                "--logLevel",
                "none",
            ],
        ),
        Target(
            "mcp-proxy",
            [
                str(BIN / "mcp-proxy"),
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--log-level",
                "WARNING",
                "--",
                *SERVER,
            ],
        ),
    ]


# -- measurement -------------------------------------------------------------------------------


@dataclass
class Row:
    target: str
    sessions: int
    p50_ms: float
    p99_ms: float
    rps: float
    rss_mib: float | None
    errors: int


Client = StdioSession | HttpSession


async def open_sessions(target: Target, http: aiohttp.ClientSession, n: int) -> list[Client]:
    sessions: list[Client] = [
        StdioSession() if not target.argv else HttpSession(http, target.url) for _ in range(n)
    ]
    for i in range(0, n, 8):  # open in small groups: starting 32 servers at once thrashes 2 cores
        await asyncio.gather(*(s.open() for s in sessions[i : i + 8]))
    for s in sessions:  # warm-up
        for _ in range(5):
            await s.call("warm")
    return sessions


async def burst(sessions: list[Client], seconds: float) -> tuple[list[float], float, int]:
    """Every session calls echo in a loop for `seconds`; returns latencies, req/s and errors."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def loop(s: Client) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            reply = await s.call("hello")
            latencies.append(time.perf_counter() - t0)
            if "result" not in reply:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(s) for s in sessions))
    return latencies, len(latencies) / (time.perf_counter() - started), errors


async def measure_all(
    running: list[Target],
    http: aiohttp.ClientSession,
    n: int,
    args: argparse.Namespace,
    idle: dict[str, int | None],
) -> tuple[list[Row], dict[str, float | None]]:
    """Measure every target at `n` sessions, interleaving rounds so that load changes on the
    machine hit all targets alike; p50/p99 pool all rounds, req/s is the median round."""
    opened = {}
    for target in running:
        opened[target.name] = await open_sessions(target, http, n)
    per_session: dict[str, float | None] = {}
    for target in running:
        rss, base = target.rss(), idle[target.name]
        per_session[target.name] = (rss - base) / n if rss is not None and base is not None else None
    latencies: dict[str, list[float]] = {t.name: [] for t in running}
    rates: dict[str, list[float]] = {t.name: [] for t in running}
    errors = dict.fromkeys(latencies, 0)
    try:
        for round_no in range(args.rounds):
            order = running[round_no % len(running) :] + running[: round_no % len(running)]
            for target in order:
                lat, rps, err = await burst(opened[target.name], args.seconds)
                latencies[target.name] += lat
                rates[target.name].append(rps)
                errors[target.name] += err
        rows = []
        for target in running:
            q = statistics.quantiles(latencies[target.name], n=100, method="inclusive")
            rss = target.rss()
            rows.append(
                Row(
                    target.name,
                    n,
                    q[49] * 1000,
                    q[98] * 1000,
                    statistics.median(rates[target.name]),
                    rss / 1024 if rss is not None else None,
                    errors[target.name],
                )
            )
            print(
                f"#   {target.name}, {n} sessions: p50 {q[49] * 1000:.2f} ms, "
                f"{statistics.median(rates[target.name]):.0f} req/s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        for sessions in opened.values():
            await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
    return rows, per_session


async def large(target: Target, http: aiohttp.ClientSession, kib: int, count: int) -> float:
    session = StdioSession() if not target.argv else HttpSession(http, target.url)
    await session.open()
    message = "x" * (kib * 1024)
    times = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            reply = await session.call(message)
            times.append(time.perf_counter() - t0)
            assert "result" in reply, str(reply)[:200]
    finally:
        await session.close()
    return statistics.median(times) * 1000


async def run(args: argparse.Namespace) -> None:
    rows: list[Row] = []
    per_session: dict[str, float | None] = {}
    large_ms: dict[str, str] = {}
    chosen = [t for t in targets() if not args.only or t.name.split()[0] in args.only]
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        for target in chosen:
            await stack.enter_async_context(target.running())
        idle = {t.name: t.rss() for t in chosen}
        for n in args.sessions:
            print(f"# {n} sessions ...", file=sys.stderr, flush=True)
            cell_rows, cell_memory = await measure_all(chosen, http, n, args, idle)
            rows += cell_rows
            if n == max(args.sessions):
                per_session = cell_memory
        for target in chosen:
            for kib in args.large_kb:
                try:
                    ms = f"{await large(target, http, kib, args.large_count):.2f} ms"
                except Exception as exc:
                    ms = f"failed: {str(exc).splitlines()[0][:60]}"
                large_ms[f"{target.name}|{kib}"] = ms
    rows.sort(key=lambda r: ([t.name for t in chosen].index(r.target), r.sessions))
    report(rows, per_session, large_ms, args)


def report(
    rows: list[Row], per_session: dict[str, float | None], large_ms: dict[str, str], args: argparse.Namespace
) -> None:
    base = {r.sessions: r for r in rows if r.target.startswith("stdio")}
    competitors = ("supergateway", "mcp-proxy")
    best = {}
    for n in args.sessions:
        candidates = [r for r in rows if r.sessions == n and r.target in competitors]
        if candidates:
            best[n] = max(candidates, key=lambda r: r.rps)
    header = (
        f"{'target':<22}{'sess':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'RSS MiB':>9}"
        f"{'+p50 vs stdio':>15}{'rps/stdio':>11}{'err':>5}  {'rps vs best competitor'}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        b = base.get(r.sessions)
        added = f"{(r.p50_ms - b.p50_ms):+.2f} ms" if b and r is not b else ""
        vs_base = f"{r.rps / b.rps:.2f}x" if b and r is not b else ""
        c = best.get(r.sessions)
        vs_best = (
            f"{r.rps / c.rps:.2f}x ({c.target})" if c and r.target not in competitors and r is not b else ""
        )
        rss = f"{r.rss_mib:.1f}" if r.rss_mib is not None else "-"
        print(
            f"{r.target:<22}{r.sessions:>5}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.rps:>9.0f}{rss:>9}"
            f"{added:>15}{vs_base:>11}{r.errors:>5}  {vs_best}"
        )
    print()
    print(f"large payload (echo of N KiB, median latency of {args.large_count} calls):")
    for key, ms in large_ms.items():
        name, kib = key.split("|")
        print(f"  {name:<22}{kib:>6} KiB  {ms}")
    print()
    print(
        f"bridge process memory per session at {max(args.sessions)} sessions (RSS growth / sessions, "
        "children excluded):"
    )
    for name, kib in per_session.items():
        if kib is not None:
            print(f"  {name:<22}{kib / 1024:>9.2f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=2.0, help="measurement time per target and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per session count")
    parser.add_argument("--large-kb", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--large-count", type=int, default=10)
    parser.add_argument(
        "--only", nargs="*", help="run only these targets (stdio, mcp-operator, supergateway, mcp-proxy)"
    )
    args = parser.parse_args()
    os.environ.setdefault("NODE_NO_WARNINGS", "1")
    try:
        import uvloop  # the load generator's own overhead, kept low for every target alike
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
