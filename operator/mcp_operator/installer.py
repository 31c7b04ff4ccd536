"""`mcp-operator install`: what the init container runs.

Downloads exactly one pinned artifact, checks it against the pinned integrity, and installs it
from the verified local file into a dedicated directory, without a shell:

* npm: ``npm install --prefix DEST --ignore-scripts --no-audit --no-fund --registry URL FILE.tgz``;
  commands land in ``DEST/node_modules/.bin``.
* PyPI: ``python -m venv DEST`` then ``DEST/bin/python -m pip install FILE``; console scripts
  land in ``DEST/bin``.

Credentials come from ``MCP_REGISTRY_TOKEN`` or ``MCP_REGISTRY_USERNAME`` /
``MCP_REGISTRY_PASSWORD`` and never appear on a command line.

Exit codes: 0 installed, 2 usage error, 3 integrity mismatch, 4 registry or install failure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from packaging.version import InvalidVersion, Version

from mcp_operator.install_proxy import credential_proxy
from mcp_operator.registries import bounded, http, semver
from mcp_operator.registries.binding import url_allowed
from mcp_operator.registries.errors import InvalidPackage, RegistryError, VersionNotFound
from mcp_operator.registries.http import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    auth_headers,
    normalise_registry_url,
    redact,
)
from mcp_operator.registries.integrity import Integrity, IntegrityError, parse_integrity
from mcp_operator.registries.npm import DEFAULT_NPM_REGISTRY, NpmClient, validate_npm_name
from mcp_operator.registries.pypi import DEFAULT_PYPI_REGISTRY, PypiClient, index_base, normalise_name
from mcp_operator.registries.types import Credentials

__all__ = ["EXIT_INSTALL", "EXIT_INTEGRITY", "EXIT_OK", "EXIT_USAGE", "InstallRequest", "main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTEGRITY = 3
EXIT_INSTALL = 4

# What the init container downloads at most (npm tarball, wheel, sdist): npm and pip unpack it.
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
DOWNLOAD_DEADLINE = 600.0  # seconds one download try may take in all
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # the package.json read back after npm install
INSTALL_TIMEOUT = 900.0
_SAFE_FILENAME = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+")


class UsageError(Exception):
    """Arguments that cannot work."""


class IntegrityMismatch(Exception):
    """The artifact is not the pinned one."""


class InstallFailed(Exception):
    """The package manager failed."""


class InstallRequest:
    """Validated arguments of one install."""

    def __init__(
        self,
        *,
        source_type: str,
        package: str,
        version: str,
        integrity: str,
        registry: str | None,
        dest: str,
        allow_scripts: bool = False,
        wheels_only: bool = False,
        credentials: Credentials | None = None,
    ) -> None:
        if source_type not in {"npm", "pypi"}:
            raise UsageError(f"--type {source_type!r} cannot be installed here; use npm or pypi")
        try:
            if source_type == "npm":
                validate_npm_name(package)
                if semver.try_parse_version(version) is None or version.startswith(("v", "=")):
                    raise UsageError(f"--version {version!r} is not an exact npm version such as 1.2.3")
                self.registry = normalise_registry_url(registry or DEFAULT_NPM_REGISTRY, what="--registry")
            else:
                normalise_name(package)
                try:
                    Version(version)
                except InvalidVersion:
                    raise UsageError(
                        f"--version {version!r} is not an exact PEP 440 version such as 1.2.3"
                    ) from None
                self.registry = index_base(registry or DEFAULT_PYPI_REGISTRY)
        except RegistryError as exc:
            raise UsageError(str(exc)) from exc
        try:
            self.integrity: Integrity = parse_integrity(integrity)
        except IntegrityError as exc:
            raise UsageError(f"--integrity: {exc}") from exc
        if source_type == "pypi" and self.integrity.algorithm != "sha256":
            raise UsageError("--integrity for PyPI must be 'sha256:<hex>' (the pinned artifact's digest)")
        if not dest or "\x00" in dest:
            raise UsageError("--dest must name a directory")
        self.source_type = source_type
        self.package = package
        self.version = version
        self.dest = Path(dest).absolute()
        self.allow_scripts = allow_scripts
        self.wheels_only = wheels_only
        bound = credentials.registry if credentials is not None else None
        if bound is not None and not url_allowed(bound, self.registry):
            raise UsageError(
                f"the registry credentials are for {bound!r}, not {self.registry!r}: "
                "they are sent only to the registry their Secret names; fix the Secret's 'registry' key"
            )
        self.credentials = credentials


def credentials_from_env(environ: Mapping[str, str]) -> Credentials | None:
    """Credentials from the environment (the Secret's keys), bound to the registry the Secret names
    in MCP_REGISTRY_AUTH_REGISTRY; without a binding they are not used (registries/secrets.py)."""
    token = environ.get("MCP_REGISTRY_TOKEN") or None
    username = environ.get("MCP_REGISTRY_USERNAME") or None
    password = environ.get("MCP_REGISTRY_PASSWORD") or None
    bound = (environ.get("MCP_REGISTRY_AUTH_REGISTRY") or "").strip() or None
    if not (token or (username and password)):
        return None
    if bound is None:
        print(
            "mcp-operator install: registry credentials without a 'registry' key in their Secret are not "
            "used (docs/security.md#registry-credentials)",
            file=sys.stderr,
        )
        return None
    return Credentials(username=username, password=password, token=token, registry=bound)


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


async def download(
    client: httpx.AsyncClient,
    url: str,
    target: Path,
    expected: Integrity,
    *,
    headers: Mapping[str, str],
    retry: RetryPolicy | None = None,
) -> None:
    """Stream ``url`` into ``target`` while hashing; raise IntegrityMismatch if it differs."""
    normalise_registry_url(url.split("#", 1)[0], what="artifact")
    retry = retry or http.DEFAULT_RETRY
    last = ""
    for attempt in range(retry.attempts):
        hasher = expected.hasher()
        size = 0
        timer = asyncio.timeout(DOWNLOAD_DEADLINE)  # in all, body included: a trickle never ends otherwise
        try:
            # bounded.streaming: redirects followed without reading their bodies (httpx reads them whole)
            async with timer, bounded.streaming(client, "GET", url, headers=headers) as response:
                if response.status_code in {401, 403}:
                    raise InstallFailed(
                        f"the registry refused the download of {redact(url)} (HTTP {response.status_code}); "
                        + (
                            "check the credentials in the Secret named by spec.source.registryAuthSecret"
                            if headers
                            else "it needs credentials: set spec.source.registryAuthSecret to a Secret of "
                            "type mcp-operator.dev/registry-auth bound to this registry"
                        )
                    )
                if response.status_code == 200:
                    length = response.headers.get("content-length", "").strip()
                    if length.isdigit() and int(length) > MAX_ARTIFACT_BYTES:
                        raise InstallFailed(_too_large(url, f"its Content-Length says {length} bytes"))
                    with target.open("wb") as out:
                        # Content-Encoding undone in bounded pieces: a gzip bomb cannot inflate at once.
                        where = redact(url)
                        async for chunk in bounded.iter_decoded(response, what="the artifact", where=where):
                            size += len(chunk)
                            if size > MAX_ARTIFACT_BYTES:
                                raise InstallFailed(_too_large(url, "reading stopped there"))
                            hasher.update(chunk)
                            out.write(chunk)
                    break
                last = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in {408, 429}:
                    raise InstallFailed(f"downloading {redact(url)} failed with {last}; check the registry")
        except httpx.TransportError as exc:
            last = type(exc).__name__
        except TimeoutError:
            if not timer.expired():
                raise
            raise InstallFailed(
                f"downloading {redact(url)} did not finish within {DOWNLOAD_DEADLINE:g} s; the registry is "
                "too slow or never finishes its answer: check it (the pod retries when the init container "
                "restarts)"
            ) from None
        if attempt + 1 < retry.attempts:
            await asyncio.sleep(retry.delay(attempt))
    else:
        raise InstallFailed(
            f"downloading {redact(url)} failed after {retry.attempts} tries ({last}); "
            "the registry is unreachable: the pod retries when the init container restarts"
        )
    actual = Integrity(expected.algorithm, hasher.digest())
    if not expected.matches(actual.digest):
        shown_actual = actual.sri if expected.algorithm != "sha256" else actual.hex
        shown_expected = expected.sri if expected.algorithm != "sha256" else expected.hex
        raise IntegrityMismatch(
            f"integrity mismatch for {redact(url)}: expected {shown_expected}, got {shown_actual}. "
            "The registry serves different content than when the version was pinned; refusing to install. "
            "If the change is legitimate, re-resolve the package (change spec.source.version) so a new "
            "integrity is pinned; otherwise investigate the registry."
        )


def _too_large(url: str, detail: str) -> str:
    return (
        f"{redact(url)} is larger than {MAX_ARTIFACT_BYTES} bytes, the most the installer downloads "
        f"({detail}); check the registry, or pick another version"
    )


def _nerf_dart(registry: str) -> str:
    """npm's per-registry config key: '//host:port/path/'."""
    parts = urlsplit(registry + "/")
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"//{host}{parts.path}"


def npmrc(registry: str, credentials: Credentials | None) -> tuple[str, dict[str, str]]:
    """The .npmrc text and the environment it refers to; secrets stay in the environment."""
    lines = [f"registry={registry}/", "update-notifier=false", "fund=false", "audit=false"]
    env: dict[str, str] = {}
    key = _nerf_dart(registry)
    if credentials and credentials.token:
        lines.append(f"{key}:_authToken=${{MCP_NPM_TOKEN}}")
        env["MCP_NPM_TOKEN"] = credentials.token
    elif credentials and credentials.username and credentials.password is not None:
        lines.append(f"{key}:username=${{MCP_NPM_USERNAME}}")
        lines.append(f"{key}:_password=${{MCP_NPM_PASSWORD_B64}}")
        env["MCP_NPM_USERNAME"] = credentials.username
        env["MCP_NPM_PASSWORD_B64"] = base64.b64encode(credentials.password.encode()).decode()
    return "\n".join(lines) + "\n", env


def _base_env(home: Path) -> dict[str, str]:
    keep: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR")
    keep += (
        "NODE_EXTRA_CA_CERTS",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    )
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["HOME"] = str(home)
    return env


def _run(command: Sequence[str], env: Mapping[str, str], what: str) -> None:
    print(f"mcp-operator install: running {' '.join(command[:3])} ...", file=sys.stderr)
    try:
        result = subprocess.run(  # noqa: S603 - an argument list, never a shell
            list(command), env=dict(env), stdin=subprocess.DEVNULL, timeout=INSTALL_TIMEOUT, check=False
        )
    except FileNotFoundError as exc:
        raise InstallFailed(f"{what}: {command[0]} is not installed in this image") from exc
    except subprocess.TimeoutExpired as exc:
        raise InstallFailed(f"{what} took longer than {INSTALL_TIMEOUT:.0f}s; check registry access") from exc
    if result.returncode != 0:
        raise InstallFailed(
            f"{what} failed (exit code {result.returncode}); see the output above, check that the "
            "registry serves the package's dependencies"
        )


async def install_npm(request: InstallRequest, client: httpx.AsyncClient, work: Path) -> None:
    npm = NpmClient(client, request.registry, request.credentials, cache=None)
    packument = await npm.packument(request.package)
    versions = packument.get("versions") or {}
    manifest = versions.get(request.version) if isinstance(versions, dict) else None
    if not isinstance(manifest, dict):
        raise VersionNotFound(
            f"npm package {request.package!r} has no version {request.version!r} in {request.registry}; "
            "re-resolve the package"
        )
    dist = manifest.get("dist")
    tarball = dist.get("tarball") if isinstance(dist, dict) else None
    if not isinstance(tarball, str):
        raise InvalidPackage(f"npm package {request.package}@{request.version} has no tarball URL")
    headers = auth_headers(request.credentials, tarball) if _same_origin(tarball, request.registry) else {}
    artifact = work / "package.tgz"
    await download(client, tarball, artifact, request.integrity, headers=headers)

    home = work / "home"
    home.mkdir()
    text, secret_env = npmrc(request.registry, request.credentials)
    rc = home / ".npmrc"
    rc.write_text(text)
    rc.chmod(0o600)
    env = _base_env(home) | secret_env
    env["npm_config_userconfig"] = str(rc)
    env["npm_config_cache"] = str(work / "npm-cache")
    npm_bin = shutil.which("npm", path=env.get("PATH"))
    if npm_bin is None:
        raise InstallFailed("npm is not installed in this image; use an image with Node.js and npm")
    request.dest.mkdir(parents=True, exist_ok=True)
    # Lifecycle scripts never run here: npm fetches with the credentials, runs no package code.
    command = [npm_bin, "install", "--prefix", str(request.dest), "--ignore-scripts"]
    command += [
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        "--registry",
        request.registry + "/",
        str(artifact),
    ]
    _run(command, env, f"npm install of {request.package}@{request.version}")
    if request.allow_scripts:
        # Then, if allowed, the scripts, with neither the credentials nor an .npmrc that names them.
        rc.write_text(npmrc(request.registry, None)[0])
        bare = _base_env(home) | {
            "npm_config_userconfig": str(rc),
            "npm_config_cache": env["npm_config_cache"],
        }
        _run(
            [npm_bin, "rebuild", "--prefix", str(request.dest), "--no-audit", "--no-fund"],
            bare,
            f"the install scripts of {request.package}@{request.version}",
        )
    installed = request.dest / "node_modules" / request.package / "package.json"
    try:
        if installed.stat().st_size > MAX_MANIFEST_BYTES:
            raise InstallFailed(f"{installed} is over {MAX_MANIFEST_BYTES} bytes; the package is broken")
        got = json.loads(installed.read_text()).get("version")
    except (OSError, ValueError) as exc:
        raise InstallFailed(f"npm reported success but {installed} is missing") from exc
    if got != request.version:
        raise InstallFailed(f"npm installed {request.package}@{got}, not {request.version}")


async def install_pypi(request: InstallRequest, client: httpx.AsyncClient, work: Path) -> None:
    pypi = PypiClient(client, request.registry, request.credentials, cache=None)
    project, releases = await pypi.releases(request.package)
    wanted = Version(request.version)
    files = next((f for v, f in releases.items() if _same_version(v, wanted)), None)
    if not files:
        raise VersionNotFound(
            f"PyPI project {project!r} has no release {request.version!r} in {request.registry}; "
            "re-resolve the package"
        )
    expected_hex = request.integrity.digest.hex()
    chosen = next((f for f in files if f.sha256 == expected_hex), None)
    if chosen is None:
        listed = ", ".join(f"{f.filename} (sha256:{f.sha256})" for f in files)
        raise IntegrityMismatch(
            f"integrity mismatch: no file of {project} {request.version} in {request.registry} has "
            f"{request.integrity.hex}; the index lists {listed}. Refusing to install: re-resolve the "
            "package if the change is legitimate, otherwise investigate the index."
        )
    if not set(chosen.filename) <= _SAFE_FILENAME or chosen.filename.startswith("."):
        raise InvalidPackage(f"refusing the artifact file name {chosen.filename!r}")
    if request.wheels_only and not chosen.filename.endswith(".whl"):
        raise InstallFailed(
            f"the pinned artifact of {project} {request.version} is {chosen.filename}, not a wheel, and "
            "spec.install.wheelsOnly forbids building one: pin a version that publishes a wheel, or turn "
            "wheelsOnly off"
        )
    headers = (
        auth_headers(request.credentials, chosen.url) if _same_origin(chosen.url, request.registry) else {}
    )
    artifact = work / chosen.filename
    await download(client, chosen.url, artifact, request.integrity, headers=headers)

    home = work / "home"
    home.mkdir()
    if request.credentials is None:
        _pip_install(request, project, artifact, _base_env(home), request.registry)
        return
    # pip never holds the credentials: build backends of sdists run in pip's subprocesses.
    with credential_proxy(request.registry, request.credentials) as proxied:
        _pip_install(request, project, artifact, _base_env(home), proxied)


def _pip_install(
    request: InstallRequest, project: str, artifact: Path, env: dict[str, str], index_base: str
) -> None:
    env["PIP_INDEX_URL"] = index_base + "/simple/"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PIP_CONFIG_FILE"] = os.devnull
    index = urlsplit(index_base)
    if index.scheme == "http" and index.hostname:
        # pip ignores a plain-http index unless its host is trusted: the user chose this registry
        # (or it is the loopback credential proxy); the package itself was checked against its
        # pinned digest above, its dependencies are not.
        env["PIP_TRUSTED_HOST"] = index.hostname + (f":{index.port}" if index.port else "")
    python = request.dest / "bin" / "python"
    if importlib.util.find_spec("pip") is not None:
        # Fast path: an empty venv, filled by this interpreter's pip (pip >= 22.3 has --python).
        _run(
            [sys.executable, "-m", "venv", "--without-pip", str(request.dest)], env, "creating the virtualenv"
        )
        pip = [sys.executable, "-m", "pip", "--python", str(python)]
    else:  # pragma: no cover - images whose Python has no pip
        _run([sys.executable, "-m", "venv", str(request.dest)], env, "creating the virtualenv")
        pip = [str(python), "-m", "pip"]
    wheels = ["--only-binary=:all:"] if request.wheels_only else []
    _run(
        [*pip, "install", "--no-cache-dir", *wheels, str(artifact)],
        env,
        f"pip install of {project}=={request.version}",
    )


def _same_version(text: str, wanted: Version) -> bool:
    try:
        return Version(text) == wanted
    except InvalidVersion:
        return False


async def install(request: InstallRequest, *, client: httpx.AsyncClient | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="mcp-install-") as tmp:
        work = Path(tmp)
        if client is None:
            async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as own:
                await _install(request, own, work)
        else:
            await _install(request, client, work)


async def _install(request: InstallRequest, client: httpx.AsyncClient, work: Path) -> None:
    if request.source_type == "npm":
        await install_npm(request, client, work)
    else:
        await install_pypi(request, client, work)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-operator install",
        description="Install one pinned package, verified against its integrity, into a directory.",
    )
    parser.add_argument("--type", dest="source_type", required=True, choices=["npm", "pypi"])
    parser.add_argument("--package", required=True)
    parser.add_argument("--version", required=True, help="the exact version to install")
    parser.add_argument("--integrity", required=True, help="npm SRI (sha512-...) or PyPI sha256:<hex>")
    parser.add_argument("--registry", default=None, help="registry or index URL")
    parser.add_argument("--dest", required=True, help="directory to install into")
    parser.add_argument("--allow-scripts", action="store_true", help="run npm lifecycle scripts")
    parser.add_argument(
        "--wheels-only", action="store_true", help="PyPI: install wheels only, never build an sdist"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exc:  # argparse already printed the problem (or the help)
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    prefix = "mcp-operator install"
    try:
        request = InstallRequest(
            source_type=args.source_type,
            package=args.package,
            version=args.version,
            integrity=args.integrity,
            registry=args.registry,
            dest=args.dest,
            allow_scripts=args.allow_scripts,
            wheels_only=args.wheels_only,
            credentials=credentials_from_env(os.environ),
        )
    except UsageError as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        asyncio.run(install(request))
    except IntegrityMismatch as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except (RegistryError, InstallFailed) as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return EXIT_INSTALL
    print(f"{prefix}: installed {request.package}@{request.version} into {request.dest}", file=sys.stderr)
    return EXIT_OK
