"""The local node's NetworkPolicy engine: kube-router's network policy controller (only
--run-firewall), built from its Go module at the version tests/node/kube-router/go.mod pins, into
.cache/bin/kube-router. It programs iptables (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-* chains)
and ipsets (KUBE-SRC-*, KUBE-DST-*), so it needs the `ipset` tool (`make debs`).

Standard library only, so that `make deps` (target policy-engine) can build it before the venv
exists:

    python3 tests/node/netpol.py    # go build, skipped when the stamp matches

v2.1.0 is the only version the Go module proxy lists (2026-12). Security flaws are reported
against it: it runs only on the test suite's local node, and `go mod tidy` raised some of its
dependencies (golang.org/x/net, grpc, x/sys...) above what its own go.mod asks. To move it:
`cd tests/node/kube-router && go get -tool github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@VERSION
&& go mod tidy`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULE = HERE / "kube-router"  # go.mod + go.sum: the pinned version and every dependency
PACKAGE = "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
BINARY = ROOT / ".cache" / "bin" / "kube-router"
STAMP = BINARY.with_name("kube-router.stamp")

# What kube-router leaves in the kernel besides KUBE-* chains: its ipsets (TMP-* while it swaps one).
IPSET_PREFIXES = ("KUBE-", "TMP-", "inet6:KUBE-", "inet6:TMP-")


def version() -> str:
    """The kube-router version go.mod requires, e.g. "v2.1.0"."""
    for line in (MODULE / "go.mod").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "github.com/cloudnativelabs/kube-router/v2":
            return fields[1]
    raise RuntimeError(f"kube-router is not required in {MODULE / 'go.mod'}")


def build_flags() -> list[str]:
    """-trimpath, stripped, and the version it logs (as upstream's build sets it)."""
    stamp = f"-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={version()}"
    return ["-trimpath", "-buildvcs=false", f"-ldflags=-s -w {stamp}"]


def source_hash() -> str:
    digest = hashlib.sha256(" ".join(build_flags()).encode())
    for name in ("go.mod", "go.sum"):
        digest.update(name.encode() + b"\0" + (MODULE / name).read_bytes() + b"\0")
    return digest.hexdigest()


def is_built() -> bool:
    return BINARY.is_file() and STAMP.is_file() and STAMP.read_text().strip() == source_hash()


def find_go() -> str | None:
    for candidate in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    return None


def build(*, quiet: bool = False) -> Path:
    """Build .cache/bin/kube-router unless the stamp says it is up to date (a cold build takes
    about two minutes on two cores; Go's per-user caches make a rebuild quick)."""
    if is_built():
        if not quiet:
            print(f"kube-router: {BINARY} is up to date", file=sys.stderr)
        return BINARY
    go = find_go()
    if go is None:
        raise RuntimeError("no Go toolchain to build kube-router with")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    tmp = BINARY.with_name(f"kube-router.tmp{os.getpid()}")
    print(f"kube-router: building {version()} into {BINARY} with {go}", file=sys.stderr)
    started = time.monotonic()
    env = {**os.environ, "CGO_ENABLED": "0"}
    subprocess.run([go, "build", *build_flags(), "-o", str(tmp), PACKAGE], cwd=MODULE, env=env, check=True)
    tmp.replace(BINARY)
    STAMP.write_text(source_hash() + "\n")
    print(f"kube-router: built in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return BINARY


def main() -> int:
    if find_go() is None:
        print("kube-router: Go is not installed: the NetworkPolicy tests will be skipped", file=sys.stderr)
        return 0
    build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
