"""`mcp-operator install` end to end: resolve from the local registries, install, run the entrypoint."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from tests.fixtures.pkgbuild import build_npm
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
