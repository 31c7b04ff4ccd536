"""The whole local cluster as one context manager: the control plane with a real node (tests/node),
the images `make images` built loaded into its containerd, the CRDs, and npm/PyPI registries that
its pods reach at the node's bridge address, serving the real MCP servers of the mirror
(tools/mirror.py) from the start.

The test fixture (tests/fixtures/node.py), `make demo` (tools/demo.py) and bench/coldstart.py use it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane import manage
from tests.fixtures.registries import MIRROR, NpmRegistry, PypiRegistry, mirror_storage
from tests.node import node as local_node

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_ARCHIVE = ROOT / ".cache" / "images" / "runtime.oci.tar"
KUBECTL = ROOT / ".cache" / "bin" / "kubectl"


@dataclass
class Stack:
    controlplane: manage.ControlPlane
    node: local_node.Node
    npm: NpmRegistry
    pypi: PypiRegistry

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        command = [str(KUBECTL), f"--kubeconfig={self.controlplane.kubeconfig}", *args]
        return subprocess.run(
            command, check=check, capture_output=True, text=True, input=stdin, timeout=timeout
        )


def unavailable() -> str | None:
    """Why this machine cannot run the stack, or None."""
    reason = local_node.missing()
    if reason is None and not RUNTIME_ARCHIVE.is_file():
        reason = f"{RUNTIME_ARCHIVE} not built (make images)"
    if reason is None and not any((MIRROR / "npm").glob("*.tgz")):
        reason = f"{MIRROR} has no packages (make mirror)"
    return reason


def install_crds(cp: manage.ControlPlane) -> None:
    """The generated CRDs, applied server-side and waited for until their lists answer."""
    kubectl = [str(KUBECTL), f"--kubeconfig={cp.kubeconfig}"]
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True, capture_output=True
    )
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 60
    for plural in ("mcppackages", "mcpservers"):
        while subprocess.run([*kubectl, "get", plural, "-A"], capture_output=True, check=False).returncode:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{plural} not served 60s after the CRDs were applied")
            time.sleep(0.1)


def examples_for(stack: Stack, paths: list[Path]) -> tuple[str, list[str]]:
    """The manifests of `paths` (files, or folders without recursing, as `kubectl apply -f` reads
    them) as one stream, npm and PyPI packages that name no registry pointed at the stack's:
    pods here cannot reach the public registries. Returns the stream and the packages pointed."""
    files = [f for p in paths for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]
    docs: list[dict[str, Any]] = []
    pointed = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            source = doc.get("spec", {}).get("source", {}) if doc.get("kind") == "MCPPackage" else {}
            if source.get("type") in {"npm", "pypi"} and not source.get("registry"):
                source["registry"] = stack.npm.url if source["type"] == "npm" else stack.pypi.url
                pointed.append(doc["metadata"]["name"])
            docs.append(doc)
    return yaml.safe_dump_all(docs, sort_keys=False), pointed


@contextmanager
def local_stack(workdir: Path, say: Callable[[str], None] = lambda _: None) -> Iterator[Stack]:
    """Start everything (bounded), yield it, and stop it leaving nothing behind (raises if it did)."""
    manage.build(quiet=True)
    run_dir = manage.RUN_DIR / f"node-{uuid.uuid4().hex[:8]}"
    say("starting etcd, kube-apiserver, kube-controller-manager and kube-scheduler")
    process = manage.spawn(run_dir, node=True)
    # short: unix socket paths are limited
    node_dir = Path(tempfile.mkdtemp(prefix=local_node.NODE_DIR_PREFIX))
    node: local_node.Node | None = None
    registries: list[NpmRegistry | PypiRegistry] = []
    try:
        cp = manage.wait_ready(process, run_dir, 180)
        install_crds(cp)
        say("starting the node: containerd, kubelet, kube-proxy (images imported from .cache/images)")
        node = local_node.Node(cp, node_dir)
        node.start([RUNTIME_ARCHIVE])
        say(f"starting verdaccio and pypiserver on {local_node.GATEWAY}, serving the pinned MCP servers")
        for sub in ("npm", "pypi"):  # fresh registries every time
            shutil.rmtree(workdir / sub, ignore_errors=True)
            (workdir / sub).mkdir(parents=True)
        npm = NpmRegistry(workdir / "npm", host=local_node.GATEWAY, seed=mirror_storage())
        pypi = PypiRegistry(workdir / "pypi", host=local_node.GATEWAY)
        pypi.publish_mirror()
        for registry in (npm, pypi):
            registry.start()
            registries.append(registry)
        yield Stack(cp, node, npm, pypi)
    finally:
        for registry in registries:
            registry.stop()
        left: list[str] = []
        if node is not None:
            node.stop()
            left = node.left_behind
        manage.stop(process)
        shutil.rmtree(node_dir, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        if left:
            raise RuntimeError(f"the node left things behind: {left}")
