"""Benchmark: cold start of a real MCP server, from `create` to its first tool call through its Service.

On the project's real local node (tests/node/stack.py: control plane, kubelet, containerd with the
runtime image, verdaccio and pypiserver serving the pinned @modelcontextprotocol/server-everything
and mcp-server-time), for the npm and the PyPI server, in one run:

* operator, cold: the first MCPServer for the package on a fresh stack. t0 is just before the
  MCPPackage and the MCPServer are created (both at t0: resolution is part of the time); the pod's
  init container installs the pinned package into its empty emptyDir.
* operator, warm: the MCPServer deleted, its Deployment, Service and pods waited for until gone, and
  created again (the package stays resolved); --warm times (default 3).
* baseline ("npx -y" / "pip at start"), cold then warm: the way other operators run the same package,
  a plain Deployment and Service with the same runtime image, uid 10001, HOME=/tmp on a writable
  emptyDir, the same probes, whose container runs
  `mcp-operator bridge --host 0.0.0.0 --port 8080 -- npx -y @modelcontextprotocol/server-everything`
  (npm config pointing at verdaccio) or `... -- sh -c 'python3 -m venv /tmp/v && /tmp/v/bin/pip install ...
  mcp-server-time && exec /tmp/v/bin/mcp-server-time --local-timezone UTC'`; warm is the same
  delete-and-create again.

Figures per run: "ready", t0 to the first 200 from /readyz through the Service's ClusterIP; "1st
call", t0 to the first successful tools/call (official SDK client, a new session) through it; "2nd
session", how long a second new session takes from connect to its first tool result (the bridge runs
one child per session: for the baseline that is npx or venv + pip again). Then ratios operator /
baseline (warm: of the medians). Order per server: operator cold, baseline cold, then operator and
baseline warm in turn, one pod at a time; a warm-up pod runs the image's node and python3 once
before anything is measured. No timed assertions: it prints figures. Needs root; waits for the
machine-wide node lock (tests/node).

    .venv/bin/python bench/coldstart.py [--warm 3] [--timeout 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bridge.conftest import mcp_client  # noqa: E402
from tests.fixtures.cluster import Cluster  # noqa: E402
from tests.fixtures.processes import end  # noqa: E402
from tests.integration.helpers import package, server  # noqa: E402
from tests.node.node import GATEWAY  # noqa: E402
from tests.node.stack import Stack, local_stack, unavailable  # noqa: E402

from mcp_operator.models import Transport  # noqa: E402
from mcp_operator.render.deployment import (  # noqa: E402
    BRIDGE_PATH,
    container_security_context,
    pod_security_context,
    probes,
)
from mcp_operator.render.inputs import RUNTIME_IMAGE  # noqa: E402

OPERATOR = ROOT / ".venv" / "bin" / "mcp-operator"
API = "mcp-operator.dev/v1alpha1"
OP_NS, BASE_NS = "bench-operator", "bench-baseline"
POLL = 0.2  # seconds between polls
INSTANCE = "app.kubernetes.io/instance"


@dataclass(frozen=True)
class Case:
    kind: str  # npm / pypi
    name: str
    package: str
    tool: str
    arguments: dict[str, Any]
    args: list[str]
    baseline: str  # the baseline's label


EVERYTHING = "@modelcontextprotocol/server-everything"
UTC = ["--local-timezone", "UTC"]  # mcp-server-time's args
CASES = [
    Case("npm", "everything", EVERYTHING, "echo", {"message": "hi"}, [], "npx -y"),
    Case("pypi", "time", "mcp-server-time", "get_current_time", {"timezone": "UTC"}, UTC, "pip at start"),
]


Objects = list[tuple[str, str, dict[str, Any]]]  # (plural, apiVersion, body)


@dataclass
class Row:
    case: Case
    mode: str
    ready: float
    first: float
    second: float
    restarts: int = 0  # container restarts in the pod by the end of the run: the figure is suspect


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def baseline_objects(case: Case, stack: Stack) -> Objects:
    """(plural, apiVersion, body): the Deployment and Service other operators would render."""
    env = {"HOME": "/tmp", "TMPDIR": "/tmp"}
    if case.kind == "npm":
        child = ["npx", "-y", case.package]
        env |= {"npm_config_registry": stack.npm.url, "npm_config_update_notifier": "false"}
    else:
        pip = f"/tmp/v/bin/pip install -q --index-url {stack.pypi.index_url} --trusted-host {GATEWAY}"
        script = f"python3 -m venv /tmp/v && {pip} {case.package} >&2 && exec /tmp/v/bin/{case.package}"
        child = ["sh", "-c", " ".join([script, *case.args])]
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # --startup-timeout: the bridge's default 30 s would kill a first install still running.
    bridge = [
        "mcp-operator",
        "bridge",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--startup-timeout",
        "600",
        "--",
        *child,
    ]
    container = {
        "name": "server",
        "image": RUNTIME_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": bridge,
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"name": "mcp", "containerPort": 8080, "protocol": "TCP"}],
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **probes(Transport.STDIO, BRIDGE_PATH),  # the operator's own probes
    }
    labels = {INSTANCE: case.name}
    pod = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    meta = {"name": case.name, "labels": labels}
    template = {"metadata": {"labels": labels}, "spec": pod}
    spec = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
    ports = [{"name": "mcp", "port": 8080, "targetPort": "mcp", "protocol": "TCP"}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta}
    service["spec"] = {"selector": labels, "ports": ports}
    return [("deployments", "apps/v1", deployment), ("services", "v1", service)]


async def call(url: str, case: Case) -> float:
    """A new SDK client session: initialize, then one tools/call; when its result came."""
    async with mcp_client(url) as client:
        answer = await client.call_tool(case.tool, case.arguments)
        done = time.monotonic()
    if answer.isError:
        raise RuntimeError(f"{case.tool} answered an error: {answer.content}")
    return done


async def first_call(cluster: Cluster, case: Case, t0: float, limit: float) -> Row:
    """Poll (Service, then /readyz through its ClusterIP, then a tool call) until a tool call works."""
    deadline, url, ready_at, last = t0 + limit, "", 0.0, "no Service yet"
    # No keep-alive: before kube-proxy has the Service's rules, a ClusterIP connection follows the
    # default route, and on a machine with a transparent egress proxy it reaches that proxy, whose
    # answers (404) a kept-alive connection would return forever. The body must be the bridge's.
    async with httpx.AsyncClient(timeout=2, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        while True:
            try:
                if not url and (svc := await cluster.get("services", case.name, api_version="v1")):
                    url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"
                    last = "not ready"
                if url and not ready_at:
                    answer = await http.get(f"{url}/readyz")
                    last = f"/readyz: {answer.status_code} {answer.text[:100]}"
                    if answer.status_code == 200 and answer.text.startswith("ready"):
                        ready_at = time.monotonic()
                if ready_at:
                    async with asyncio.timeout(max(deadline - time.monotonic(), 1)):
                        first = await call(url, case)
                    break
            except Exception as exc:
                last = f"{type(exc).__name__}: {exc}"[:300]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{cluster.namespace}/{case.name}: no tool call within {limit:.0f}s: {last}"
                )
            await asyncio.sleep(POLL)
    started = time.monotonic()
    async with asyncio.timeout(limit):
        second = await call(url, case) - started
    return Row(case, "", ready_at - t0, first - t0, second)


async def wait_until(what: str, check: Callable[[], Awaitable[bool]], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {limit:.0f}s")
        await asyncio.sleep(POLL)


async def run_one(cluster: Cluster, case: Case, mode: str, objects: Objects, limit: float) -> Row:
    """Create the objects (t0 just before), measure, delete what was created last (the owner), and
    wait until the Deployment, the Service and every pod are gone."""
    t0 = time.monotonic()
    for plural, api_version, body in objects:
        await cluster.create(plural, body, api_version)
    row = await first_call(cluster, case, t0, limit)
    row.mode = mode
    for pod in await cluster.list("pods", "v1", selector=f"{INSTANCE}={case.name}"):
        status = pod.get("status", {})
        statuses = status.get("containerStatuses", []) + status.get("initContainerStatuses", [])
        row.restarts += sum(c.get("restartCount", 0) for c in statuses)
    log(f"{case.kind} {mode}: ready {row.ready:.1f} s, 1st call {row.first:.1f} s, 2nd {row.second:.2f} s")
    owned = cluster.namespace == OP_NS  # the MCPServer owns its Deployment and Service
    for plural, api_version, _ in objects[-1:] if owned else objects:
        await cluster.delete(plural, case.name, api_version)

    async def gone() -> bool:
        left = [
            await cluster.get(p, case.name, a) for p, a in (("deployments", "apps/v1"), ("services", "v1"))
        ]
        return not any(left) and not await cluster.list("pods", "v1", selector=f"{INSTANCE}={case.name}")

    await wait_until(f"{cluster.namespace}/{case.name} gone", gone, 180)
    return row


async def measure(stack: Stack, limit: float, warm: int) -> list[Row]:
    op, base = Cluster(stack.controlplane.kubeconfig, OP_NS), Cluster(stack.controlplane.kubeconfig, BASE_NS)
    rows: list[Row] = []
    try:
        for case in CASES:
            registry = stack.npm.url if case.kind == "npm" else stack.pypi.url
            pkg = ("mcppackages", API, package(case.name, case.kind, case.package, registry))
            spec = {"args": case.args} if case.args else {}
            srv = ("mcpservers", API, server(case.name, case.name, **spec))
            baseline = baseline_objects(case, stack)
            rows.append(await run_one(op, case, "operator, cold", [pkg, srv], limit))
            rows.append(await run_one(base, case, f"{case.baseline}, cold", baseline, limit))
            for i in range(1, warm + 1):  # interleaved, so a change of load hits both alike
                rows.append(await run_one(op, case, f"operator, warm {i}", [srv], limit))
                rows.append(await run_one(base, case, f"{case.baseline}, warm {i}", baseline, limit))
    finally:
        await op.close()
        await base.close()
    return rows


def warm_up(stack: Stack) -> None:
    """One pod runs node, python3 and the bridge's CLI once: image and node warm for every run."""
    command = "node -e 0 && python3 -c 0 && mcp-operator bridge --help >/dev/null"
    container: dict[str, Any] = {"name": "warm-up", "image": RUNTIME_IMAGE, "command": ["sh", "-c", command]}
    container["securityContext"] = container_security_context()
    spec = {"restartPolicy": "Never", "securityContext": pod_security_context(), "containers": [container]}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "warm-up"}, "spec": spec}
    stack.kubectl("create", "-n", BASE_NS, "-f", "-", stdin=json.dumps(body))
    phase = "--for=jsonpath={.status.phase}=Succeeded"
    stack.kubectl("wait", "-n", BASE_NS, phase, "pod/warm-up", "--timeout=300s", timeout=330)
    stack.kubectl("delete", "-n", BASE_NS, "pod/warm-up", "--wait", timeout=120)


@contextlib.contextmanager
def operator(stack: Stack, workdir: Path) -> Iterator[Path]:
    """`mcp-operator run -n OP_NS` as its own process, live before it yields; stopped after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(stack.controlplane.kubeconfig)
    log_path = workdir / "operator.log"
    command = [str(OPERATOR), "run", "-n", OP_NS, "--liveness", f"http://127.0.0.1:{port}/healthz"]
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the operator did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(POLL)
        yield log_path
    finally:
        end(process)


def median(rows: list[Row], case: Case, mode: str, attr: str) -> float:
    values: list[float] = [getattr(r, attr) for r in rows if r.case is case and r.mode.startswith(mode)]
    return statistics.median(values)


def report(rows: list[Row], started: str, load: list[str]) -> None:
    print(f"coldstart, {started}; load average {load[0]} at start, {load[1]} at end")
    print("seconds; ready and 1st call: from create (t0); 2nd session: from its connect to its tool result")
    header = f"{'server':<8}{'mode':<24}{'ready':>8}{'1st call':>10}{'2nd session':>13}{'restarts':>10}"
    print(header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r.case.kind:<8}{r.mode:<24}{r.ready:>8.1f}{r.first:>10.1f}{r.second:>13.2f}{r.restarts:>10}")
    print("\noperator / baseline, same run (below 1: the operator is faster; warm: medians)")
    for case in CASES:
        for mode in ("cold", "warm") if any("warm" in r.mode for r in rows) else ("cold",):
            ours, theirs = f"operator, {mode}", f"{case.baseline}, {mode}"
            first = median(rows, case, ours, "first") / median(rows, case, theirs, "first")
            second = median(rows, case, ours, "second") / median(rows, case, theirs, "second")
            print(
                f"  {case.kind:<5}{mode}: 1st call {first:.2f}x, 2nd session {second:.2f}x ({case.baseline})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warm", type=int, default=3, help="warm runs of each (default 3)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run to the first tool call")
    args = parser.parse_args()
    if (reason := unavailable()) is not None:
        raise SystemExit(f"coldstart: no local node: {reason}")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    git = ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    started, load = f"{time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit}", [loadavg()]
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp, local_stack(Path(tmp), log) as stack:
        stack.kubectl("create", "namespace", BASE_NS)
        stack.kubectl("create", "namespace", OP_NS)
        stack.kubectl("label", "namespace", OP_NS, "pod-security.kubernetes.io/enforce=restricted")
        for ns in (OP_NS, BASE_NS):  # pods need their namespace's default ServiceAccount
            stack.kubectl("wait", "--for=create", "-n", ns, "serviceaccount/default", "--timeout=60s")
        warm_up(stack)
        with operator(stack, Path(tmp)) as operator_log:
            log("operator running; measuring")
            try:
                rows = asyncio.run(measure(stack, args.timeout, args.warm))
            except Exception:
                print(f"operator log (end):\n{operator_log.read_text()[-3000:]}", file=sys.stderr)
                for ns in (OP_NS, BASE_NS):
                    print(
                        stack.kubectl("get", "all", "-n", ns, "-o", "wide", check=False).stdout,
                        file=sys.stderr,
                    )
                raise
        load.append(loadavg())
    report(rows, started, load)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("coldstart: interrupted; what it started is stopped")
