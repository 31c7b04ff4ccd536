"""The init-container installer: argument checks, exit codes, npmrc, integrity refusal (no network)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fixtures.pkgbuild import build_npm, build_wheel

from mcp_operator import installer
from mcp_operator.registries import Credentials, http
from mcp_operator.registries.integrity import parse_integrity

REG = "https://npm.example"


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def args(**overrides: str) -> list[str]:
    values = {
        "--type": "npm",
        "--package": "tool",
        "--version": "1.0.0",
        "--integrity": sri(b"x"),
        "--dest": "/tmp/never-used",
    }
    values.update(overrides)
    result: list[str] = []
    for key, value in values.items():
        result += [key, value]
    return result


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"--type": "oci"}, "invalid choice"),
        ({"--package": "../etc"}, "not a valid npm package name"),
        ({"--version": "^1.0.0"}, "not an exact npm version"),
        ({"--version": "v1.0.0"}, "not an exact npm version"),
        ({"--integrity": "md5-xyz"}, "--integrity"),
        ({"--registry": "ftp://x"}, "not valid"),
        ({"--registry": "https://u:p@x/"}, "Secret"),
        ({"--dest": ""}, "--dest"),
        ({"--type": "pypi", "--package": "a b"}, "not a valid PyPI project name"),
        ({"--type": "pypi", "--package": "ok", "--version": ">=1"}, "not an exact PEP 440 version"),
        ({"--type": "pypi", "--package": "ok", "--integrity": sri(b"x")}, "sha256:<hex>"),
    ],
)
def test_usage_errors_exit_2(
    overrides: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert installer.main(args(**overrides)) == installer.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_missing_arguments_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert installer.main(["--type", "npm"]) == installer.EXIT_USAGE
    assert installer.main(["--help"]) == installer.EXIT_OK
    assert "--allow-scripts" in capsys.readouterr().out


def test_install_request_rejects_other_types() -> None:
    with pytest.raises(installer.UsageError, match="use npm or pypi"):
        installer.InstallRequest(
            source_type="oci", package="x", version="1", integrity=sri(b"x"), registry=None, dest="/d"
        )


def test_credentials_from_env() -> None:
    assert installer.credentials_from_env({}) is None
    assert installer.credentials_from_env({"MCP_REGISTRY_USERNAME": "u"}) is None
    bound = {"MCP_REGISTRY_AUTH_REGISTRY": "https://r.example/npm"}
    assert installer.credentials_from_env({"MCP_REGISTRY_TOKEN": "t", **bound}) == Credentials(
        token="t", registry="https://r.example/npm"
    )
    assert installer.credentials_from_env(
        {"MCP_REGISTRY_USERNAME": "u", "MCP_REGISTRY_PASSWORD": "p", **bound}
    ) == Credentials(username="u", password="p", registry="https://r.example/npm")
    # A Secret that names no registry (an Opaque one, a service-account token): its keys are not used.
    assert installer.credentials_from_env({"MCP_REGISTRY_TOKEN": "t"}) is None


def test_credentials_bound_to_another_registry_stop_the_install_with_a_message() -> None:
    creds = Credentials(token="t", registry="https://npm.example/")
    with pytest.raises(
        installer.UsageError, match=re.escape("are for 'https://npm.example/', not 'https://evil.example'")
    ):
        installer.InstallRequest(
            source_type="npm",
            package="tool",
            version="1.0.0",
            integrity="sha512-" + "A" * 86 + "==",
            registry="https://evil.example",
            dest="/tmp/x",
            credentials=creds,
        )


class NpmFake:
    def __init__(self, data: bytes, status: int = 200) -> None:
        self.data = data
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/tool":
            dist = {"tarball": f"{REG}/tool/-/tool-1.0.0.tgz", "integrity": sri(self.data)}
            return httpx.Response(200, json={"versions": {"1.0.0": {"dist": dist}}, "dist-tags": {}})
        if request.url.path == "/tool/-/tool-1.0.0.tgz":
            return httpx.Response(self.status, content=self.data)
        return httpx.Response(404)


def test_npmrc_keeps_secrets_in_the_environment() -> None:
    text, env = installer.npmrc("https://r.example/npm", Credentials(token="s3cret"))
    assert "registry=https://r.example/npm/" in text
    assert "//r.example/npm/:_authToken=${MCP_NPM_TOKEN}" in text
    assert "s3cret" not in text
    assert env == {"MCP_NPM_TOKEN": "s3cret"}
    text, env = installer.npmrc("http://127.0.0.1:4873", Credentials(username="u", password="p@ss"))
    assert "//127.0.0.1:4873/:username=${MCP_NPM_USERNAME}" in text
    assert "//127.0.0.1:4873/:_password=${MCP_NPM_PASSWORD_B64}" in text
    assert env == {"MCP_NPM_USERNAME": "u", "MCP_NPM_PASSWORD_B64": base64.b64encode(b"p@ss").decode()}
    text, env = installer.npmrc("https://r.example", None)
    assert "_auth" not in text
    assert env == {}


def request(tmp_path: Path, **overrides: Any) -> installer.InstallRequest:
    values: dict[str, Any] = {
        "source_type": "npm",
        "package": "tool",
        "version": "1.0.0",
        "integrity": sri(b"expected"),
        "registry": REG,
        "dest": str(tmp_path / "dest"),
        "credentials": Credentials(token="t"),
    }
    values.update(overrides)
    return installer.InstallRequest(**values)


async def test_npm_integrity_mismatch_is_refused(tmp_path: Path) -> None:
    fake = NpmFake(b"tampered")
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
        with pytest.raises(installer.IntegrityMismatch) as caught:
            await installer.install(request(tmp_path), client=client)
    message = str(caught.value)
    assert sri(b"expected") in message
    assert sri(b"tampered") in message
    assert "refusing to install" in message
    assert not (tmp_path / "dest").exists()
    assert fake.requests[1].headers["authorization"] == "Bearer t"  # same origin: credentials sent


@pytest.mark.parametrize(("status", "match"), [(401, "refused the download"), (404, "HTTP 404")])
async def test_npm_download_failures(tmp_path: Path, status: int, match: str) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(NpmFake(b"x", status))) as client:
        with pytest.raises(installer.InstallFailed, match=match):
            await installer.install(request(tmp_path), client=client)


async def test_npm_download_retries_then_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", http.RetryPolicy(attempts=2, base_delay=0, max_delay=0))
    async with httpx.AsyncClient(transport=httpx.MockTransport(NpmFake(b"x", 503))) as client:
        with pytest.raises(installer.InstallFailed, match="after 2 tries"):
            await installer.install(request(tmp_path), client=client)


async def test_npm_download_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(installer, "MAX_ARTIFACT_BYTES", 3)
    async with httpx.AsyncClient(transport=httpx.MockTransport(NpmFake(b"too large"))) as client:
        with pytest.raises(installer.InstallFailed, match="larger than"):
            await installer.install(request(tmp_path), client=client)


async def test_npm_version_gone(tmp_path: Path) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(NpmFake(b"x"))) as client:
        with pytest.raises(installer.VersionNotFound, match="re-resolve"):
            await installer.install(request(tmp_path, version="2.0.0"), client=client)


async def test_npm_without_npm_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = build_npm("tool", "1.0.0")
    monkeypatch.setenv("PATH", str(tmp_path))
    async with httpx.AsyncClient(transport=httpx.MockTransport(NpmFake(tarball.data))) as client:
        with pytest.raises(installer.InstallFailed, match="npm is not installed"):
            await installer.install(request(tmp_path, integrity=tarball.integrity), client=client)


class PypiFake:
    def __init__(self, wheel_data: bytes, served: bytes | None = None) -> None:
        self.wheel_data = wheel_data
        self.served = wheel_data if served is None else served

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/pypi/tool/json":
            sha = hashlib.sha256(self.wheel_data).hexdigest()
            entry = {"filename": "tool-1.0-py3-none-any.whl", "url": "https://files.example/w.whl"}
            return httpx.Response(200, json={"releases": {"1.0": [{**entry, "digests": {"sha256": sha}}]}})
        if request.url.path == "/w.whl":
            return httpx.Response(200, content=self.served)
        return httpx.Response(404)


def pypi_request(tmp_path: Path, data: bytes, version: str = "1.0") -> installer.InstallRequest:
    return request(
        tmp_path,
        source_type="pypi",
        version=version,
        registry="https://pypi.example",
        integrity="sha256:" + hashlib.sha256(data).hexdigest(),
    )


async def test_pypi_pinned_digest_not_listed_is_refused(tmp_path: Path) -> None:
    wheel = build_wheel("tool", "1.0")
    async with httpx.AsyncClient(transport=httpx.MockTransport(PypiFake(wheel.data))) as client:
        with pytest.raises(installer.IntegrityMismatch, match=r"no file of tool 1\.0"):
            await installer.install(pypi_request(tmp_path, b"other"), client=client)
        with pytest.raises(installer.VersionNotFound):
            await installer.install(pypi_request(tmp_path, wheel.data, version="9"), client=client)


async def test_pypi_served_bytes_are_checked(tmp_path: Path) -> None:
    wheel = build_wheel("tool", "1.0")
    fake = PypiFake(wheel.data, served=b"swapped")
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
        with pytest.raises(installer.IntegrityMismatch, match="sha256:"):
            await installer.install(pypi_request(tmp_path, wheel.data), client=client)


def test_main_maps_failures_to_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    async def mismatch(req: installer.InstallRequest) -> None:
        raise installer.IntegrityMismatch("bad")

    async def broken(req: installer.InstallRequest) -> None:
        raise installer.InstallFailed("broken")

    async def fine(req: installer.InstallRequest) -> None:
        return None

    argv = args(**{"--dest": str(tmp_path)})
    monkeypatch.setattr(installer, "install", mismatch)
    assert installer.main(argv) == installer.EXIT_INTEGRITY
    monkeypatch.setattr(installer, "install", broken)
    assert installer.main(argv) == installer.EXIT_INSTALL
    monkeypatch.setattr(installer, "install", fine)
    assert installer.main(argv) == installer.EXIT_OK


def test_run_reports_failures(tmp_path: Path) -> None:
    with pytest.raises(installer.InstallFailed, match="is not installed"):
        installer._run([str(tmp_path / "missing")], {}, "thing")
    python = str(Path(__import__("sys").executable))
    with pytest.raises(installer.InstallFailed, match="exit code 3"):
        installer._run([python, "-c", "raise SystemExit(3)"], {}, "thing")
    installer._run([python, "-c", "pass"], {}, "thing")


def test_parse_integrity_is_shared() -> None:
    assert parse_integrity("sha256:" + "a" * 64).algorithm == "sha256"
