"""What docs/security.md promises about spec.network, on the real node where kube-router's policy
controller enforces NetworkPolicies (tests/node/netpol.py): `egress: deny` blocks a server's
outbound connections, `egressAllow` lets exactly the listed destinations through, DNS (port 53)
follows `allowDns`, and ingress stays open to the cluster.

The destinations are services the test runs on the node's bridge address (GATEWAY) and another
server's pod. The checks run inside the server container (`kubectl exec`, python3 of the runtime
image), and every state is polled for with a deadline (policy programming is asynchronous) after
the opposite state was seen, so that nothing passes because a destination was never reachable."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Self

import pytest

from tests.e2e.conftest import call_through_service, pods
from tests.fixtures.cluster import Cluster
from tests.fixtures.node import NodeCluster
from tests.fixtures.tiny_js import TINY_JS
from tests.integration.helpers import package, ready, server
from tests.node.node import GATEWAY

pytestmark = pytest.mark.node
NETV1 = "networking.k8s.io/v1"
DNS_ANSWER = "192.0.2.53"  # what the test's DNS server answers (TEST-NET-1: nothing goes there)

# Run in the server container: one connection attempt, bounded, and one line saying what happened.
PROBE = r"""
import socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if kind == "dns":
        header = bytes.fromhex("e6e5" "0100" "0001" "0000" "0000" "0000")  # id e6e5, 1 question
        query = header + b"\x06egress\x04test\x00\x00\x01\x00\x01"  # egress.test A IN
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.connect((host, port))
            s.send(query)
            answer = s.recv(512)
        print("ok dns", answer[:2].hex(), ".".join(str(b) for b in answer[-4:]))
    else:
        with socket.create_connection((host, port), timeout=3) as s:
            s.settimeout(3)
            if kind == "http":
                s.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
            print("ok", s.recv(200).decode(errors="replace").splitlines()[0])
except OSError as error:
    print("blocked", type(error).__name__)
"""


class Listener:
    """A TCP service on the node's bridge address that answers every connection with its token
    and records who connected."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.create_server((GATEWAY, port))
        self.port: int = self.sock.getsockname()[1]
        self.token = f"reached-{self.port}-{uuid.uuid4().hex[:6]}"
        self.peers: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, (host, _) = self.sock.accept()
            except OSError:  # shut down
                return
            with conn:
                self.peers.append(host)
                conn.sendall(f"{self.token}\n".encode())

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.sock.close()
        self.thread.join(10)


class DnsServer:
    """A DNS server on GATEWAY:53/udp answering every A query with DNS_ANSWER."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((GATEWAY, 53))
        self.peers: list[str] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            query, peer = self.sock.recvfrom(512)
            if self.stopping:
                return
            self.peers.append(peer[0])
            header = query[:2] + b"\x81\x80" + query[4:6] + b"\x00\x01\x00\x00\x00\x00"
            record = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04" + socket.inet_aton(DNS_ANSWER)
            self.sock.sendto(header + query[12:] + record, peer)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping = True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as wake:
            wake.sendto(b"", (GATEWAY, 53))
        self.thread.join(10)
        self.sock.close()


def ok(listener: Listener) -> str:
    return f"ok {listener.token}"


DNS_OK = f"ok dns e6e5 {DNS_ANSWER}"


def blocked(outcome: str) -> bool:
    return outcome.startswith("blocked")


async def running_pod(cluster: Cluster, name: str) -> dict[str, Any]:
    """The server's one Ready pod (after a rollout, the new one)."""
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        live = [
            p
            for p in await pods(cluster, name)
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        ]
        if len(live) == 1:
            return live[0]
        assert asyncio.get_running_loop().time() < deadline, f"{name} has no single Ready pod"
        await asyncio.sleep(0.2)


async def probe(stack: NodeCluster, cluster: Cluster, name: str, kind: str, host: str, port: int) -> str:
    """From inside server `name`'s container: `ok ...` or `blocked <error>`."""
    pod = await running_pod(cluster, name)
    container = pod["spec"]["containers"][0]["name"]
    command = ["-n", cluster.namespace, "exec", pod["metadata"]["name"], "-c", container, "--"]
    done = await asyncio.to_thread(
        stack.kubectl, *command, "python3", "-c", PROBE, kind, host, str(port), check=False, timeout=30
    )
    if done.returncode != 0:
        return f"exec failed: {done.stderr.strip()}"
    return done.stdout.strip()


async def until(
    check: Callable[[str], bool], attempt: Callable[[], Awaitable[str]], what: str, timeout: float = 60
) -> str:
    """Try again until `check` holds for the outcome, or fail at the deadline with the last one."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        outcome = await attempt()
        if check(outcome):
            return outcome
        assert asyncio.get_running_loop().time() < deadline, f"{what}: still {outcome!r} after {timeout}s"
        await asyncio.sleep(0.2)


async def pod_address(cluster: Cluster, name: str) -> tuple[str, int]:
    """The pod IP and MCP port of server `name`."""
    pod = await running_pod(cluster, name)
    ports = pod["spec"]["containers"][0]["ports"]
    return pod["status"]["podIP"], next(p["containerPort"] for p in ports if p.get("name") == "mcp")


async def start_server(stack: NodeCluster, cluster: Cluster, npm_name: str, names: dict[str, Any]) -> None:
    """One tiny npm package, and a Ready server of it per entry of `names` (name -> spec.network)."""
    stack.npm.publish_npm(npm_name, "1.0.0", bin={"tiny-js": "server.js"}, files={"server.js": TINY_JS})
    await cluster.create("mcppackages", package("tiny", "npm", npm_name, stack.npm.url, "1.0.0"))
    for name, network in names.items():
        await cluster.create("mcpservers", server(name, "tiny", **({"network": network} if network else {})))
    for name in names:
        await cluster.wait_for("mcpservers", name, ready, timeout=180, what="Running on the real node")


async def test_deny_lets_through_exactly_what_egress_allow_lists(
    cluster: Cluster, network_policies: NodeCluster
) -> None:
    stack = network_policies
    await start_server(stack, cluster, "@e2e/egress-allow", {"guarded": None, "peer": None})
    with Listener() as allowed, Listener() as other:
        # kube-router lets pods reach the node's NodePort range (30000-32767) whatever the policy.
        assert not 30000 <= allowed.port <= 32767
        assert not 30000 <= other.port <= 32767

        async def from_guarded(kind: str, host: str, port: int) -> str:
            return await probe(stack, cluster, "guarded", kind, host, port)

        peer_ip, peer_port = await pod_address(cluster, "peer")
        # No NetworkPolicy yet (egress: allow): every destination answers the server's pod.
        assert await from_guarded("tcp", GATEWAY, allowed.port) == ok(allowed)
        assert await from_guarded("tcp", GATEWAY, other.port) == ok(other)
        assert (await from_guarded("http", peer_ip, peer_port)).startswith("ok HTTP/1.")

        listed = [
            {"cidr": f"{GATEWAY}/32", "ports": [{"port": allowed.port, "protocol": "TCP"}]},
            {"cidr": f"{GATEWAY}/32", "ports": [{"port": stack.npm.port, "protocol": "TCP"}]},  # its installs
        ]
        network = {"egress": "deny", "allowDns": False, "egressAllow": listed}
        await cluster.patch("mcpservers", "guarded", {"spec": {"network": network}})
        await cluster.wait_for("networkpolicies", "guarded", lambda _: True, api_version=NETV1)

        await until(
            blocked, lambda: from_guarded("tcp", GATEWAY, other.port), "egress: deny blocks an unlisted port"
        )
        guarded_ip, guarded_port = await pod_address(cluster, "guarded")
        seen = len(other.peers)
        assert blocked(await from_guarded("tcp", GATEWAY, other.port))
        assert guarded_ip not in other.peers[seen:], "a blocked connection must never reach the listener"
        await until(  # the listed one (a first connection right after a sync may still be refused)
            lambda outcome: outcome == ok(allowed),
            lambda: from_guarded("tcp", GATEWAY, allowed.port),
            "egressAllow lets the listed port through",
        )
        assert blocked(await from_guarded("http", peer_ip, peer_port))  # another pod is not listed either

        # Only egress is restricted: another pod and the host (through the Service) still reach it.
        answer = await probe(stack, cluster, "peer", "http", guarded_ip, guarded_port)
        assert answer.startswith("ok HTTP/1.")
        assert " 200" in answer
        assert (await call_through_service(cluster, "guarded"))[1] == "echo hi"

        # Back to egress: allow: the policy goes, and so does the restriction.
        await cluster.patch("mcpservers", "guarded", {"spec": {"network": {"egress": "allow"}}})
        await cluster.wait_gone("networkpolicies", "guarded", api_version=NETV1)
        await until(
            lambda outcome: outcome == ok(other),
            lambda: from_guarded("tcp", GATEWAY, other.port),
            "egress: allow lets everything through again",
        )


async def test_dns_follows_allow_dns(cluster: Cluster, network_policies: NodeCluster) -> None:
    stack = network_policies
    registry = {"cidr": f"{GATEWAY}/32", "ports": [{"port": stack.npm.port, "protocol": "TCP"}]}
    with DnsServer() as dns, Listener(53) as dns_tcp, Listener() as other:
        # egress: deny from the start, allowDns at its default (true): installs through egressAllow.
        await start_server(
            stack, cluster, "@e2e/egress-dns", {"resolver": {"egress": "deny", "egressAllow": [registry]}}
        )

        async def from_resolver(kind: str, port: int) -> str:
            return await probe(stack, cluster, "resolver", kind, GATEWAY, port)

        await until(blocked, lambda: from_resolver("tcp", other.port), "the policy is in force")
        # Converging may take a moment more for DNS: a first query once went unanswered for 3 s.
        await until(
            lambda outcome: outcome == DNS_OK, lambda: from_resolver("dns", 53), "allowDns lets DNS in"
        )
        assert await from_resolver("tcp", 53) == ok(dns_tcp)

        await cluster.patch("mcpservers", "resolver", {"spec": {"network": {"allowDns": False}}})
        await until(blocked, lambda: from_resolver("dns", 53), "allowDns: false blocks DNS over UDP")
        resolver_ip, _ = await pod_address(cluster, "resolver")
        seen = len(dns.peers)
        assert blocked(await from_resolver("dns", 53))
        assert resolver_ip not in dns.peers[seen:], "a blocked query must never reach the DNS server"
        assert blocked(await from_resolver("tcp", 53))  # and over TCP
        assert blocked(await from_resolver("tcp", other.port))

        await cluster.patch("mcpservers", "resolver", {"spec": {"network": {"allowDns": True}}})
        await until(
            lambda outcome: outcome == DNS_OK, lambda: from_resolver("dns", 53), "allowDns: true again"
        )
        assert blocked(await from_resolver("tcp", other.port))  # DNS only
