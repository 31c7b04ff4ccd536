"""`mcp-operator install` end to end: resolve from the local registries, install, run the entrypoint."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from tests.fixtures.pkgbuild import PyArtifact, build_npm
from tests.fixtures.registries import NpmRegistry, PypiRegistry

from mcp_operator import installer
from mcp_operator.__main__ import main as cli_main
from mcp_operator.registries import resolve

pytestmark = pytest.mark.integration


def run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def install(
    kind: str, package: str, version: str, integrity: str, registry: str, dest: Path, *extra: str
) -> int:
    argv = ["--type", kind, "--package", package, "--version", version, "--integrity", integrity]
    return installer.main([*argv, "--registry", registry, "--dest", str(dest), *extra])


def test_npm_install_runs_the_bin(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    npm_registry.publish_npm("@acme/inst-hello", "1.0.0")
    npm_registry.publish_npm("@acme/inst-hello", "1.1.0")
    pinned = asyncio.run(resolve("npm", "@acme/inst-hello", "^1", registry=npm_registry.url))
    assert pinned.command == ("inst-hello",)
    dest = tmp_path / "app"
    rc = cli_main(
        [
            "install",
            "--type",
            "npm",
            "--package",
            "@acme/inst-hello",
            "--version",
            pinned.version,
            "--integrity",
            pinned.integrity,
            "--registry",
            npm_registry.url,
            "--dest",
            str(dest),
        ]
    )
    assert rc == installer.EXIT_OK
    assert (
        run([str(dest / "node_modules" / ".bin" / "inst-hello"), "--stdio"])
        == "@acme/inst-hello 1.1.0 --stdio"
    )


def test_npm_integrity_mismatch_is_refused(
    npm_registry: NpmRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    npm_registry.publish_npm("inst-tampered", "1.0.0")
    other = build_npm("inst-tampered", "1.0.0", files={"extra.js": "// something else"})
    dest = tmp_path / "app"
    rc = install("npm", "inst-tampered", "1.0.0", other.integrity, npm_registry.url, dest)
    assert rc == installer.EXIT_INTEGRITY
    assert "integrity mismatch" in capsys.readouterr().err
    assert not (dest / "node_modules").exists()


def test_npm_lifecycle_scripts_are_off_by_default(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    script = {"postinstall": "node -e \"require('fs').writeFileSync('postinstall-ran', 'yes')\""}
    pkg = npm_registry.publish_npm("inst-scripted", "1.0.0", scripts=script)
    off, on = tmp_path / "off", tmp_path / "on"
    assert install("npm", "inst-scripted", "1.0.0", pkg.integrity, npm_registry.url, off) == 0
    assert not (off / "node_modules" / "inst-scripted" / "postinstall-ran").exists()
    assert (
        install("npm", "inst-scripted", "1.0.0", pkg.integrity, npm_registry.url, on, "--allow-scripts") == 0
    )
    assert (on / "node_modules" / "inst-scripted" / "postinstall-ran").exists()


def test_npm_private_package_uses_env_credentials(
    npm_registry: NpmRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer.http, "DEFAULT_RETRY", installer.http.RetryPolicy(attempts=1))
    pkg = npm_registry.publish_npm("@private/inst-secret", "2.0.0")
    rc = install("npm", "@private/inst-secret", "2.0.0", pkg.integrity, npm_registry.url, tmp_path / "anon")
    assert rc == installer.EXIT_INSTALL
    monkeypatch.setenv("MCP_REGISTRY_TOKEN", npm_registry.token)
    monkeypatch.setenv("MCP_REGISTRY_AUTH_REGISTRY", npm_registry.url)  # the Secret's 'registry' key
    dest = tmp_path / "authed"
    assert install("npm", "@private/inst-secret", "2.0.0", pkg.integrity, npm_registry.url, dest) == 0
    assert run([str(dest / "node_modules" / ".bin" / "inst-secret")]) == "@private/inst-secret 2.0.0"
    monkeypatch.delenv("MCP_REGISTRY_TOKEN")
    monkeypatch.setenv("MCP_REGISTRY_USERNAME", npm_registry.username)
    monkeypatch.setenv("MCP_REGISTRY_PASSWORD", npm_registry.password)
    dest = tmp_path / "basic"
    assert install("npm", "@private/inst-secret", "2.0.0", pkg.integrity, npm_registry.url, dest) == 0


def test_pypi_install_runs_the_console_script(pypi_registry: PypiRegistry, tmp_path: Path) -> None:
    pypi_registry.publish_pypi("Inst_Time.Server", "0.9.0")
    pypi_registry.publish_pypi("Inst_Time.Server", "1.0.0")
    pinned = asyncio.run(resolve("pypi", "inst-time-server", "<1", registry=pypi_registry.url))
    assert pinned.command == ("inst-time-server",)
    dest = tmp_path / "venv"
    rc = install("pypi", "inst-time-server", pinned.version, pinned.integrity, pypi_registry.url, dest)
    assert rc == installer.EXIT_OK
    assert run([str(dest / "bin" / "inst-time-server"), "x"]) == "Inst_Time.Server 0.9.0 x"


def test_pypi_integrity_mismatch_is_refused(
    pypi_registry: PypiRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pypi_registry.publish_pypi("inst-pinned", "1.0")
    dest = tmp_path / "venv"
    rc = install("pypi", "inst-pinned", "1.0", "sha256:" + "0" * 64, pypi_registry.url, dest)
    assert rc == installer.EXIT_INTEGRITY
    assert "integrity mismatch" in capsys.readouterr().err
    assert not dest.exists()


def test_unknown_package_and_down_registry_exit_4(
    pypi_registry: PypiRegistry, npm_registry: NpmRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer.http, "DEFAULT_RETRY", installer.http.RetryPolicy(attempts=1))
    assert (
        install("pypi", "inst-nothing", "1.0", "sha256:" + "0" * 64, pypi_registry.url, tmp_path / "a") == 4
    )
    sri = "sha512-" + "A" * 86 + "=="
    assert install("npm", "inst-nothing", "1.0.0", sri, npm_registry.url, tmp_path / "b") == 4
    with pypi_registry.stopped():
        assert (
            install("pypi", "inst-nothing", "1.0", "sha256:" + "0" * 64, pypi_registry.url, tmp_path / "c")
            == 4
        )


DUMP = """
const fs = require('fs');
const rc = process.env.npm_config_userconfig;
const seen = JSON.stringify(process.env) + (rc && fs.existsSync(rc) ? fs.readFileSync(rc, 'utf8') : '');
fs.writeFileSync('seen-by-the-script', seen);
"""


def test_npm_install_scripts_run_without_the_registry_credentials(
    npm_registry: NpmRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private package whose postinstall script reads what it can: the environment and the
    npm config file. It runs (allowed), and sees no credentials."""
    scripts = {"postinstall": "node dump.js"}
    pkg = npm_registry.publish_npm("@private/inst-nosy", "1.0.0", files={"dump.js": DUMP}, scripts=scripts)
    monkeypatch.setenv("MCP_REGISTRY_TOKEN", npm_registry.token)
    monkeypatch.setenv("MCP_REGISTRY_AUTH_REGISTRY", npm_registry.url)
    dest = tmp_path / "app"
    argv = ("--allow-scripts",)
    assert install("npm", "@private/inst-nosy", "1.0.0", pkg.integrity, npm_registry.url, dest, *argv) == 0
    seen = (dest / "node_modules" / "@private" / "inst-nosy" / "seen-by-the-script").read_text()
    assert "npm_lifecycle_event" in seen  # the script ran, as a lifecycle script
    assert npm_registry.token not in seen
    assert "_authToken" not in seen


BACKEND = r"""
import base64, hashlib, io, json, os, pathlib, zipfile

def _dump():
    seen = dict(os.environ)
    for path in (os.environ.get("PIP_CONFIG_FILE"), os.path.expanduser("~/.netrc"),
                 os.path.expanduser("~/.config/pip/pip.conf"), os.path.expanduser("~/.pypirc")):
        if path and os.path.isfile(path):
            seen[path] = pathlib.Path(path).read_text()
    pathlib.Path(TARGET).write_text(json.dumps(seen))

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _dump()
    name, version = "inst_nosy", "1.0"
    files = {
        "inst_nosy.py": "def main():\n    print('nosy')\n",
        f"{name}-{version}.dist-info/METADATA": "Metadata-Version: 2.1\nName: inst-nosy\nVersion: 1.0\n",
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(t.encode())}\n" for p, t in files.items()
    ) + f"{name}-{version}.dist-info/RECORD,,\n"
    files[f"{name}-{version}.dist-info/RECORD"] = record
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return filename
"""


def nosy_sdist(target: Path) -> tuple[str, bytes]:
    """An sdist whose in-tree build backend (no build requirements) writes down what it can read."""
    import io
    import tarfile

    root = "inst_nosy-1.0"
    members = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        '\n[project]\nname = "inst-nosy"\nversion = "1.0"\n',
        "PKG-INFO": "Metadata-Version: 2.1\nName: inst-nosy\nVersion: 1.0\n",
        "backend.py": f"TARGET = {str(target)!r}\n" + BACKEND,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return f"{root}.tar.gz", buffer.getvalue()


@contextmanager
def private_index(upstream: str, username: str, password: str) -> Iterator[str]:
    """A PyPI index that answers only with Basic credentials, in front of pypiserver."""
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    class Relay(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="private"')
                self.end_headers()
                return
            answer = httpx.get(upstream.rstrip("/") + self.path, follow_redirects=True, timeout=30)
            body = answer.content.replace(upstream.rstrip("/").encode(), base_url.encode())
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "text/html"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url + "/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_pypi_build_backends_run_without_the_registry_credentials(
    pypi_registry: PypiRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An sdist from a private index is built by its own backend, which reads the environment and
    pip's config files: it finds the loopback proxy, never the password."""
    seen_file = tmp_path / "seen-by-the-backend.json"
    filename, data = nosy_sdist(seen_file)
    pypi_registry.add(PyArtifact(filename, data))
    integrity = "sha256:" + hashlib.sha256(data).hexdigest()
    password = "pypi-s3cret-" + "x" * 8
    with private_index(pypi_registry.url, "robot", password) as index:
        monkeypatch.setenv("MCP_REGISTRY_USERNAME", "robot")
        monkeypatch.setenv("MCP_REGISTRY_PASSWORD", password)
        monkeypatch.setenv("MCP_REGISTRY_AUTH_REGISTRY", index)
        dest = tmp_path / "venv"
        assert install("pypi", "inst-nosy", "1.0", integrity, index, dest) == installer.EXIT_OK
        # Wheels only: the same sdist is refused, nothing is built.
        rc = install("pypi", "inst-nosy", "1.0", integrity, index, tmp_path / "wheels", "--wheels-only")
        assert rc == installer.EXIT_INSTALL
    seen = json.loads(seen_file.read_text())
    assert seen["PIP_INDEX_URL"].startswith("http://127.0.0.1:")  # the install proxy
    assert password not in json.dumps(seen)
    assert base64.b64encode(f"robot:{password}".encode()).decode() not in json.dumps(seen)
    assert run([str(dest / "bin" / "python"), "-c", "import inst_nosy; inst_nosy.main()"]) == "nosy"


def test_the_install_proxy_adds_the_credentials_for_their_registry_only(
    pypi_registry: PypiRegistry, tmp_path: Path
) -> None:
    from mcp_operator.install_proxy import credential_proxy
    from mcp_operator.registries.types import Credentials

    artifact = pypi_registry.publish_pypi("inst-proxied", "1.0")
    with private_index(pypi_registry.url, "robot", "pw") as index:
        assert httpx.get(index + "simple/inst-proxied/").status_code == 401
        creds = Credentials(username="robot", password="pw", registry=index)
        with credential_proxy(index.rstrip("/"), creds) as proxied:
            page = httpx.get(proxied + "/simple/inst-proxied/")
            assert page.status_code == 200
            assert index not in page.text  # links to the registry now point at the proxy
            link = next(
                part.split('"')[0] for part in page.text.split('href="')[1:] if artifact.filename in part
            )
            url = urljoin(str(page.url), link)
            assert httpx.get(url, follow_redirects=True).content == artifact.data
            assert httpx.post(proxied + "/simple/").status_code == 405
        wrong = Credentials(username="robot", password="pw", registry="https://elsewhere.example/")
        with credential_proxy(index.rstrip("/"), wrong) as proxied:
            assert httpx.get(proxied + "/simple/inst-proxied/").status_code == 401  # not bound here: not sent


def test_the_install_proxy_cuts_an_endless_file_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp_operator import install_proxy
    from mcp_operator.registries.types import Credentials

    class Endless(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setattr(install_proxy, "MAX_FILE", 1024 * 1024)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    upstream = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with install_proxy.credential_proxy(upstream, Credentials(token="t", registry=upstream)) as proxied:
            received: list[int] = []

            def fetch() -> None:
                with httpx.stream("GET", proxied + "/big.whl", timeout=30) as answer:
                    for chunk in answer.iter_raw():
                        received.append(len(chunk))

            with pytest.raises(httpx.HTTPError):
                fetch()
            assert sum(received) <= 1024 * 1024 + 65536
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
