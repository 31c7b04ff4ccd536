"""`make mirror`: the real MCP servers the node tests and the demo run, fetched once into
.cache/mirror so that tests serve them from the local verdaccio and pypiserver, never from a
public registry.

Inputs are pinned and committed:

* tools/mirror/package-lock.json -- @modelcontextprotocol/server-everything and its whole
  dependency tree, each tarball with its sha512 integrity (npm's lock format).
* tools/mirror/pypi.txt -- mcp-server-time and its dependencies as ``name==version`` with sha256
  hashes, wheels for the runtime image's CPython 3.13 on x86_64 Linux.

    python tools/mirror.py           # fetch what is missing, verify every file
    python tools/mirror.py --lock    # re-pin (needs the public registries): then commit tools/mirror/
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "tools" / "mirror"
NPM_LOCK = PINS / "package-lock.json"
PYPI_PINS = PINS / "pypi.txt"
OUT = ROOT / ".cache" / "mirror"
NPM_OUT = OUT / "npm"
PYPI_OUT = OUT / "pypi"
PYPI_TOP = ["mcp-server-time==2026.10.19"]
# The runtime image's interpreter (tools/images.py: Debian 13's python3 3.13).
PYPI_TARGET = [
    "--only-binary=:all:",
    "--python-version=3.13",
    "--implementation=cp",
    "--abi=cp313",
    "--abi=abi3",
    "--abi=none",
    "--platform=manylinux_2_28_x86_64",
    "--platform=manylinux_2_17_x86_64",
    "--platform=manylinux2014_x86_64",
    "--platform=any",
]


def npm_pins() -> list[tuple[str, str, str, str]]:
    """(name, version, tarball URL, integrity) for every package of the lock, deduplicated."""
    registry = npm_registry()
    lock = json.loads(NPM_LOCK.read_text())
    pins: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for path, entry in lock["packages"].items():
        if not path:
            continue
        name = entry.get("name") or path.rsplit("node_modules/", 1)[-1]
        version = entry["version"]
        # npm omits "resolved" when the lock is written against the default registry.
        url = entry.get("resolved") or f"{registry}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
        pins[(name, version)] = (name, version, url, entry["integrity"])
    return sorted(pins.values())


def npm_registry() -> str:
    done = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True, check=False)
    return (done.stdout.strip() or "https://registry.npmjs.org").rstrip("/")


def npm_filename(name: str, version: str) -> str:
    return f"{name.replace('/', '__')}-{version}.tgz"


def sri_matches(data: bytes, integrity: str) -> bool:
    algorithm, _, digest = integrity.partition("-")
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == digest


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def fetch_npm() -> int:
    NPM_OUT.mkdir(parents=True, exist_ok=True)
    fetched = 0
    for name, version, url, integrity in npm_pins():
        target = NPM_OUT / npm_filename(name, version)
        if target.is_file() and sri_matches(target.read_bytes(), integrity):
            continue
        data = download(url)
        if not sri_matches(data, integrity):
            raise SystemExit(f"mirror: {url} does not match its pinned integrity {integrity}; refusing it")
        target.write_bytes(data)
        fetched += 1
    return fetched


def pypi_pins() -> list[tuple[str, str]]:
    """(requirement, sha256) from pypi.txt."""
    pins = []
    for raw in PYPI_PINS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            requirement, _, digest = line.partition(" --hash=sha256:")
            pins.append((requirement.strip(), digest.strip()))
    return pins


def fetch_pypi() -> int:
    PYPI_OUT.mkdir(parents=True, exist_ok=True)
    have = {hashlib.sha256(p.read_bytes()).hexdigest() for p in PYPI_OUT.glob("*.whl")}
    missing = [(req, digest) for req, digest in pypi_pins() if digest not in have]
    if not missing:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(f"{req} --hash=sha256:{digest}\n" for req, digest in missing))
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes", *PYPI_TARGET]
        subprocess.run([*pip, "-d", str(PYPI_OUT), "-r", str(requirements)], check=True)
    return len(missing)


def lock() -> None:
    """Re-resolve both pin files from the public registries."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(PINS / "package.json", tmp)
        npm = ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"]
        subprocess.run(npm, cwd=tmp, check=True)
        shutil.copy(Path(tmp) / "package-lock.json", NPM_LOCK)
        wheels = Path(tmp) / "wheels"
        pip = [sys.executable, "-m", "pip", "download", "-q", *PYPI_TARGET, "-d", str(wheels), *PYPI_TOP]
        subprocess.run(pip, check=True)
        lines = ["# written by `python tools/mirror.py --lock`: wheels for CPython 3.13 on x86_64 Linux"]
        for wheel in sorted(wheels.glob("*.whl"), key=lambda p: p.name.lower()):
            name, version = wheel.name.split("-")[:2]
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines.append(f"{name}=={version} --hash=sha256:{digest}")
        PYPI_PINS.write_text("\n".join(lines) + "\n")


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--lock", action="store_true", help="re-pin from the public registries")
    args = parser.parse_args()
    if args.lock:
        lock()
    try:
        npm, pypi = fetch_npm(), fetch_pypi()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(
            f"mirror: fetching the pinned MCP servers failed ({exc}); the registries used are "
            f"{npm_registry()} and pip's index: check network access to them and run `make mirror` again",
            file=sys.stderr,
        )
        return 1
    if npm or pypi:
        print(f"mirror: fetched {npm} npm tarballs and {pypi} wheels into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
