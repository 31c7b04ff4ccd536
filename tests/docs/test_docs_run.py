"""The console blocks of README.md and docs/getting-started.md, run as written against the local
cluster with a real node (tests/node/stack.py) and the operator watching their namespaces.

Each command must succeed and its output must have the shape the doc shows (tests/docs/console.py),
within a deadline: a cluster converges, so a command is retried until it does. Commands are run
without a shell; only `kubectl` commands can be run. Two things differ from a user's cluster, on
purpose: examples/ are applied with the local mirror as their registry (pods here cannot reach the
public ones), and README.md's sample is the state `make demo` leaves (its namespace and examples
are prepared first, as the demo does)."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.docs.console import Block, Command, blocks, shape_mismatch
from tests.fixtures.cluster import running_operator
from tests.node.stack import KUBECTL, Stack, examples_for

pytestmark = pytest.mark.node
ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]
NAMESPACES = ["mcp", "mcp-demo"]
DEADLINE = 240.0
CHANGES = {"apply", "create", "delete", "patch", "label", "annotate", "scale"}


@pytest.fixture
async def docs_cluster(node_cluster: Stack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    monkeypatch.setenv("KUBECONFIG", str(node_cluster.controlplane.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    async with running_operator(NAMESPACES):
        yield node_cluster
    for namespace in NAMESPACES:
        node_cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def argv(stack: Stack, command: Command) -> tuple[list[str], str | None]:
    """The command as an argument list for the local cluster, and what goes to its stdin."""
    args = shlex.split(command.text, comments=True)
    assert args[0] == "kubectl", (
        f"line {command.line}: only kubectl commands can be checked; put "
        "`<!-- docs-check: skip: why -->` before the block"
    )
    base = [str(KUBECTL), f"--kubeconfig={stack.controlplane.kubeconfig}"]
    if "-f" in args and args[args.index("-f") + 1].startswith("examples"):
        at = args.index("-f")
        manifests, _ = examples_for(stack, [ROOT / args[at + 1]])
        return [*base, *args[1:at], "-f", "-", *args[at + 2 :]], manifests
    return [*base, *args[1:]], None


def verb(command: Command) -> str:
    args = shlex.split(command.text, comments=True)
    return args[1] if len(args) > 1 else ""


def run_until_shaped(stack: Stack, command: Command) -> None:
    args, stdin = argv(stack, command)
    if "port-forward" in args:
        return port_forward(args)
    deadline = time.monotonic() + DEADLINE
    while True:
        done = subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=DEADLINE, check=False
        )
        problem = (
            f"exit {done.returncode}: {done.stderr.strip()}"
            if done.returncode
            else shape_mismatch(command.output, done.stdout)
        )
        if problem is None:
            return None
        changed = done.returncode == 0 and verb(command) in CHANGES  # run again, it would not repeat
        if time.monotonic() > deadline or changed:
            raise AssertionError(f"line {command.line}: `{command.text}`: {problem}\noutput:\n{done.stdout}")
        time.sleep(1)


def port_forward(args: list[str]) -> None:
    """Forward as shown, and reach the server's /readyz through it."""
    local = args[-1].split(":")[0]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
    ) as forward:
        try:
            assert forward.stdout is not None
            first = forward.stdout.readline()
            assert "Forwarding from" in first, first
            answer = httpx.get(f"http://127.0.0.1:{local}/readyz", timeout=10)
            assert answer.status_code == 200, answer.text
        finally:
            forward.terminate()


def prepare_demo_state(stack: Stack) -> None:
    """What `make demo` does before it prints `kubectl get mcp -n mcp-demo`."""
    stack.kubectl("create", "namespace", "mcp-demo")
    manifests, _ = examples_for(stack, [ROOT / "examples"])
    stack.kubectl("apply", "-n", "mcp-demo", "-f", "-", stdin=manifests)


def runnable(doc: Path) -> list[Block]:
    return [b for b in blocks(doc) if b.skip is None and b.commands]


async def test_every_console_block_runs_as_documented(docs_cluster: Stack) -> None:
    prepare_demo_state(docs_cluster)
    checked = 0
    for doc in DOCS:
        for block in runnable(doc):
            for command in block.commands:
                await asyncio.to_thread(run_until_shaped, docs_cluster, command)
                checked += 1
    assert checked >= 15, f"only {checked} commands were checked: are the blocks marked skip?"
