"""`mcp-operator upgrade`: upgrade one MCPPackage, or all of a namespace or the cluster, and report
each result (docs/upgrades.md). It asks the operator by annotation and waits for its answer, so it
needs nothing but RBAC to get, list and patch MCPPackages."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp_operator import upgrade_plan
from mcp_operator.k8s import Kube, KubeError
from mcp_operator.models import API_VERSION, MCPPackageStatus
from mcp_operator.validation import InputError, parse_duration

KIND = "MCPPackage"


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mcp-operator upgrade",
        description="Upgrade MCPPackages to the newest version their spec.source.version allows (or to "
        "--to VERSION), wait for each rollout, and print one result per package. A failed upgrade is "
        "rolled back by the operator and reported here; the others carry on.",
    )
    parser.add_argument("name", nargs="?", help="the MCPPackage to upgrade (or --all)")
    parser.add_argument("--all", action="store_true", help="every MCPPackage in the namespace (-A: cluster)")
    parser.add_argument(
        "--to", metavar="VERSION", help="this version (one package only); default: newest allowed"
    )
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the current context's namespace, as with kubectl)"
    )
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="with --all: every namespace")
    parser.add_argument("--concurrency", type=int, default=4, help="upgrades in flight at once (default 4)")
    parser.add_argument("--timeout", default="15m", help="how long to wait for each package (default 15m)")
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text")
    args = parser.parse_args(list(argv))
    if bool(args.name) == bool(args.all):
        parser.error("name one MCPPackage, or use --all")
    if args.to and args.all:
        parser.error(
            "--to applies to one package: drop --all, or drop --to to take each one's newest allowed"
        )
    if args.all_namespaces and not args.all:
        parser.error("-A goes with --all")
    if args.concurrency < 1:
        parser.error("--concurrency must be 1 or more")
    try:
        args.timeout_s = parse_duration(args.timeout)
    except InputError as exc:
        parser.error(f"--timeout: {exc}")
    return args


@dataclass(frozen=True)
class Result:
    namespace: str
    name: str
    success: bool
    version: str | None = None
    error: str | None = None

    def seed_shape(self) -> dict[str, Any]:
        """The result shape of the upgrade API: serverName, success, error."""
        shape: dict[str, Any] = {
            "serverName": self.name,
            "namespace": self.namespace,
            "success": self.success,
        }
        if self.version:
            shape["version"] = self.version
        if self.error:
            shape["error"] = self.error
        return shape


async def upgrade_one(
    kube: Kube, namespace: str, name: str, to: str | None, wait_s: float, poll: float = 1.0
) -> Result:
    """Ask for the upgrade; wait until the operator has acted and any rollout has ended."""
    obj = await kube.get(API_VERSION, KIND, namespace, name)
    if obj is None:
        return Result(namespace, name, False, error=f"MCPPackage {namespace}/{name} does not exist")
    before = MCPPackageStatus.model_validate(obj.get("status") or {})
    if not before.resolved_version:
        return Result(namespace, name, False, error="it has no pinned version yet: see its Ready condition")
    request = {"metadata": {"annotations": {upgrade_plan.UPGRADE_ANNOTATION: to or "latest"}}}
    await kube.merge_patch(API_VERSION, KIND, namespace, name, request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        await asyncio.sleep(poll)
        obj = await kube.get(API_VERSION, KIND, namespace, name)
        if obj is None:
            return Result(namespace, name, False, error="the MCPPackage was deleted while upgrading")
        after = MCPPackageStatus.model_validate(obj.get("status") or {})
        found = upgrade_plan.outcome(before, after, obj["metadata"].get("annotations") or {})
        if found.done:
            return Result(namespace, name, found.success, found.version, found.error)
        if loop.time() > deadline:
            return Result(
                namespace,
                name,
                False,
                after.resolved_version,
                f"no result within {wait_s:.0f} s; the operator goes on (see its Upgrade condition)",
            )


async def upgrade_all(
    kube: Kube, namespace: str | None, concurrency: int, wait_s: float, poll: float = 1.0
) -> list[Result]:
    """Every package, at most `concurrency` at once; one failure does not stop the others."""
    packages = await kube.list(API_VERSION, KIND, namespace)
    gate = asyncio.Semaphore(concurrency)

    async def one(obj: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        async with gate:
            try:
                return await upgrade_one(kube, meta["namespace"], meta["name"], None, wait_s, poll)
            except KubeError as exc:
                return Result(meta["namespace"], meta["name"], False, error=str(exc))

    return list(await asyncio.gather(*(one(obj) for obj in packages)))


def render(results: Sequence[Result], output: str) -> str:
    if output == "json":
        body = {"success": all(r.success for r in results), "results": [r.seed_shape() for r in results]}
        return json.dumps(body, indent=2)
    if not results:
        return "no MCPPackages found"
    lines = []
    for r in results:
        if r.success:
            lines.append(f"{r.namespace}/{r.name}: ok, runs {r.version}")
        else:
            running = f" (runs {r.version})" if r.version else ""
            lines.append(f"{r.namespace}/{r.name}: FAILED{running}: {r.error}")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[Result]:
    kube = Kube.from_env()
    namespace = args.namespace or kube.default_namespace
    try:
        if args.all:
            where = None if args.all_namespaces else namespace
            return await upgrade_all(kube, where, args.concurrency, args.timeout_s)
        return [await upgrade_one(kube, namespace, args.name, args.to, args.timeout_s)]
    finally:
        await kube.close()


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    try:
        results = asyncio.run(run(args))
    except KubeError as exc:
        print(f"mcp-operator upgrade: {exc}", file=sys.stderr)
        return 1
    print(render(results, args.output))
    return 0 if all(r.success for r in results) else 1
