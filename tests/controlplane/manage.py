"""Build, start and stop the local Kubernetes control plane (see README.md).

Standard library only, so that `make controlplane` works before the venv exists:

    python3 tests/controlplane/manage.py build            # go build, skipped when the stamp matches
    python3 tests/controlplane/manage.py start [--dir D]  # background; prints the kubeconfig path
    python3 tests/controlplane/manage.py stop [--dir D]
    python3 tests/controlplane/manage.py run [--dir D]    # foreground; Ctrl-C stops it

The pytest plugin tests/fixtures/controlplane.py and `make demo` use the functions below.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN_DIR = HERE / "bin"
BINARY = BIN_DIR / "controlplane"
STAMP = BIN_DIR / "controlplane.stamp"
RUN_DIR = HERE / "run"


def kubernetes_version() -> str:
    """The k8s.io/kubernetes version that go.mod requires, e.g. "v1.36.3"."""
    for line in (HERE / "go.mod").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "k8s.io/kubernetes" and fields[1].startswith("v"):
            return fields[1]
    raise RuntimeError("k8s.io/kubernetes is not required in tests/controlplane/go.mod")


def build_flags() -> list[str]:
    """-trimpath, stripped, and the version that /version reports (as upstream's build sets it)."""
    version = kubernetes_version()
    major, minor = version.lstrip("v").split(".")[:2]
    stamps = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return ["-trimpath", "-buildvcs=false", "-ldflags=-s -w " + " ".join(stamps)]


class GoMissingError(RuntimeError):
    """No Go toolchain to build the control plane with."""


def find_go() -> str | None:
    """The go command: $GO, then PATH, then the usual install locations."""
    candidates = [
        os.environ.get("GO"),
        shutil.which("go"),
        "/usr/local/go/bin/go",
        str(Path.home() / "go/bin/go"),
    ]
    goroot = os.environ.get("GOROOT")
    if goroot:
        candidates.append(str(Path(goroot) / "bin/go"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    return None


def source_hash() -> str:
    """Hash of go.mod, go.sum, the .go sources and the build flags."""
    digest = hashlib.sha256()
    digest.update(" ".join(build_flags()).encode())
    files = [HERE / "go.mod", HERE / "go.sum", *sorted(HERE.glob("*.go"))]
    for path in files:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_built() -> bool:
    return BINARY.is_file() and STAMP.is_file() and STAMP.read_text().strip() == source_hash()


def build(*, quiet: bool = False) -> Path:
    """Build bin/controlplane unless the stamp says it is up to date. Returns the binary."""
    if is_built():
        if not quiet:
            print(f"controlplane: {BINARY} is up to date", file=sys.stderr)
        return BINARY
    go = find_go()
    if go is None:
        raise GoMissingError(
            "the Go toolchain (go, >= 1.26) was not found on PATH, in $GO or in /usr/local/go/bin; "
            "it is needed to build the local Kubernetes control plane in tests/controlplane"
        )
    BIN_DIR.mkdir(exist_ok=True)
    tmp = BIN_DIR / f"controlplane.tmp{os.getpid()}"
    print(f"controlplane: building {BINARY} with {go} (a cold build takes minutes)", file=sys.stderr)
    started = time.monotonic()
    # GOCACHE and GOMODCACHE are Go's per-user defaults, shared by every clone.
    subprocess.run([go, "build", *build_flags(), "-o", str(tmp), "."], cwd=HERE, check=True)
    tmp.replace(BINARY)
    STAMP.write_text(source_hash() + "\n")
    print(f"controlplane: built in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return BINARY


@dataclass(frozen=True)
class ControlPlane:
    """A running control plane, as described by its run directory's state.json."""

    run_dir: Path
    pid: int
    server: str
    kubeconfig: Path
    ca_cert: Path
    client_cert: Path
    client_key: Path
    ready_seconds: float
    node_kubeconfig: Path | None = None  # with `up --node`: the kubelet's credentials

    @classmethod
    def from_state(cls, run_dir: Path) -> ControlPlane:
        state = json.loads((run_dir / "state.json").read_text())
        return cls(
            run_dir=run_dir,
            pid=state["pid"],
            server=state["server"],
            kubeconfig=Path(state["kubeconfig"]),
            ca_cert=Path(state["ca_cert"]),
            client_cert=Path(state["client_cert"]),
            client_key=Path(state["client_key"]),
            ready_seconds=state["ready_seconds"],
            node_kubeconfig=Path(state["node_kubeconfig"]) if state.get("node_kubeconfig") else None,
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context

    def readyz(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.server}/readyz", context=self.ssl_context(), timeout=timeout
            ) as response:
                return response.status == 200
        except OSError:
            return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn(
    run_dir: Path, *, log_path: Path | None = None, exit_with_parent: bool = True, node: bool = False
) -> subprocess.Popen[bytes]:
    """Start `controlplane up` in its own session; it writes run_dir/state.json when ready."""
    binary = build(quiet=True)
    run_dir = run_dir.resolve()
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = log_path or run_dir.with_name(run_dir.name + ".log")
    args = [str(binary), "up", "--dir", str(run_dir)]
    if exit_with_parent:
        args.append("--exit-with-parent")
    if node:
        args.append("--node")  # kube-scheduler too, and credentials for tests/node
    with log_path.open("wb") as log:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(process: subprocess.Popen[bytes], run_dir: Path, timeout: float = 180.0) -> ControlPlane:
    """Poll (deadline-based) until state.json exists and /readyz answers 200."""
    run_dir = run_dir.resolve()
    deadline = time.monotonic() + timeout
    state = run_dir / "state.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"control plane exited with code {process.returncode} before it was ready; "
                f"see {run_dir.with_name(run_dir.name + '.log')} and the logs in {run_dir}"
            )
        if state.is_file():
            cp = ControlPlane.from_state(run_dir)
            if cp.pid == process.pid and cp.readyz():
                return cp
        time.sleep(0.1)
    raise TimeoutError(f"control plane in {run_dir} not ready within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 45.0) -> None:
    """SIGTERM, wait; SIGKILL the whole process group if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextlib.contextmanager
def running(run_dir: Path, timeout: float = 180.0) -> Iterator[ControlPlane]:
    """Build if needed, start, wait until ready, yield, stop."""
    process = spawn(run_dir)
    try:
        yield wait_ready(process, run_dir, timeout)
    finally:
        stop(process)


# Background start/stop for `make controlplane-start` / `make controlplane-stop`.


def _pidfile(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".pid")


def start_background(run_dir: Path, timeout: float = 180.0) -> ControlPlane:
    pidfile = _pidfile(run_dir)
    if pidfile.is_file() and _alive(int(pidfile.read_text())):
        cp = ControlPlane.from_state(run_dir)
        print(f"controlplane: already running (pid {cp.pid})", file=sys.stderr)
        return cp
    process = spawn(run_dir, exit_with_parent=False)
    pidfile.write_text(f"{process.pid}\n")
    try:
        return wait_ready(process, run_dir, timeout)
    except BaseException:
        stop(process)
        pidfile.unlink(missing_ok=True)
        raise


def stop_background(run_dir: Path, timeout: float = 45.0) -> None:
    pidfile = _pidfile(run_dir)
    if not pidfile.is_file():
        print("controlplane: not running", file=sys.stderr)
        return
    pid = int(pidfile.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    print(f"controlplane: stopped (pid {pid})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["build", "start", "stop", "run", "status"])
    parser.add_argument("--dir", type=Path, default=RUN_DIR / "make", help="run directory")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build()
        elif args.command == "start":
            cp = start_background(args.dir, args.timeout)
            print(f"control plane ready (pid {cp.pid}) at {cp.server}")
            print(f"kubeconfig: {cp.kubeconfig}")
            print(f"export KUBECONFIG={cp.kubeconfig}")
        elif args.command == "stop":
            stop_background(args.dir)
        elif args.command == "status":
            pidfile = _pidfile(args.dir)
            if pidfile.is_file() and _alive(int(pidfile.read_text())):
                cp = ControlPlane.from_state(args.dir)
                print(
                    f"running (pid {cp.pid}) at {cp.server}, ready={cp.readyz()}, kubeconfig: {cp.kubeconfig}"
                )
            else:
                print("not running")
                return 1
        else:  # run: foreground, the Go supervisor handles Ctrl-C / SIGTERM
            binary = build()
            os.execv(binary, [str(binary), "up", "--dir", str(args.dir.resolve())])
    except GoMissingError as error:
        print(f"controlplane: {error}", file=sys.stderr)
        return 3
    except subprocess.CalledProcessError as error:
        print(f"controlplane: build failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
