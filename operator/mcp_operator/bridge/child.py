"""One stdio MCP server process: spawn, line-framed I/O, stderr logging, termination."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence

log = logging.getLogger("mcp_operator.bridge.child")
STDERR_TAIL_LINES = 5  # kept to say why a server that died at start died
STDERR_TAIL_CHARS = 300

OnMessage = Callable[[bytes], None]
OnExit = Callable[["Child", int | None, str], None]


class ChildGone(Exception):
    """Writing to a child failed because it has exited or closed its stdin."""


class Child:
    """A child process speaking newline-delimited JSON-RPC on stdin/stdout.

    Messages from stdout are handed to `on_message` as raw bytes (no parsing here); `on_exit`
    is called exactly once, after stdout has closed and the process has been reaped.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        label: str,
        on_message: OnMessage,
        on_exit: OnExit,
        max_line: int,
    ) -> None:
        self.command = list(command)
        self.label = label
        self._on_message = on_message
        self._on_exit = on_exit
        self._max_line = max_line
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._exited = asyncio.Event()
        self.returncode: int | None = None
        self.exit_reason = ""
        self.stopping = False
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._exited.is_set()

    async def start(self) -> None:
        """Spawn the process in its own process group (so grandchildren are terminated too).

        Cancelled while spawning (the bridge stops during a readiness check), it still ends the
        process it may have started: a spawn is shielded, then killed and reaped."""
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=self._max_line,
                start_new_session=True,
            )
        )
        try:
            self._proc = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                orphan = await spawn
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(orphan.pid, signal.SIGKILL)
                await orphan.wait()
            raise
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name=f"bridge-stdout-{self.label}"),
            asyncio.create_task(self._read_stderr(), name=f"bridge-stderr-{self.label}"),
        ]

    def send(self, data: bytes) -> None:
        """Queue one message (without its newline) for the child's stdin."""
        proc = self._proc
        if proc is None or proc.stdin is None or self._exited.is_set() or proc.stdin.is_closing():
            raise ChildGone(f"MCP server process {self.label} is not running")
        proc.stdin.write(data + b"\n")

    async def drain(self) -> None:
        """Wait for stdin's buffer to flush; raises ChildGone if the pipe broke."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise ChildGone(f"MCP server process {self.label} is not running")
        try:
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ChildGone(f"MCP server process {self.label} closed its stdin") from exc

    async def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        reason = "exited"
        try:
            while True:
                try:
                    line = await proc.stdout.readline()
                except ValueError:
                    reason = f"wrote a message larger than {self._max_line} bytes"
                    log.error("session %s: MCP server %s; stopping it", self.label, reason)
                    self._kill(signal.SIGKILL)
                    break
                if not line:
                    break
                line = line.strip()
                if line:
                    self._on_message(line)
        finally:
            self.returncode = await proc.wait()
            for task in self._tasks[1:]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if proc.stdin is not None:
                proc.stdin.close()
            self.exit_reason = reason
            self._exited.set()
            self._on_exit(self, self.returncode, reason)

    async def _read_stderr(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stderr is not None
        while True:
            try:
                line = await proc.stderr.readline()
            except ValueError:
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text[:STDERR_TAIL_CHARS])
            log.info("session %s stderr: %s", self.label, text)

    def _kill(self, sig: int) -> None:
        proc = self._proc
        if proc is None or self._exited.is_set():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    async def stop(self, grace: float = 2.0) -> None:
        """Close stdin, then SIGTERM, then SIGKILL the process group; returns once reaped."""
        proc = self._proc
        if proc is None:
            return
        if not self._exited.is_set():
            self.stopping = True
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    async with asyncio.timeout(grace):
                        await self._exited.wait()
                    break
                except TimeoutError:
                    self._kill(sig)
            await self._exited.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait(self) -> int | None:
        await self._exited.wait()
        return self.returncode
