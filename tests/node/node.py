"""A real Kubernetes node next to the local control plane: containerd, runc and the CNI plugins
from Debian (`make debs`), kubelet and kube-proxy from the control plane's own binary (roles of
tests/controlplane, built from the same pinned k8s.io/kubernetes module).

NetworkPolicies are enforced: kube-router's policy controller (tests/node/netpol.py, built from its
pinned Go module) runs beside kube-proxy when the machine has what it needs (`policy_missing()`).

What ../shared/notes/real-node.md found necessary on this kind of machine is here on purpose:
containerd's CRI with restrict_oom_score_adj (the VM withholds CAP_SYS_RESOURCE) and cgroupfs, a
pause image built here (registry.k8s.io is unreachable), a bridge network with host-local IPAM,
the node-lifecycle controller (it removes the not-ready taint), and a cleanup that leaves no
process, mount, bridge, iptables chain, ipset or cgroup behind (`stop()` records in `left_behind`
what would remain).

Pods reach the host at GATEWAY (the bridge's address): local registries for pods listen there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.controlplane import manage
from tests.fixtures.processes import end
from tests.fixtures.registries import free_port
from tests.node import netpol

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "operator"))

from mcp_operator.imagebuild.layout import Layout, image_config  # noqa: E402

NODE_NAME = "mcp-node"
BRIDGE = "mcpbr0"
POD_CIDR = "10.244.0.0/24"
GATEWAY = "10.244.0.1"
PAUSE_IMAGE = "localhost/mcp-pause:1"
CNI_BIN = Path("/usr/lib/cni")
SERVICE_CIDR = "10.96.0.0/24"  # the API server's --service-cluster-ip-range (tests/controlplane/up.go)
CHAIN_PREFIXES = ("KUBE-", "CNI-")
CGROUP_NAMES = ("kubepods", "kubepods.slice")
NODE_DIR_PREFIX = "mcp-node-"  # every node's directory: tempfile.mkdtemp(prefix=NODE_DIR_PREFIX)
LOCK_FILE = Path(tempfile.gettempdir()) / "mcp-operator-node.lock"
LOCK_TIMEOUT = 240.0  # under the suite's per-test timeout, so that the message below is what fails
NEEDED_TOOLS = ("containerd", "ctr", "runc", "iptables", "iptables-save", "iptables-restore", "ip")


def missing() -> str | None:
    """Why this machine cannot run the node, in one line; None when it can."""
    if os.geteuid() != 0:
        return "not root"
    absent = [tool for tool in NEEDED_TOOLS if shutil.which(tool) is None]
    if absent:
        return f"{', '.join(absent)} not installed (make debs)"
    if not (CNI_BIN / "bridge").is_file():
        return f"no CNI bridge plugin in {CNI_BIN} (make debs installs containernetworking-plugins)"
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        return "the kernel has no br_netfilter (bridge-nf-call-iptables): Services cannot work"
    if manage.find_go() is None:
        return "no Go toolchain to build the kubelet with"
    return None


def policy_missing() -> str | None:
    """Why the node cannot enforce NetworkPolicies (kube-router's policy controller), in one line;
    None when it can. Asked only of a machine that can run the node at all."""
    if shutil.which("ipset") is None:
        return "ipset not installed (make debs)"
    if run("ipset", "list", "-n", check=False).returncode != 0:
        return "the kernel has no ipset support (CONFIG_IP_SET): kube-router cannot run"
    return None


def run(
    *args: str, check: bool = True, timeout: float = 60, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout, **kwargs)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def build_pause(out_dir: Path) -> Path:
    """The pause image as an OCI archive: one static binary, built from tests/controlplane/pause."""
    go = manage.find_go()
    assert go is not None
    binary = out_dir / "pause"
    env = {**os.environ, "CGO_ENABLED": "0"}
    run(
        go,
        "build",
        "-trimpath",
        "-ldflags=-s -w",
        "-o",
        str(binary),
        "./pause",
        cwd=manage.HERE,
        env=env,
        timeout=300,
    )
    with tempfile.TemporaryDirectory() as tmp:
        layer_tar = Path(tmp) / "layer.tar"
        with tarfile.open(layer_tar, "w") as tar:
            info = tar.gettarinfo(str(binary), arcname="pause")
            info.uid = info.gid = 0
            info.mtime = 0
            with binary.open("rb") as handle:
                tar.addfile(info, handle)
        layout = Layout(Path(tmp) / "layout")
        layer = layout.add_layer(layer_tar)
        config = image_config(
            user="65535:65535", env={}, workdir="/", labels={}, created="1970-01-01T00:00:00Z"
        )
        config["config"]["Entrypoint"] = ["/pause"]
        layout.add_image([layer], config, PAUSE_IMAGE, {})
        archive = out_dir / "pause.oci.tar"
        layout.archive(archive)
    return archive


@dataclass
class Node:
    controlplane: manage.ControlPlane
    run_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    started_seconds: float = 0.0
    policy_seconds: float = 0.0  # of started_seconds: kube-router's start, until its chains were in place
    # Why NetworkPolicies are not enforced on this node (policy_missing()), or None when they are.
    no_policy_engine: str | None = None
    left_behind: list[str] = field(default_factory=list)  # what stop() could not remove
    _lock: IO[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.run_dir / "containerd" / "containerd.sock"

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run("ctr", "--address", str(self.socket), "-n", "k8s.io", *args, check=check, timeout=timeout)

    # ---------------------------------------------------------------------------------- start
    def start(self, images: list[Path], timeout: float = 120) -> None:
        assert self.controlplane.node_kubeconfig is not None, "start the control plane with node=True"
        self._take_machine()
        self._clear_dead_node()
        started = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._network()
        self._containerd()
        for archive in [build_pause(self.run_dir), *images]:
            self.ctr("images", "import", str(archive), timeout=600)
        self._kubelet()
        self._proxy()
        self._wait_ready(timeout)
        self.no_policy_engine = policy_missing()
        if self.no_policy_engine is None:  # it identifies its node by the Node object
            self._policy_engine(min(timeout, 60))
        self.started_seconds = time.monotonic() - started

    def _take_machine(self, timeout: float = LOCK_TIMEOUT) -> None:
        """One node per machine (its bridge, iptables chains and cgroups have fixed names): wait,
        bounded, for another node (a parallel run, a demo) to stop."""
        if self._lock is not None:
            return
        self._lock = LOCK_FILE.open("wb")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._lock.close()
                    self._lock = None
                    raise RuntimeError(
                        f"another local node has held {LOCK_FILE} for {timeout:.0f}s: stop it (a demo or "
                        "another test run) and try again"
                    ) from None
                time.sleep(0.5)

    def _clear_dead_node(self) -> None:
        """A node whose test run was killed (SIGKILL, a machine's session ending) never ran stop():
        its bridge, chains, cgroups and orphaned containerd shims would make this start fail. The
        machine is ours (the lock), so whatever a node leaves is a dead node's: remove it, and say so."""
        dead = Machine(str(Path(tempfile.gettempdir()) / NODE_DIR_PREFIX))
        found = dead.leftovers()
        if found:
            left = ", ".join(found)
            print(f"local node: removing what a node that was not stopped left: {left}", file=sys.stderr)
            dead.clean()

    def _sysctl(self, key: str, value: str) -> None:
        path = Path("/proc/sys") / key.replace(".", "/")
        self.sysctls.setdefault(key, path.read_text().strip())
        path.write_text(value)

    def _network(self) -> None:
        self._sysctl("net.ipv4.ip_forward", "1")
        self._sysctl("net.bridge.bridge-nf-call-iptables", "1")
        # The bridge exists before the first pod, so host services can listen on its address.
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        conf = self.run_dir / "cni"
        conf.mkdir(exist_ok=True)
        (conf / "10-mcp.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "mcp",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": True,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(self.run_dir / "cni-ipam"),
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                        {"type": "loopback"},
                    ],
                },
                indent=2,
            )
        )

    def _containerd(self) -> None:
        base = self.run_dir / "containerd"
        base.mkdir(exist_ok=True)
        (base / "config.toml").write_text(
            f"""version = 2
root = "{base}/root"
state = "{base}/state"
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.run_dir / "cni"}"
"""
        )
        self._spawn("containerd", ["containerd", "--config", str(base / "config.toml")])
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False, timeout=10).returncode != 0:
            self._alive("containerd")
            assert time.monotonic() < deadline, "containerd did not answer within 30s"
            time.sleep(0.1)

    def _kubelet(self) -> None:
        base = self.run_dir / "kubelet"
        base.mkdir(exist_ok=True)
        port = free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": GATEWAY,  # the API server reaches the kubelet at the node's InternalIP
            "port": port,
            "readOnlyPort": 0,
            "healthzPort": 0,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.controlplane.ca_cert)},
            },
            "authorization": {"mode": "Webhook"},
            "podLogsDir": str(base / "pod-logs"),
            "resolvConf": "",
            "imageGCHighThresholdPercent": 100,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
            },
            "serializeImagePulls": False,
            "registerNode": True,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
        }
        (base / "config.yaml").write_text(json.dumps(config, indent=2))
        binary = str(manage.BINARY)
        self._spawn(
            "kubelet",
            [
                binary, "kubelet",
                f"--config={base / 'config.yaml'}",
                f"--kubeconfig={self.controlplane.node_kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={GATEWAY}",  # a loopback address cannot be a node address
                f"--root-dir={base / 'root'}",
                f"--cert-dir={base / 'pki'}",
                "--v=1",
            ],
        )  # fmt: skip

    def _admin_kubeconfig(self, name: str) -> Path:
        """The admin kubeconfig, copied under the node's directory: a process started with it has the
        node's directory on its command line, so `Machine.pids()` finds it even after a killed run."""
        path = self.run_dir / f"{name}.kubeconfig"
        shutil.copyfile(self.controlplane.kubeconfig, path)
        path.chmod(0o600)
        return path

    def _proxy(self) -> None:
        self._spawn(
            "kube-proxy",
            [
                str(manage.BINARY), "kube-proxy",
                f"--kubeconfig={self._admin_kubeconfig('kube-proxy')}",
                f"--hostname-override={NODE_NAME}",
                f"--cluster-cidr={POD_CIDR}",
                "--proxy-mode=iptables",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                f"--healthz-bind-address=127.0.0.1:{free_port()}",
                "--v=1",
            ],
        )  # fmt: skip

    def _policy_engine(self, timeout: float) -> None:
        """kube-router with only its network policy controller, watching pods, namespaces and
        NetworkPolicies as the admin (like kube-proxy). Bounded: its health check answers and its
        chains hang off INPUT, FORWARD and OUTPUT, or the start fails with its log."""
        started = time.monotonic()
        binary = netpol.build(quiet=True)
        health = free_port()
        self._spawn(
            "kube-router",
            [
                str(binary),
                f"--kubeconfig={self._admin_kubeconfig('kube-router')}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
                "--enable-cni=false", "--enable-ipv6=false",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--health-port={health}", "--metrics-port=0",
                "--v=1",
            ],
        )  # fmt: skip
        deadline = started + timeout
        hooks = {(f"-A {chain} ", f" -j KUBE-ROUTER-{chain}") for chain in ("INPUT", "FORWARD", "OUTPUT")}
        while True:
            self._alive("kube-router")
            rules = run("iptables-save", "-t", "filter", check=False).stdout.splitlines()
            absent = [
                end for start, end in hooks if not any(r.startswith(start) and r.endswith(end) for r in rules)
            ]
            if not absent and _healthy(f"http://127.0.0.1:{health}/healthz"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"kube-router not enforcing after {timeout:.0f}s (health check on port {health}; "
                    f"jumps missing:{','.join(sorted(absent)) or ' none'}):\n{self.log_tail('kube-router')}"
                )
            time.sleep(0.2)
        self.policy_seconds = time.monotonic() - started

    def _spawn(self, name: str, args: list[str]) -> None:
        with (self.run_dir / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            self.processes[name] = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, size: int = 4000) -> str:
        path = self.run_dir / f"{name}.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def _wait_ready(self, timeout: float) -> None:
        """The Node is Ready and carries no taint that keeps pods away."""
        kubectl = ROOT / ".cache" / "bin" / "kubectl"
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name in self.processes:
                self._alive(name)
            config = f"--kubeconfig={self.controlplane.kubeconfig}"
            got = run(str(kubectl), config, "get", "node", NODE_NAME, "-o", "json", check=False)
            if got.returncode == 0:
                node = json.loads(got.stdout)
                ready = any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in node["status"].get("conditions", [])
                )
                taints = [t["key"] for t in node["spec"].get("taints", []) or []]
                if ready and not taints:
                    return
                last = f"ready={ready} taints={taints}"
            time.sleep(0.2)
        raise RuntimeError(
            f"node {NODE_NAME} not ready after {timeout}s ({last}):\n{self.log_tail('kubelet')}"
        )

    # ----------------------------------------------------------------------------------- stop
    def stop(self) -> None:
        """Stop everything and leave nothing behind; safe to call after a failed start. A node that
        never got the machine started nothing: the bridge, chains and cgroups are another node's."""
        if self._lock is None:
            return
        for name in ("kube-router", "kube-proxy", "kubelet"):
            self._terminate(name)
        if "containerd" in self.processes:
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
            for task in tasks:
                self._wait_task_gone(task)
            for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                self.ctr("containers", "rm", container, check=False)
        self._terminate("containerd")
        Machine(str(self.run_dir)).clean()
        for key, value in self.sysctls.items():
            (Path("/proc/sys") / key.replace(".", "/")).write_text(value)
        self.sysctls.clear()
        # Checked while this node still holds the machine: a node waiting for it cannot add to it.
        self.left_behind = self.leftovers()
        self._lock.close()  # releases the flock
        self._lock = None

    def _wait_task_gone(self, task: str) -> None:
        deadline = time.monotonic() + 10
        while task in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.ctr("tasks", "rm", "-f", task, check=False)

    def _terminate(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        end(process, grace=20)
        # containerd's shims live on in their own sessions: end them too.
        if name == "containerd":
            for pid in Machine(str(self.run_dir)).pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)

    def leftovers(self) -> list[str]:
        """What a stopped node left behind: empty when the cleanup was complete."""
        return Machine(str(self.run_dir)).leftovers()


@dataclass(frozen=True)
class Machine:
    """The machine-wide things a node creates: processes and mounts under its directory (prefix),
    pod network namespaces, the bridge, KUBE-*/CNI-* chains (kube-router's KUBE-ROUTER-*,
    KUBE-POD-FW-* and KUBE-NWPLCY-* among them), kube-router's ipsets and the kubepods cgroups."""

    prefix: str

    def pids(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                with contextlib.suppress(OSError):
                    if self.prefix.encode() in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
        return found

    def mounts(self) -> list[str]:
        targets = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        return [t for t in targets if t.startswith(self.prefix) or t.startswith("/run/netns/cni-")]

    def chains(self) -> list[str]:
        found = []
        for tool in ("iptables-save", "ip6tables-save"):
            if shutil.which(tool) is None:
                continue
            for line in run(tool, check=False).stdout.splitlines():
                if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES):
                    found.append(f"{tool}: {line.split()[0][1:]}")
        return found

    def ipsets(self) -> list[str]:
        if shutil.which("ipset") is None:
            return []
        names = run("ipset", "list", "-n", check=False).stdout.split()
        return [name for name in names if name.startswith(netpol.IPSET_PREFIXES)]

    def cgroups(self) -> list[Path]:
        found = []
        root = Path("/sys/fs/cgroup")
        for controller in [root, *[p for p in root.iterdir() if p.is_dir()]] if root.is_dir() else []:
            for name in CGROUP_NAMES:
                if (controller / name).is_dir():
                    found.append(controller / name)
        return found

    def leftovers(self) -> list[str]:
        found = [f"process {pid}" for pid in self.pids()]
        found += [f"mount {m}" for m in self.mounts()]
        if run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
            found.append(f"bridge {BRIDGE}")
        found += [f"iptables chain {c}" for c in self.chains()]
        found += [f"ipset {s}" for s in self.ipsets()]
        found += [f"cgroup {c}" for c in self.cgroups()]
        return found

    def clean(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        for target in sorted(self.mounts(), key=len, reverse=True):
            run("umount", "-l", target, check=False)
        netns = Path("/run/netns")
        if netns.is_dir():
            for path in netns.glob("cni-*"):
                run("ip", "netns", "delete", path.name, check=False)
        run("ip", "link", "del", BRIDGE, check=False)
        self._remove_chains()
        for name in self.ipsets():  # once no rule refers to them
            run("ipset", "destroy", name, check=False)
        self._remove_cgroups()

    def _remove_chains(self) -> None:
        """Every KUBE-*/CNI-* chain and the rules that jump to them, table by table, atomically."""
        for save, restore in (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")):
            if shutil.which(save) is None:
                continue
            dump = run(save, check=False).stdout
            kept = [
                line
                for line in dump.splitlines()
                if not (line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES))
                and not (line.startswith("-A") and any(p in line for p in CHAIN_PREFIXES))
            ]
            if len(kept) != len(dump.splitlines()):
                run(restore, input="\n".join(kept) + "\n", check=False)

    def _remove_cgroups(self) -> None:
        for top in self.cgroups():
            for path in sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            ):
                with contextlib.suppress(OSError):
                    path.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
