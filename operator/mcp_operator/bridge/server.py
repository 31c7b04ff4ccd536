"""Running the app: bind, serve until stopped, then drain."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from mcp_operator.bridge.app import BRIDGE, Bridge, create_app
from mcp_operator.bridge.config import BridgeConfig

log = logging.getLogger("mcp_operator.bridge")


class BridgeServer:
    """One bridge listening on a socket. `port=0` picks a free port (see `url`)."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.app = create_app(config)
        self.runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        self.port = config.port
        self._stopped = False

    @property
    def bridge(self) -> Bridge:
        return self.app[BRIDGE]

    @property
    def url(self) -> str:
        host = self.config.host if self.config.host not in {"0.0.0.0", "::", ""} else "127.0.0.1"  # noqa: S104
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port)
        await site.start()
        server: Any = site._server
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info(
            "bridge listening on %s:%s%s (%s mode), serving: %s",
            self.config.host or "*",  # as bound: 0.0.0.0 in a pod, not the loopback `url` shows
            self.port,
            self.config.path,
            self.config.session_mode,
            " ".join(self.config.command),
        )

    async def stop(self, grace: float | None = None) -> None:
        """Drain (refuse new sessions, let in-flight requests finish), stop children, close."""
        if self._stopped:
            return
        self._stopped = True
        await self.bridge.probe.close()  # a readiness check in flight must not outlive the bridge
        await self.bridge.registry.drain(self.config.drain_grace if grace is None else grace)
        await self.runner.cleanup()

    async def __aenter__(self) -> BridgeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


TERMINATION_LOG = Path("/dev/termination-log")  # the kubelet's default terminationMessagePath
EXIT_SERVER_CRASHED = 3
EXIT_COMMAND_NOT_FOUND = 4  # the MCP server's command is not installed: the package is missing or broken


def write_termination_message(message: str, path: Path | None = None) -> None:
    """Where the kubelet reads why a container ended (pod status ...terminated.message); only in
    a container, where the file exists."""
    path = path or TERMINATION_LOG
    if path.is_file():
        try:
            path.write_text(message[:4000])
        except OSError as exc:
            log.debug("cannot write %s: %s", path, exc)


async def serve(config: BridgeConfig, stop: asyncio.Event | None = None) -> int:
    """Serve until SIGTERM or SIGINT (or `stop` is set), then drain within `config.drain_grace`.

    Returns the exit status: 0, or EXIT_SERVER_CRASHED when the MCP server exited before it ever
    answered initialize (then the reason is also the container's termination message)."""
    stop = stop or asyncio.Event()
    crashed: list[str] = []
    loop = asyncio.get_running_loop()
    signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
    except (RuntimeError, ValueError):  # not the main thread: the embedder stops us through `stop`
        signals = ()
    server = BridgeServer(config)

    def on_crash(message: str) -> None:
        crashed.append(message)
        stop.set()

    server.bridge.probe.on_crash = on_crash
    try:
        await server.start()
        await stop.wait()
        log.info("stopping: draining for up to %.1fs", config.drain_grace)
    finally:
        await server.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    if crashed:
        write_termination_message(crashed[0])
        log.error("bridge stopped: %s", crashed[0])
        return EXIT_SERVER_CRASHED
    log.info("bridge stopped")
    return 0
