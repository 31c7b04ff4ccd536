"""Benchmark: the operator reconciling N MCPPackages and N MCPServers on the real local control plane.

For each size N (default 100 and 1000), on a fresh control plane (tests/controlplane) with the CRDs
installed and a local verdaccio npm registry (no public network):

1. the operator runs as its own process (`mcp-operator run -n NS`) with the token of a dedicated
   ServiceAccount bound to cluster-admin, which no other client uses;
2. the bench creates N MCPPackages (all pointing at a few npm packages in verdaccio) and N
   MCPServers concurrently, as cluster admin, and follows them with watches until every server has
   its Deployment and Service and a status (status.url set, status.observedGeneration equal to
   metadata.generation); a final list of each kind confirms it;
3. the operator's API requests are the delta of `apiserver_flowcontrol_dispatched_requests_total`
   over FlowSchemas the bench installs that match only that ServiceAccount (one per kind of
   request, so the delta is also broken down); its peak RSS is VmHWM from /proc/PID/status;
4. baselines in another namespace, with the operator stopped: the bench creating the same 2N
   objects, and the bench doing the writes the operator has to do (server-side apply of the N
   Deployments and N Services it rendered, and N status patches) with the operator's credentials.

    .venv/bin/python bench/reconcile.py                       # N = 100 and 1000, a few minutes
    .venv/bin/python bench/reconcile.py --sizes 1 --verbose   # tiny run, operator debug log kept
    .venv/bin/python bench/reconcile.py --sizes 1000 --profile   # operator under cProfile

Every process it starts (control plane, verdaccio, operator) is stopped on exit, on errors and on
Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import code_version, profile_summary, table  # noqa: E402
from tests.controlplane import manage  # noqa: E402
from tests.fixtures.registries import NpmRegistry  # noqa: E402

KUBECTL = ROOT / ".cache" / "bin" / "kubectl"
OPERATOR = ROOT / ".venv" / "bin" / "mcp-operator"
GROUP_VERSION = "mcp-operator.dev/v1alpha1"
CR_PATH = "/apis/mcp-operator.dev/v1alpha1/namespaces/{ns}/{plural}"
SA_NAMESPACE = "mcp-bench-system"
SA_NAME = "mcp-operator-bench"
NPM_PACKAGES = 5  # distinct npm packages the N MCPPackages share
SERVICE_CIDR = "10.100.0.0/20"
POLL = 0.2  # seconds between readiness polls (operator liveness, namespace, FlowSchemas)
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
TICKS = os.sysconf("SC_CLK_TCK")

# FlowSchemas matching only the operator's ServiceAccount, first match wins (lowest precedence).
# Each one names a kind of request, so the dispatched-requests delta is also the breakdown.
FLOWS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("watch", "watch", [{"verbs": ["watch"], "apiGroups": ["*"], "resources": ["*"]}]),
    ("list", "list/get", [{"verbs": ["list", "get"], "apiGroups": ["*"], "resources": ["*"]}]),
    (
        "status",
        "patch CR status",
        [
            {
                "verbs": ["*"],
                "apiGroups": ["mcp-operator.dev"],
                "resources": ["mcpservers/status", "mcppackages/status"],
            }
        ],
    ),
    (
        "cr",
        "patch CR (kopf annotations)",
        [{"verbs": ["*"], "apiGroups": ["mcp-operator.dev"], "resources": ["mcpservers", "mcppackages"]}],
    ),
    ("deploy", "apply Deployment", [{"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments"]}]),
    ("svc", "apply Service", [{"verbs": ["*"], "apiGroups": [""], "resources": ["services"]}]),
    (
        "netpol",
        "delete NetworkPolicy",
        [{"verbs": ["*"], "apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"]}],
    ),
    (
        "events",
        "create Event",
        [{"verbs": ["*"], "apiGroups": ["", "events.k8s.io"], "resources": ["events"]}],
    ),
    ("other", "other", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]),
]
FLOW_PREFIX = "bench-op-"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ processes


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child if the bench dies without cleaning up (Linux prctl)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def proc_status(pid: int, key: str) -> int:
    """A kB figure from /proc/PID/status (VmHWM, VmRSS); 0 if gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (not its children)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    return 0.0


def children(pid: int) -> dict[str, int]:
    """Direct children of pid by their first argument after the binary (kube-apiserver, ...)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
                found[argv[1].decode()] = int(stat.parent.name)
    return found


def tail(path: Path, size: int = 3000) -> str:
    return path.read_bytes()[-size:].decode(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------------------ API helpers


def admin_client(cp: manage.ControlPlane, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=cp.server, verify=cp.ssl_context(), timeout=60, limits=limits)


def token_client(cp: manage.ControlPlane, token: str, concurrency: int) -> httpx.AsyncClient:
    import ssl

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        base_url=cp.server,
        verify=ssl.create_default_context(cafile=str(cp.ca_cert)),
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        limits=limits,
    )


def check(response: httpx.Response, *ok: int) -> dict[str, Any]:
    if response.status_code not in (ok or (200, 201)):
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}"
        )
    result: dict[str, Any] = response.json() if response.content else {}
    return result


async def wait_for(what: str, probe: Callable[[], Awaitable[bool]], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {limit:.0f}s")
        await asyncio.sleep(POLL)


async def create_namespace(client: httpx.AsyncClient, name: str) -> None:
    check(
        await client.post(
            "/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
    )

    async def has_sa() -> bool:
        return (await client.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")).status_code == 200

    # Pods (the ReplicaSets create them) need the namespace's default ServiceAccount.
    await wait_for(f"ServiceAccount default in {name}", has_sa, 60)


def install_crds(cp: manage.ControlPlane) -> None:
    env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
    kubectl = [str(KUBECTL), "--kubeconfig", str(cp.kubeconfig)]
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")],
        check=True,
        env=env,
        capture_output=True,
    )
    names = ["crd/mcppackages.mcp-operator.dev", "crd/mcpservers.mcp-operator.dev"]
    subprocess.run(
        [*kubectl, "wait", "--for", "condition=Established", "--timeout=60s", *names],
        check=True,
        env=env,
        capture_output=True,
    )


async def crds_served(client: httpx.AsyncClient) -> None:
    """Established is not enough: the first lists answer 429 until the CRDs' watch cache is ready."""

    async def served() -> bool:
        paths = [CR_PATH.format(ns="default", plural=p) for p in ("mcppackages", "mcpservers")]
        codes = [(await client.get(path)).status_code for path in paths]
        return codes == [200, 200]

    await wait_for("MCPPackage/MCPServer lists", served, 60)


async def widen_service_range(client: httpx.AsyncClient) -> None:
    """The control plane's --service-cluster-ip-range is a /24 (254 ClusterIPs), too few for 1000
    Services: add a ServiceCIDR (networking.k8s.io/v1, GA since Kubernetes 1.33) with 4094 more."""
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "bench-extra"},
        "spec": {"cidrs": [SERVICE_CIDR]},
    }
    check(await client.post("/apis/networking.k8s.io/v1/servicecidrs", json=body))


async def operator_identity(
    client: httpx.AsyncClient, cp: manage.ControlPlane, workdir: Path
) -> tuple[str, Path]:
    """A ServiceAccount bound to cluster-admin, a token for it, a kubeconfig with that token, and
    the FlowSchemas that attribute its requests. Returns (token, kubeconfig path)."""
    await create_namespace(client, SA_NAMESPACE)
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA_NAME}}
    check(await client.post(f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts", json=sa))
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": SA_NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}],
    }
    check(await client.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json=binding))
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 7200},
    }
    token = str(
        check(
            await client.post(
                f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts/{SA_NAME}/token", json=request
            )
        )["status"]["token"]
    )
    subject = {"kind": "ServiceAccount", "serviceAccount": {"name": SA_NAME, "namespace": SA_NAMESPACE}}
    for precedence, (key, _, rules) in enumerate(FLOWS, start=1000):
        resource_rules = [{**rule, "clusterScope": True, "namespaces": ["*"]} for rule in rules]
        rule: dict[str, Any] = {"subjects": [subject], "resourceRules": resource_rules}
        if key == "other":
            rule["nonResourceRules"] = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
        schema = {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": FLOW_PREFIX + key},
            # The priority level the built-in "service-accounts" FlowSchema gives any ServiceAccount,
            # so the operator is throttled exactly as without these schemas.
            "spec": {
                "matchingPrecedence": precedence,
                "priorityLevelConfiguration": {"name": "workload-low"},
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [rule],
            },
        }
        check(await client.post("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas", json=schema))

    async def schemas_seen() -> bool:
        # The APF config controller writes the Dangling condition once it has taken a schema in.
        items = check(await client.get("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"))["items"]
        ours = [s for s in items if s["metadata"]["name"].startswith(FLOW_PREFIX)]
        return all(
            any(c["type"] == "Dangling" for c in (s.get("status") or {}).get("conditions", [])) for s in ours
        )

    await wait_for("FlowSchemas taken in by the API server", schemas_seen, 30)
    # Prove the attribution works: one request with the token must land in our schema.
    before = await flow_counts(client)
    async with token_client(cp, token, 1) as sa_client:
        check(await sa_client.get(f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts/{SA_NAME}"))
    after = await flow_counts(client)
    if after.get(FLOW_PREFIX + "list", 0) - before.get(FLOW_PREFIX + "list", 0) != 1:
        raise RuntimeError(f"request attribution does not work: {before} -> {after}")
    kubeconfig = workdir / "operator.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "bench",
                        "cluster": {"server": cp.server, "certificate-authority": str(cp.ca_cert)},
                    }
                ],
                "users": [{"name": SA_NAME, "user": {"token": token}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": SA_NAME}}],
                "current-context": "bench",
            }
        )
    )
    return token, kubeconfig


_SAMPLE = re.compile(r"^(?P<name>[a-z_:]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def metrics(client: httpx.AsyncClient) -> list[tuple[str, dict[str, str], float]]:
    text = (await client.get("/metrics")).text
    samples = []
    for line in text.splitlines():
        if line.startswith("apiserver_flowcontrol_") and (match := _SAMPLE.match(line)):
            labels = dict(_LABEL.findall(match["labels"]))
            samples.append((match["name"], labels, float(match["value"])))
    return samples


async def flow_counts(client: httpx.AsyncClient) -> dict[str, float]:
    """flow schema -> dispatched requests, plus "rejected:<schema>" and "wait:<schema>" seconds."""
    counts: dict[str, float] = {}
    for name, labels, value in await metrics(client):
        schema = labels.get("flow_schema", "")
        if name == "apiserver_flowcontrol_dispatched_requests_total":
            counts[schema] = counts.get(schema, 0) + value
        elif name == "apiserver_flowcontrol_rejected_requests_total":
            counts["rejected:" + schema] = counts.get("rejected:" + schema, 0) + value
        elif name == "apiserver_flowcontrol_request_wait_duration_seconds_sum":
            counts["wait:" + schema] = counts.get("wait:" + schema, 0) + value
        elif name == "apiserver_flowcontrol_request_execution_seconds_sum":
            counts["exec:" + schema] = counts.get("exec:" + schema, 0) + value
    return counts


async def quiet(client: httpx.AsyncClient, settle: float, limit: float = 60.0) -> dict[str, float]:
    """Flow counts once the operator's requests stopped for `settle` seconds (at most `limit`)."""
    deadline = time.monotonic() + limit
    last = await flow_counts(client)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL)
        now = await flow_counts(client)
        keys = [FLOW_PREFIX + key for key, _, _ in FLOWS]
        if any(now.get(k) != last.get(k) for k in keys):
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= settle:
            break
    return last


def delta(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


# ------------------------------------------------------------------------------ workload


def manifests(n: int, registry_url: str) -> list[tuple[str, dict[str, Any]]]:
    """(plural, body) pairs, package i then server i, so both kinds arrive throughout the run."""
    objects = []
    for i in range(n):
        name = f"s{i:05d}"
        source = {
            "type": "npm",
            "package": f"bench-mcp-{i % NPM_PACKAGES}",
            "version": "^1.0.0",
            "registry": registry_url,
        }
        objects.append(
            (
                "mcppackages",
                {
                    "apiVersion": GROUP_VERSION,
                    "kind": "MCPPackage",
                    "metadata": {"name": name},
                    "spec": {"source": source},
                },
            )
        )
        objects.append(
            (
                "mcpservers",
                {
                    "apiVersion": GROUP_VERSION,
                    "kind": "MCPServer",
                    "metadata": {"name": name},
                    "spec": {"package": name},
                },
            )
        )
    return objects


async def create_all(
    client: httpx.AsyncClient, ns: str, objects: list[tuple[str, dict[str, Any]]], concurrency: int
) -> tuple[float, float, dict[str, dict[str, float]]]:
    """Create concurrently (bounded). Returns (first request sent, last answer, plural -> name -> when
    its create was answered)."""
    sem = asyncio.Semaphore(concurrency)
    created: dict[str, dict[str, float]] = {"mcppackages": {}, "mcpservers": {}}
    started = time.monotonic()

    async def one(plural: str, body: dict[str, Any]) -> None:
        async with sem:
            check(await client.post(CR_PATH.format(ns=ns, plural=plural), json=body))
            created[plural][body["metadata"]["name"]] = time.monotonic()

    await asyncio.gather(*(one(plural, body) for plural, body in objects))
    return started, time.monotonic(), created


@dataclass
class Milestones:
    """When the bench first saw each object reach each milestone (time.monotonic())."""

    n: int
    resolved: dict[str, float] = field(default_factory=dict)  # package status.resolvedVersion
    deployment: dict[str, float] = field(default_factory=dict)
    service: dict[str, float] = field(default_factory=dict)
    status: dict[str, float] = field(default_factory=dict)  # server status.url and observedGeneration
    first_status: dict[str, float] = field(default_factory=dict)  # any server status written
    done: dict[str, float] = field(default_factory=dict)  # all three for a server
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    events: int = 0
    watching: set[str] = field(default_factory=set)  # kinds listed, watch about to start

    def see(self, plural: str, event: str, obj: dict[str, Any]) -> None:
        now = time.monotonic()
        self.events += 1
        meta = obj.get("metadata", {})
        name = meta.get("name", "")
        if event == "DELETED":
            return
        if plural == "mcppackages":
            st = obj.get("status") or {}
            if st.get("resolvedVersion") and st.get("observedGeneration") == meta.get("generation"):
                self.resolved.setdefault(name, now)
        elif plural == "deployments":
            self.deployment.setdefault(name, now)
        elif plural == "services":
            self.service.setdefault(name, now)
        elif plural == "mcpservers":
            st = obj.get("status") or {}
            if st:
                self.first_status.setdefault(name, now)
            if st.get("url") and st.get("observedGeneration") == meta.get("generation"):
                self.status.setdefault(name, now)
        if name in self.status and name in self.deployment and name in self.service:
            self.done.setdefault(name, now)
            if len(self.done) >= self.n:
                self.all_done.set()


WATCHED = [
    ("mcppackages", CR_PATH, False),
    ("mcpservers", CR_PATH, False),
    ("deployments", "/apis/apps/v1/namespaces/{ns}/{plural}", True),
    ("services", "/api/v1/namespaces/{ns}/{plural}", True),
]


async def follow(
    client: httpx.AsyncClient, ns: str, plural: str, template: str, metadata_only: bool, seen: Milestones
) -> None:
    """List, then watch from that resourceVersion; list again if the watch ends or expires."""
    path = template.format(ns=ns, plural=plural)
    headers = {"Accept": METADATA_ONLY} if metadata_only else {}
    list_headers = {"Accept": METADATA_LIST} if metadata_only else {}
    while True:
        response = await client.get(path, headers=list_headers)
        if response.status_code == 429:  # e.g. "storage is (re)initializing"
            await asyncio.sleep(POLL)
            continue
        listed = check(response)
        for item in listed.get("items") or []:
            seen.see(plural, "LISTED", item)
        seen.watching.add(plural)
        params = {
            "watch": "1",
            "resourceVersion": listed["metadata"]["resourceVersion"],
            "timeoutSeconds": "600",
        }
        with contextlib.suppress(httpx.HTTPError):
            async with client.stream(
                "GET", path, params=params, headers=headers, timeout=httpx.Timeout(None, connect=10)
            ) as stream:
                async for line in stream.aiter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        break
                    seen.see(plural, event["type"], event["object"])


async def list_all(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "500"}
    while True:
        page = check(await client.get(path, params=params, headers=headers or {}))
        items += page.get("items") or []
        token = page.get("metadata", {}).get("continue")
        if not token:
            return items
        params["continue"] = token


async def confirm(client: httpx.AsyncClient, ns: str, n: int) -> list[str]:
    """The authoritative check, by lists: what is still missing (empty when all is well)."""
    servers = await list_all(client, CR_PATH.format(ns=ns, plural="mcpservers"))
    deps = {
        d["metadata"]["name"]
        for d in await list_all(
            client, f"/apis/apps/v1/namespaces/{ns}/deployments", {"Accept": METADATA_LIST}
        )
    }
    svcs = {
        s["metadata"]["name"]
        for s in await list_all(client, f"/api/v1/namespaces/{ns}/services", {"Accept": METADATA_LIST})
    }
    missing = []
    for pkg in await list_all(client, CR_PATH.format(ns=ns, plural="mcppackages")):
        if not (pkg.get("status") or {}).get("resolvedVersion"):
            missing.append(f"{pkg['metadata']['name']}: package not resolved")
    for srv in servers:
        name, st = srv["metadata"]["name"], srv.get("status") or {}
        if not (st.get("url") and st.get("observedGeneration") == srv["metadata"]["generation"]):
            missing.append(f"{name}: status {st.get('phase')}/{st.get('message')}")
        if name not in deps:
            missing.append(f"{name}: no Deployment")
        if name not in svcs:
            missing.append(f"{name}: no Service")
    if len(servers) != n:
        missing.append(f"{len(servers)} MCPServers instead of {n}")
    return missing


# ------------------------------------------------------------------------------ one size


@dataclass
class Result:
    n: int
    total: float = 0.0
    create: float = 0.0
    resolved_all: float = 0.0
    deployments_all: float = 0.0
    services_all: float = 0.0
    first_done: float = 0.0
    half_done: float = 0.0
    resolve_lat: list[float] = field(default_factory=list)
    render_lat: list[float] = field(default_factory=list)
    requests: dict[str, float] = field(default_factory=dict)
    rejected: float = 0.0
    apf_wait: float = 0.0
    apf_exec: float = 0.0
    apf_count: float = 0.0
    other_sa: float = 0.0
    startup_requests: float = 0.0
    peak_rss_mb: float = 0.0
    end_rss_mb: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    registry: dict[str, int] = field(default_factory=dict)
    base_create: float = 0.0
    base_writes: float = 0.0
    base_writes_n: int = 0
    missing: list[str] = field(default_factory=list)
    operator_log: Path | None = None
    handlers: dict[str, int] = field(default_factory=dict)
    json_kb: dict[str, float] = field(default_factory=dict)  # mean size of a stored object, as JSON
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after the operator run
    profile: Path | None = None


def registry_requests(log_path: Path, offset: int) -> tuple[dict[str, int], int]:
    """GETs verdaccio logged after offset: ({"requests": n, "304": m}, new offset).

    verdaccio (level http) logs "requested 'GET /x'" once per request, and for a conditional
    request answered from its ETag both a 200 and a 304 line, so count the two separately.
    """
    data = log_path.read_bytes()[offset:]
    counts = {
        "requests": len(re.findall(rb"requested 'GET ", data)),
        "304": len(re.findall(rb"<-- 304, user: [^,]*, req: 'GET ", data)),
    }
    return counts, offset + len(data)


HANDLERS = ("resolve_package", "server_changed", "package_event", "deployment_event")


def handler_runs(operator_log: Path) -> dict[str, int]:
    """How often each handler ran (kopf logs "Handler 'x' succeeded" / "... failed")."""
    text = operator_log.read_text(errors="replace")
    return {h: len(re.findall(rf"Handler '{h}' (?:succeeded|failed)", text)) for h in HANDLERS}


def start_operator(
    kubeconfig: Path, ns: str, workdir: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], str, Path, Path | None]:
    port = free_port()
    liveness = f"http://127.0.0.1:{port}/healthz"
    operator_log = workdir / f"operator-{ns}.log"
    profile = workdir / f"operator-{ns}.prof" if args.profile else None
    command = (
        [str(OPERATOR)]
        if profile is None
        else [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "mcp_operator"]
    )
    command += ["run", "-n", ns, "--liveness", liveness] + (["--verbose"] if args.verbose else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(kubeconfig)
    with operator_log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (only prctl; no threads run yet in the child)
        )
    return process, liveness, operator_log, profile


async def wait_live(process: subprocess.Popen[bytes], url: str, operator_log: Path) -> None:
    async with httpx.AsyncClient(timeout=1) as client:

        async def live() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the operator exited with {process.returncode}:\n{tail(operator_log)}")
            try:
                return (await client.get(url)).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for("operator liveness", live, 60)


async def measure_operator(
    cp: manage.ControlPlane,
    kubeconfig: Path,
    registry: NpmRegistry,
    n: int,
    workdir: Path,
    args: argparse.Namespace,
    result: Result,
) -> list[tuple[str, dict[str, Any]]]:
    ns = f"bench-op-{n}"
    async with admin_client(cp, args.concurrency) as client, admin_client(cp, 8) as watch_client:
        await create_namespace(client, ns)
        boot = await flow_counts(client)
        process, liveness, operator_log, profile = start_operator(kubeconfig, ns, workdir, args)
        result.operator_log, result.profile = operator_log, profile
        seen = Milestones(n)
        watchers: list[asyncio.Task[None]] = []
        try:
            await wait_live(process, liveness, operator_log)
            watchers += [asyncio.create_task(follow(watch_client, ns, p, t, m, seen)) for p, t, m in WATCHED]

            async def watching() -> bool:
                for watcher in watchers:
                    if watcher.done():
                        watcher.result()  # raises what stopped it
                return len(seen.watching) == len(WATCHED)

            await wait_for("the bench's watches", watching, 30)
            reg_log = registry.workdir / "verdaccio.log"
            _, reg_offset = registry_requests(reg_log, 0)
            pids = {"operator": process.pid, "etcd+supervisor": cp.pid, **children(cp.pid)}
            if registry.process is not None:
                pids["verdaccio"] = registry.process.pid
            cpu_before = {k: cpu_seconds(v) for k, v in pids.items()}
            bench_before = time.process_time()
            load_before = os.getloadavg()[0]
            before = await flow_counts(client)

            log(f"N={n}: creating {2 * n} objects in {ns} with the operator running")
            t0, t_created, created = await create_all(
                client, ns, manifests(n, registry.url), args.concurrency
            )
            result.create = t_created - t0
            try:
                async with asyncio.timeout(max(1.0, args.timeout - (time.monotonic() - t0))):
                    await seen.all_done.wait()
            except TimeoutError:
                log(f"N={n}: not done after {args.timeout:.0f}s: {len(seen.done)}/{n} servers complete")
            t_end = max(seen.done.values()) if len(seen.done) == n else time.monotonic()
            result.total = t_end - t0
            result.missing = await confirm(client, ns, n)
            # Count the trailing requests too (status writes following Deployment status updates):
            # wait until the operator's request counters stop moving for `--settle` seconds.
            after = await quiet(client, args.settle)
            cpu_after = {k: cpu_seconds(v) for k, v in pids.items()}
            result.cpu = {k: cpu_after[k] - cpu_before[k] for k in pids}
            result.cpu["bench"] = time.process_time() - bench_before
            result.peak_rss_mb = proc_status(process.pid, "VmHWM") / 1024
            result.end_rss_mb = proc_status(process.pid, "VmRSS") / 1024
            result.registry, _ = registry_requests(reg_log, reg_offset)
            result.load = (load_before, os.getloadavg()[0])
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await asyncio.to_thread(stop_process, process)
        result.handlers = handler_runs(operator_log)
        keys = [FLOW_PREFIX + key for key, _, _ in FLOWS]
        result.startup_requests = sum(delta(boot, before, k) for k in keys)
        for key, _, _ in FLOWS:
            result.requests[key] = delta(before, after, FLOW_PREFIX + key)
        ours = [FLOW_PREFIX + key for key, _, _ in FLOWS]
        result.rejected = sum(delta(before, after, "rejected:" + s) for s in ours)
        result.apf_wait = sum(delta(before, after, "wait:" + s) for s in ours)
        result.apf_exec = sum(delta(before, after, "exec:" + s) for s in ours)
        result.apf_count = sum(delta(before, after, s) for s in ours)
        # Nothing else should run as a ServiceAccount outside kube-system: the built-in schema stays 0.
        result.other_sa = delta(before, after, "service-accounts")

        def span(times: dict[str, float]) -> float:
            return (max(times.values()) - t0) if len(times) == n else float("nan")

        result.resolved_all = span(seen.resolved)
        result.deployments_all = span(seen.deployment)
        result.services_all = span(seen.service)
        done = sorted(seen.done.values())
        result.first_done = done[0] - t0 if done else float("nan")
        result.half_done = done[len(done) // 2] - t0 if done else float("nan")
        # Per object: package created -> resolved; max(server created, its package resolved) -> done.
        result.resolve_lat = [seen.resolved[k] - created["mcppackages"].get(k, t0) for k in seen.resolved]
        result.render_lat = [
            seen.done[k] - max(created["mcpservers"].get(k, t0), seen.resolved.get(k, t0))
            for k in seen.done
            if k in seen.resolved
        ]
        # What the operator wrote, for the writes-only baseline.
        deps = await list_all(client, f"/apis/apps/v1/namespaces/{ns}/deployments")
        svcs = await list_all(client, f"/api/v1/namespaces/{ns}/services")
        servers = await list_all(client, CR_PATH.format(ns=ns, plural="mcpservers"))
        packages = await list_all(client, CR_PATH.format(ns=ns, plural="mcppackages"))
        for kind, items in (("Deployment", deps), ("MCPServer", servers), ("MCPPackage", packages)):
            result.json_kb[kind] = sum(len(json.dumps(i)) for i in items) / max(len(items), 1) / 1024
    writes: list[tuple[str, dict[str, Any]]] = []
    for dep in deps:
        writes.append(
            (
                "deployments",
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": dep["metadata"],
                    "spec": dep["spec"],
                },
            )
        )
    for svc in svcs:
        spec = {k: v for k, v in svc["spec"].items() if k not in ("clusterIP", "clusterIPs")}
        writes.append(
            ("services", {"apiVersion": "v1", "kind": "Service", "metadata": svc["metadata"], "spec": spec})
        )
    for srv in servers:
        writes.append(("mcpservers/status", {"metadata": srv["metadata"], "status": srv.get("status") or {}}))
    return writes


async def measure_baseline(
    cp: manage.ControlPlane,
    token: str,
    registry: NpmRegistry,
    n: int,
    writes: list[tuple[str, dict[str, Any]]],
    args: argparse.Namespace,
    result: Result,
) -> None:
    """No operator: the bench creates the same 2N objects, then does the operator's writes itself."""
    ns = f"bench-base-{n}"
    async with admin_client(cp, args.concurrency) as client:
        await create_namespace(client, ns)
        log(f"N={n}: baseline, creating {2 * n} objects in {ns} without an operator")
        t0, t1, _ = await create_all(client, ns, manifests(n, registry.url), args.concurrency)
        result.base_create = t1 - t0
        uids = {
            s["metadata"]["name"]: s["metadata"]["uid"]
            for s in await list_all(client, CR_PATH.format(ns=ns, plural="mcpservers"))
        }
    # The operator's writes, with the operator's credentials (same APF priority level), same concurrency.
    sem = asyncio.Semaphore(args.concurrency)
    async with token_client(cp, token, args.concurrency) as client:

        async def one(kind: str, body: dict[str, Any]) -> None:
            name = body["metadata"]["name"]
            async with sem:
                if kind == "mcpservers/status":
                    path = CR_PATH.format(ns=ns, plural="mcpservers") + f"/{name}/status"
                    patch = {"status": body["status"]}
                    check(
                        await client.patch(
                            path, json=patch, headers={"Content-Type": "application/merge-patch+json"}
                        )
                    )
                    return
                obj = copy.deepcopy(body)
                meta = obj["metadata"]
                obj["metadata"] = {
                    "name": name,
                    "namespace": ns,
                    "labels": meta.get("labels", {}),
                    "annotations": {
                        k: v for k, v in (meta.get("annotations") or {}).items() if "kubectl" not in k
                    },
                    "ownerReferences": [
                        {**ref, "uid": uids[name]} for ref in meta.get("ownerReferences", [])
                    ],
                }
                base = "/apis/apps/v1" if kind == "deployments" else "/api/v1"
                path = f"{base}/namespaces/{ns}/{kind}/{name}"
                params = {"fieldManager": "bench", "force": "true"}
                headers = {"Content-Type": "application/apply-patch+yaml"}
                check(await client.patch(path, content=json.dumps(obj), params=params, headers=headers))

        t0 = time.monotonic()
        await asyncio.gather(*(one(kind, body) for kind, body in writes))
        result.base_writes = time.monotonic() - t0
        result.base_writes_n = len(writes)


def run_size(n: int, registry: NpmRegistry, workdir: Path, args: argparse.Namespace) -> Result:
    result = Result(n)
    cp_dir = workdir / f"cp-{n}"
    log(f"N={n}: starting a fresh control plane in {cp_dir}")
    with manage.running(cp_dir) as cp:
        install_crds(cp)

        async def go() -> None:
            async with admin_client(cp, 4) as client:
                await crds_served(client)
                await widen_service_range(client)
                token, kubeconfig = await operator_identity(client, cp, workdir)
            writes = await measure_operator(cp, kubeconfig, registry, n, workdir, args, result)
            await measure_baseline(cp, token, registry, n, writes, args, result)

        asyncio.run(go())
        log(f"N={n}: stopping the control plane")
    return result


# ------------------------------------------------------------------------------ report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def report(results: list[Result]) -> str:
    sizes = [f"N={r.n}" for r in results]

    def row(label: str, fmt: Callable[[Result], str]) -> tuple[str, ...]:
        return (label, *(fmt(r) for r in results))

    def s(x: float) -> str:
        return f"{x:.2f} s"

    main = [
        ("figure", *sizes),
        row("objects created (N MCPPackage + N MCPServer)", lambda r: str(2 * r.n)),
        row("all servers done: Deployment+Service+status (goal < 30 s at N=1000)", lambda r: s(r.total)),
        row("operator peak RSS, VmHWM (goal < 200 MB)", lambda r: f"{r.peak_rss_mb:.0f} MB"),
        row("operator API requests, total", lambda r: f"{sum(r.requests.values()):.0f}"),
        row(
            "operator API requests per object (/2N)", lambda r: f"{sum(r.requests.values()) / (2 * r.n):.2f}"
        ),
        row("operator API requests per server (/N)", lambda r: f"{sum(r.requests.values()) / r.n:.2f}"),
        row(
            "  of which writes (not watch/list/get) per server",
            lambda r: f"{(sum(r.requests.values()) - r.requests['watch'] - r.requests['list']) / r.n:.2f}",
        ),
        row("baseline: bench creates the 2N objects, no operator", lambda r: s(r.base_create)),
        row("  ratio: all done / baseline create", lambda r: f"{r.total / r.base_create:.1f}x"),
        row("baseline: bench does the operator's writes (2N apply + N status)", lambda r: s(r.base_writes)),
        row(
            "  ratio: all done / (baseline create + baseline writes)",
            lambda r: f"{r.total / (r.base_create + r.base_writes):.1f}x",
        ),
        row(
            "servers incomplete at the end (list check)",
            lambda r: str(len({m.split(":")[0] for m in r.missing})),
        ),
    ]
    timeline = [
        ("where the time goes (from the first create)", *sizes),
        row("bench finished creating the 2N objects", lambda r: s(r.create)),
        row("all packages resolved (status.resolvedVersion)", lambda r: s(r.resolved_all)),
        row("all Deployments exist", lambda r: s(r.deployments_all)),
        row("all Services exist", lambda r: s(r.services_all)),
        row("first server done", lambda r: s(r.first_done)),
        row("half of the servers done", lambda r: s(r.half_done)),
        row("all servers done", lambda r: s(r.total)),
        row(
            "resolve latency per package p50 / p95 (created -> resolved)",
            lambda r: f"{pct(r.resolve_lat, 0.5):.2f} / {pct(r.resolve_lat, 0.95):.2f} s",
        ),
        row(
            "render latency per server p50 / p95 (max(created, pkg resolved) -> done)",
            lambda r: f"{pct(r.render_lat, 0.5):.2f} / {pct(r.render_lat, 0.95):.2f} s",
        ),
        row(
            "operator request latency in the API server, mean: executing / queued in APF",
            lambda r: f"{r.apf_exec / max(r.apf_count, 1):.3f} / {r.apf_wait / max(r.apf_count, 1):.3f} s",
        ),
        row("operator requests rejected by APF (429)", lambda r: f"{r.rejected:.0f}"),
    ]
    for key in (
        "operator",
        "kube-apiserver",
        "etcd+supervisor",
        "kube-controller-manager",
        "verdaccio",
        "bench",
    ):
        timeline.append(row(f"CPU seconds: {key}", lambda r, k=key: f"{r.cpu.get(k, 0):.1f} s"))
    timeline.append(row("CPU seconds available (2 cores x all-done time)", lambda r: f"{2 * r.total:.1f} s"))
    timeline.append(row("operator RSS at the end (VmRSS)", lambda r: f"{r.end_rss_mb:.0f} MB"))
    timeline.append(
        row(
            "mean JSON size as stored: Deployment / MCPServer / MCPPackage",
            lambda r: (
                " / ".join(f"{r.json_kb.get(k, 0):.1f}" for k in ("Deployment", "MCPServer", "MCPPackage"))
                + " KB"
            ),
        )
    )
    timeline.append(
        row("1-minute load average: first create / end", lambda r: f"{r.load[0]:.1f} / {r.load[1]:.1f}")
    )
    for handler in HANDLERS:
        label = f"handler runs: {handler}"
        timeline.append(
            row(label, lambda r, h=handler: f"{r.handlers.get(h, 0)} ({r.handlers.get(h, 0) / r.n:.2f}/N)")
        )
    requests = [("operator API requests by kind (per server)", *sizes)]
    for key, label, _ in FLOWS:
        requests.append(row(label, lambda r, k=key: f"{r.requests[k]:.0f} ({r.requests[k] / r.n:.2f})"))
    requests.append(
        row(
            "operator startup requests (before the first create; not above)",
            lambda r: f"{r.startup_requests:.0f}",
        )
    )
    requests.append(
        row(
            "operator GETs to the npm registry (verdaccio) / of them 304",
            lambda r: f"{r.registry.get('requests', 0)} / {r.registry.get('304', 0)}",
        )
    )
    requests.append(
        row("check: requests in the built-in service-accounts schema", lambda r: f"{r.other_sa:.0f}")
    )
    return "\n\n".join(table(t) for t in (main, timeline, requests))


# ------------------------------------------------------------------------------ main


@contextlib.contextmanager
def npm_registry(workdir: Path) -> Iterator[NpmRegistry]:
    (workdir / "verdaccio").mkdir()
    registry = NpmRegistry(workdir / "verdaccio")
    # Log every request (level http) so the bench can count what the operator asked the registry.
    registry.config.write_text(registry.config.read_text().replace("level: warn", "level: http"))
    registry.start()
    try:
        for i in range(NPM_PACKAGES):
            for version in ("1.0.0", "1.1.0"):
                registry.publish_npm(f"bench-mcp-{i}", version, bin={f"bench-mcp-{i}": "index.js"})
        yield registry
    finally:
        registry.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000", help="comma-separated N (default 100,1000)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="deadline per size, seconds (default 300)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent create requests (default 32)")
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds without operator requests before counting them (default 3)",
    )
    parser.add_argument("--verbose", action="store_true", help="run the operator with --verbose (debug log)")
    parser.add_argument(
        "--profile", action="store_true", help="run the operator under cProfile; print the top"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, profiles)")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]

    def terminate(signum: int, _: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    manage.build(quiet=True)
    load = os.getloadavg()[0]
    version = code_version()
    workdir = Path(tempfile.mkdtemp(prefix="mcp-bench-reconcile-"))
    results: list[Result] = []
    try:
        with npm_registry(workdir) as registry:
            for n in sizes:
                results.append(run_size(n, registry, workdir, args))
                r = results[-1]
                log(
                    f"N={n}: all done in {r.total:.2f}s, peak RSS {r.peak_rss_mb:.0f} MB, "
                    f"{sum(r.requests.values()):.0f} requests"
                )
                for line in r.missing[:10]:
                    log(f"  incomplete: {line}")
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        return 130
    finally:
        if results:
            print(
                f"mcp-operator reconcile benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                f"{os.cpu_count()} CPUs, load average at start {load:.2f}\n{version}\n"
            )
            print(report(results))
            for r in results:
                if r.profile and r.profile.is_file():
                    print(f"\n--- operator profile, N={r.n} ({r.profile}) ---\n{profile_summary(r.profile)}")
        if args.keep or args.verbose or args.profile:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(not r.missing for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
