"""The local node starts within bounds, even over what a killed node left, and its stop leaves
nothing behind: no process, mount, bridge, iptables chain or cgroup. Runs before the other node
tests (marker own_node), with a node of its own and one real pod, so the cleanup has a sandbox, a
veth and Service rules to remove."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.controlplane import manage
from tests.fixtures.node import RUNTIME_ARCHIVE, install_crds, unavailable
from tests.node import node as local_node

pytestmark = [pytest.mark.node, pytest.mark.own_node]
ROOT = Path(__file__).resolve().parents[2]


def leave_a_dead_node(node: local_node.Node) -> subprocess.Popen[bytes]:
    """What a node whose run was killed leaves (a session ending, SIGKILL): its bridge, a chain and
    an orphaned process under its directory. Made while holding the machine, as a node would."""
    node._take_machine()
    dead_dir = Path(tempfile.gettempdir()) / f"{local_node.NODE_DIR_PREFIX}dead"
    # A node killed before this run may have left some of these already: that is the same state,
    # so each piece is made only where it is missing, and then checked to be there.
    if local_node.run("ip", "link", "show", local_node.BRIDGE, check=False).returncode != 0:
        local_node.run("ip", "link", "add", local_node.BRIDGE, "type", "bridge")
    local_node.run("iptables", "-N", "KUBE-DEAD-NODE", check=False)
    assert "KUBE-DEAD-NODE" in local_node.run("iptables-save").stdout
    if shutil.which("ipset") is not None:  # the policy engine's sets (tests/node/netpol.py)
        local_node.run("ipset", "create", "KUBE-DST-DEADNODE", "hash:ip", "-exist")
    return subprocess.Popen(["sleep", "300", str(dead_dir)], start_new_session=True)


def test_start_run_a_pod_and_stop_without_leftovers() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"no local node: {reason}")
    run_dir = manage.RUN_DIR / f"lifecycle-{uuid.uuid4().hex[:8]}"
    process = manage.spawn(run_dir, node=True)
    node_dir = Path(tempfile.mkdtemp(prefix=local_node.NODE_DIR_PREFIX))
    node = None
    dead: subprocess.Popen[bytes] | None = None
    try:
        cp = manage.wait_ready(process, run_dir, 180)
        install_crds(cp)
        node = local_node.Node(cp, node_dir)
        dead = leave_a_dead_node(node)
        node.start([RUNTIME_ARCHIVE])
        assert node.started_seconds < 120
        assert dead.poll() is not None, "a dead node's orphaned process must be ended by the next start"
        assert "KUBE-DEAD-NODE" not in local_node.run("iptables-save").stdout
        if shutil.which("ipset") is not None:
            assert "KUBE-DST-DEADNODE" not in local_node.run("ipset", "list", "-n").stdout
        kubectl = [str(ROOT / ".cache" / "bin" / "kubectl"), f"--kubeconfig={cp.kubeconfig}", "-n", "default"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper", "labels": {"app": "sleeper"}},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "ghcr.io/mcp-operator/runtime:0.1.0",
                        "imagePullPolicy": "Never",
                        "command": ["python3", "-m", "http.server", "8000"],
                    }
                ]
            },
        }
        subprocess.run(
            [*kubectl, "apply", "-f", "-"], input=json.dumps(pod), text=True, check=True, capture_output=True
        )
        subprocess.run(
            [*kubectl, "expose", "pod", "sleeper", "--port", "80", "--target-port", "8000"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=120s"],
            check=True,
            capture_output=True,
        )
        logs = subprocess.run([*kubectl, "logs", "sleeper"], check=True, capture_output=True, text=True)
        assert "Serving HTTP" in logs.stdout  # kubectl logs reaches the kubelet
        assert node.leftovers(), "a running node must show up in leftovers(), or the check proves nothing"
    finally:
        if dead is not None and dead.poll() is None:
            dead.kill()
            dead.wait()
        started = time.monotonic()
        if node is not None:
            node.stop()
        stop_seconds = time.monotonic() - started
        left = node.left_behind if node is not None else []
        manage.stop(process)
        shutil.rmtree(node_dir, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    assert left == []
    assert stop_seconds < 60
