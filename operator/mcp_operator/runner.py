"""`mcp-operator run`: start the operator with kopf."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

import kopf


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mcp-operator run", description="Run the mcp-operator.")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch only this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--liveness", default=None, help="serve a liveness endpoint, like http://0.0.0.0:8081/healthz"
    )
    return parser.parse_args(list(argv))


async def operate(
    namespaces: Sequence[str] = (),
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
    liveness: str | None = None,
) -> None:
    """Run until stopped; the handlers register on import."""
    import mcp_operator.handlers  # noqa: F401  (registers the handlers)

    await kopf.operator(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        stop_flag=stop_flag,
        ready_flag=ready_flag,
        liveness_endpoint=liveness,
    )


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    kopf.configure(verbose=args.verbose, log_prefix=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(operate(args.namespace, liveness=args.liveness))
    return 0
