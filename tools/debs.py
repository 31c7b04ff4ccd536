"""`make debs`: install the pinned Debian packages of tools/debs.txt that are missing, as root.

Without root (or without apt-get) it says what is missing and exits 0: the tests that need those
packages are skipped with one line naming them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

LIST = Path(__file__).with_name("debs.txt")


def wanted() -> list[tuple[str, str]]:
    pairs = []
    for raw in LIST.read_text().splitlines():
        entry = raw.split("#", 1)[0].strip()
        if entry:
            name, _, version = entry.partition("=")
            pairs.append((name, version))
    return pairs


def installed(name: str) -> str | None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", name], capture_output=True, text=True, check=False
    )
    parts = done.stdout.split()
    return parts[-1] if done.returncode == 0 and parts[:3] == ["install", "ok", "installed"] else None


def main() -> int:
    if shutil.which("dpkg-query") is None:
        print("debs: not a Debian system: install what tools/debs.txt lists yourself", file=sys.stderr)
        return 0
    missing = [f"{n}={v}" for n, v in wanted() if installed(n) != v]
    if not missing:
        return 0
    if os.geteuid() != 0:
        print(f"debs: not root, not installing {' '.join(missing)}: the tests that need them are skipped")
        return 0
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    subprocess.run(install, check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
