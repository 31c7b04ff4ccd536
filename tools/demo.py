"""`make demo`: the operator's main job on a local cluster with a real node.

Starts the control plane and a real node (tests/node/stack.py), local npm and PyPI registries
serving the pinned MCP servers (tools/mirror.py; pods here cannot reach the public registries),
the operator, and examples/. Waits until the servers run, calls a tool on each through its
Service with the official MCP SDK client, prints the answers and how to reach the servers, and
runs until Ctrl-C (or exits at once with --once).

    python tools/demo.py [--once] [--timeout 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NAMESPACE = "mcp-demo"
RUN_DIR = ROOT / ".cache" / "demo"
OPERATOR = ROOT / ".venv" / "bin" / "mcp-operator"
# A tool to call on each example server, and what to send it.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "everything": ("echo", {"message": "hello from make demo"}),
    "time": ("get_current_time", {"timezone": "Europe/Paris"}),
}


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"==> {text}", flush=True)


def servers(stack: Any) -> list[dict[str, Any]]:
    out = stack.kubectl("get", "mcpservers", "-n", NAMESPACE, "-o", "json").stdout
    return list(json.loads(out)["items"])


def ready(obj: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", [])
    )


def wait_running(stack: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        items = servers(stack)
        if items and all(ready(s) for s in items):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


async def call(url: str, tool: str, arguments: dict[str, Any]) -> tuple[list[str], str]:
    from tests.bridge.conftest import mcp_client

    async with mcp_client(url) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        answer = await client.call_tool(tool, arguments)
    text = " ".join(getattr(part, "text", "") for part in answer.content)
    return tools, ("ERROR " if answer.isError else "") + text


def answer_within(url: str, tool: str, arguments: dict[str, Any], timeout: float) -> tuple[list[str], str]:
    """Endpoints reach kube-proxy a moment after the pod is Ready: retry until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return asyncio.run(call(url, tool, arguments))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def call_each(stack: Any) -> None:
    for obj in servers(stack):
        name = obj["metadata"]["name"]
        svc = json.loads(stack.kubectl("get", "service", name, "-n", NAMESPACE, "-o", "json").stdout)
        url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"
        tool, arguments = CALLS.get(name, ("", {}))
        if not tool:
            continue
        say(f"calling {tool} on {name} through its Service ({url}/mcp) with the MCP SDK client")
        try:
            tools, text = answer_within(url, tool, arguments, 60)
        except Exception as exc:
            print(f"{name}: no answer within 60s: {exc}")
            continue
        print(f"{name}: {len(tools)} tools ({', '.join(tools[:6])}{', ...' if len(tools) > 6 else ''})")
        print(f"{name}: {tool}({json.dumps(arguments)}) -> {text}")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--once", action="store_true", help="exit after the calls, do not wait for Ctrl-C")
    parser.add_argument("--timeout", type=float, default=300.0, help="how long to wait for the servers")
    args = parser.parse_args()
    from tests.node.stack import local_stack, unavailable

    missing = unavailable()
    if missing is not None:
        print(f"make demo needs a local node, and this machine lacks one: {missing}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    say("building the local control plane and node (cached after the first time)")
    try:
        with local_stack(RUN_DIR, say) as stack:
            code = run(stack, args.once, args.timeout)
    except KeyboardInterrupt:  # Ctrl-C is how the demo ends
        code = 0
    say("stopped: the node, the control plane and the registries are gone")
    return code


def run(stack: Any, once: bool, timeout: float) -> int:
    from tests.node.stack import examples_for

    kubeconfig = stack.controlplane.kubeconfig
    stack.kubectl("create", "namespace", NAMESPACE)
    stack.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    say(f"starting the operator: mcp-operator run -n {NAMESPACE} (log: {RUN_DIR / 'operator.log'})")
    log = (RUN_DIR / "operator.log").open("w")
    env = {"KUBECONFIG": str(kubeconfig), "PATH": str(ROOT / ".venv" / "bin") + ":/usr/bin:/bin"}
    operator = subprocess.Popen([str(OPERATOR), "run", "-n", NAMESPACE], env=env, stdout=log, stderr=log)
    try:
        manifests, pointed = examples_for(stack, [ROOT / "examples"])
        mirror = stack.npm.bind_host
        say(f"applying examples/ (the registry of {', '.join(pointed)}: the local mirror at {mirror})")
        print(stack.kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=manifests).stdout, end="")
        say("waiting for the servers: resolve, install in the init container, start, pass the probes")
        started = time.monotonic()
        running = wait_running(stack, timeout)
        say(
            f"kubectl get mcp -n {NAMESPACE}"
            + (f"  (after {time.monotonic() - started:.0f}s)" if running else "")
        )
        print(stack.kubectl("get", "mcp", "-n", NAMESPACE).stdout, end="")
        if not running:
            hint = f"kubectl describe mcpservers -n {NAMESPACE}"
            print(f"not every server is Running after {timeout:.0f}s: see `{hint}`")
            return 1
        call_each(stack)
        print(
            "\nReach a server from this machine:\n"
            f"  export KUBECONFIG={kubeconfig}\n"
            f"  {ROOT / '.cache' / 'bin' / 'kubectl'} port-forward -n {NAMESPACE} svc/everything 8080:8080\n"
            "  then point an MCP client at http://127.0.0.1:8080/mcp"
        )
        if not once:
            say("running; press Ctrl-C to stop")
            while True:
                time.sleep(3600)
        return 0
    finally:
        say("stopping the operator")
        operator.send_signal(signal.SIGTERM)
        try:
            operator.wait(30)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
