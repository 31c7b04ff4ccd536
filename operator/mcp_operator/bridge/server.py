"""Running the app: bind, serve until stopped, then drain."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from mcp_operator.bridge.app import BRIDGE, Bridge, create_app, create_metrics_app
from mcp_operator.bridge.config import BridgeConfig

log = logging.getLogger("mcp_operator.bridge")


class ListenError(OSError):
    """A port the bridge cannot listen on; the message names it and the option to change."""


class BridgeServer:
    """One bridge listening on a socket, and on a second one for /metrics when `metrics_port` is
    not None. Port 0 picks a free port (see `url` and `metrics_url`)."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.app = create_app(config)
        self.runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        self.metrics_runner = (
            web.AppRunner(create_metrics_app(self.bridge), access_log=None)
            if config.metrics_port is not None
            else None
        )
        self.port = config.port
        self.metrics_port = config.metrics_port
        self._stopped = False

    @property
    def bridge(self) -> Bridge:
        return self.app[BRIDGE]

    def _url(self, port: int | None) -> str:
        host = self.config.host if self.config.host not in {"0.0.0.0", "::", ""} else "127.0.0.1"  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self._url(self.port)

    @property
    def metrics_url(self) -> str | None:
        return None if self.metrics_port is None else self._url(self.metrics_port)

    async def _listen(self, runner: web.AppRunner, port: int, what: str) -> int:
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(
                exc.errno, f"cannot listen on {self.config.host}:{port} for {what}: {exc.strerror or exc}"
            ) from exc
        server: Any = site._server
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
        return port

    async def start(self) -> None:
        self.port = await self._listen(self.runner, self.config.port, "MCP (--port)")
        if self.metrics_runner is not None and self.config.metrics_port is not None:
            self.metrics_port = await self._listen(
                self.metrics_runner, self.config.metrics_port, "metrics (--metrics-port)"
            )
        origins = self.config.allowed_origins
        log.info(
            "bridge listening on %s:%s%s (%s mode%s%s%s), serving: %s",
            self.config.host or "*",  # as bound: 0.0.0.0 in a pod, not the loopback `url` shows
            self.port,
            self.config.path,
            self.config.session_mode,
            f", metrics on port {self.metrics_port}" if self.metrics_port is not None else "",
            ", bearer token required" if self.bridge.token is not None else "",
            f", allowed origins {', '.join(origins)}" if origins else "",
            " ".join(self.config.command),
        )

    async def stop(self, grace: float | None = None) -> None:
        """Drain (refuse new sessions, let in-flight requests finish), stop children, close."""
        if self._stopped:
            return
        self._stopped = True
        await self.bridge.probe.close()  # a readiness check in flight must not outlive the bridge
        await self.bridge.registry.drain(self.config.drain_grace if grace is None else grace)
        if self.metrics_runner is not None:
            await self.metrics_runner.cleanup()
        await self.runner.cleanup()

    async def __aenter__(self) -> BridgeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


TERMINATION_LOG = Path("/dev/termination-log")  # the kubelet's default terminationMessagePath
EXIT_SERVER_CRASHED = 3
EXIT_COMMAND_NOT_FOUND = 4  # the MCP server's command is not installed: the package is missing or broken
EXIT_AUTH_TOKEN = 5  # --auth-token-file is missing, unreadable or empty


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
        # The first readiness check starts now, not at the kubelet's first /readyz: the server's
        # start overlaps the startup probe's period, and a server that crashes at start ends the
        # bridge at once (exit 3) instead of at the first probe.
        server.bridge.probe.start()
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
