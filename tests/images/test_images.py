"""The images `make images` builds: what they say about themselves, and that they do their job.

In a private containerd (no kubelet needed), the runtime image installs a pinned package from the
local npm and PyPI registries exactly as the init container does, runs it behind the bridge as
uid 10001, and the official MCP SDK client calls a tool through it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mcp_operator.imagebuild.layout import read_archive_manifest
from mcp_operator.registries import resolve
from mcp_operator.render.inputs import POD_UID, RUNTIME_IMAGE
from tests.bridge.conftest import mcp_client
from tests.fixtures.containerd import Containerd
from tests.fixtures.registries import NpmRegistry, PypiRegistry, free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / ".cache" / "images"
OPERATOR_IMAGE = RUNTIME_IMAGE.replace("/runtime:", "/operator:")
TINY_PY = (ROOT / "tests" / "bridge" / "tiny_server.py").read_text()
TINY_JS = """#!/usr/bin/env node
// The smallest stdio MCP server: initialize, tools/list, tools/call echo.
const lines = require('readline').createInterface({input: process.stdin});
lines.on('line', (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.id === undefined) return;
  const params = msg.params || {};
  let result = null;
  if (msg.method === 'initialize') result = {protocolVersion: params.protocolVersion || '2025-11-25',
    capabilities: {tools: {}}, serverInfo: {name: 'tiny-js', version: '1.0.0'}};
  if (msg.method === 'ping') result = {};
  if (msg.method === 'tools/list') result = {tools: [{name: 'echo', inputSchema: {type: 'object'}}]};
  if (msg.method === 'tools/call') result = {content: [{type: 'text', text: 'node ' + process.version +
    ' says ' + (params.arguments || {}).text}]};
  const reply = result === null ? {jsonrpc: '2.0', id: msg.id, error: {code: -32601, message: 'no'}}
    : {jsonrpc: '2.0', id: msg.id, result};
  process.stdout.write(JSON.stringify(reply) + '\\n');
});
"""


def archive(name: str) -> Path:
    path = IMAGES / f"{name}.oci.tar"
    if not path.is_file():
        pytest.skip(f"{path} not built: `make images` builds it (as root, with mmdebstrap)")
    return path


@pytest.mark.parametrize(("name", "ref"), [("runtime", RUNTIME_IMAGE), ("operator", OPERATOR_IMAGE)])
def test_images_name_themselves_as_the_operator_expects(name: str, ref: str) -> None:
    index, manifest, config = read_archive_manifest(archive(name))
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == ref
    assert config["config"]["User"] == f"{POD_UID}:{POD_UID}"
    assert config["config"]["Entrypoint"] == ["mcp-operator"]
    labels = config["config"]["Labels"]
    for key in ("title", "description", "version", "revision", "created", "licenses", "source"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert labels["org.opencontainers.image.version"] == ref.rsplit(":", 1)[1]
    assert len(manifest["layers"]) == 1


@pytest.fixture(scope="session")
def runtime(containerd: Containerd) -> str:
    for name in ("runtime", "operator"):
        containerd.ctr("images", "import", str(archive(name)))
    return RUNTIME_IMAGE


class Running:
    """A container of the runtime image on the host network, removed at the end."""

    def __init__(self, containerd: Containerd, image: str, script: str) -> None:
        self.containerd, self.id = containerd, f"t-{uuid.uuid4().hex[:10]}"
        containerd.ctr("run", "-d", "--net-host", image, self.id, "sh", "-c", script)

    def exec(self, *command: str) -> str:
        return self.containerd.ctr(
            "tasks", "exec", "--exec-id", uuid.uuid4().hex[:8], self.id, *command
        ).stdout

    def remove(self) -> None:
        self.containerd.ctr("tasks", "kill", "-s", "SIGKILL", self.id, check=False)
        for _ in range(100):
            if self.id not in self.containerd.ctr("tasks", "ls", "-q", check=False).stdout.split():
                break
        self.containerd.ctr("tasks", "rm", "-f", self.id, check=False)
        self.containerd.ctr("containers", "rm", self.id, check=False)


@pytest.fixture
def start(containerd: Containerd, runtime: str) -> Iterator[object]:
    started: list[Running] = []

    def run(script: str) -> Running:
        started.append(Running(containerd, runtime, script))
        return started[-1]

    yield run
    for item in started:
        item.remove()


async def ready(port: int, timeout: float = 120) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                answer = await http.get(f"http://127.0.0.1:{port}/readyz")
                if answer.status_code == 200:
                    return answer.text
            except httpx.TransportError:
                pass
            assert asyncio.get_running_loop().time() < deadline, "the server in the image never became ready"
            await asyncio.sleep(0.2)


def script(
    kind: str, package: str, version: str, integrity: str, registry: str, port: int, entry: str
) -> str:
    # The same two commands the rendered pod runs (init container, then main container).
    return (
        f"id -u > /tmp/uid && mcp-operator install --type {kind} --package {package} --version {version} "
        f"--integrity {integrity} --registry {registry} --dest /mcp/pkg && "
        f"exec mcp-operator bridge --host 127.0.0.1 --port {port} -- {entry}"
    )


async def test_runtime_image_installs_and_serves_an_npm_server(start, npm_registry: NpmRegistry) -> None:
    npm_registry.publish_npm(
        "@acme/img-tiny", "1.0.0", bin={"img-tiny": "server.js"}, files={"server.js": TINY_JS}
    )
    pinned = await resolve("npm", "@acme/img-tiny", "1.0.0", registry=npm_registry.url)
    port = free_port()
    entry = "/mcp/pkg/node_modules/.bin/img-tiny"
    start(script("npm", "@acme/img-tiny", pinned.version, pinned.integrity, npm_registry.url, port, entry))
    assert "tiny-js" in await ready(port)
    async with mcp_client(f"http://127.0.0.1:{port}") as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
        answer = await client.call_tool("echo", {"text": "hi"})
    text = answer.content[0].text  # type: ignore[union-attr]
    major = int(text.split()[1].lstrip("v").split(".")[0])
    assert major >= 20, text  # MCP servers need a current Node.js LTS
    assert text.endswith("says hi")


async def test_runtime_image_installs_and_serves_a_pypi_server(start, pypi_registry: PypiRegistry) -> None:
    modules = {"img_tiny/__init__.py": TINY_PY}
    scripts = {"img-tiny": "img_tiny:main"}
    pypi_registry.publish_pypi("img-tiny", "1.0.0", console_scripts=scripts, modules=modules)
    pinned = await resolve("pypi", "img-tiny", "1.0.0", registry=pypi_registry.url)
    port = free_port()
    entry = "/mcp/pkg/bin/img-tiny"
    container = start(
        script("pypi", "img-tiny", pinned.version, pinned.integrity, pypi_registry.url, port, entry)
    )
    assert "tiny" in await ready(port)
    async with mcp_client(f"http://127.0.0.1:{port}") as client:
        answer = await client.call_tool("pid", {})
        pid = int(answer.content[0].text)  # type: ignore[union-attr]  # in the container's PID namespace
        status = container.exec("cat", f"/proc/{pid}/status")  # while the session (and its child) lives
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == [str(POD_UID)] * 4  # the server runs as the image's user, not root
    assert container.exec("cat", "/tmp/uid").strip() == str(POD_UID)
