"""`mcp-operator run`: start the operator with kopf."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import kopf
from kopf._cogs.clients import errors as kopf_errors
from kopf._cogs.structs import references

from mcp_operator import rediscovery


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
    """Run until stopped; the handlers register on import.

    kopf.operator() is spawn_tasks() + run_tasks(); they are called apart so that, cluster-wide, the
    task that keeps kopf's view of the served resources right (rediscovery.py) runs next to kopf's
    own, with the same API credentials and stopped with them.
    """
    import mcp_operator.handlers  # noqa: F401  (registers the handlers)
    from mcp_operator.handlers import autoinstall

    def watched(namespace: str) -> bool:
        name = references.NamespaceName(namespace)
        return not namespaces or any(references.match_namespace(name, p) for p in namespaces)

    scope = f"only {', '.join(namespaces)}" if namespaces else "every namespace"
    predefined = autoinstall.load(watched=watched, scope=scope)  # a wrong file stops here, in one line
    settings = kopf.OperatorSettings()
    insights = references.Insights()
    existing = {task for task in asyncio.all_tasks() if not task.done()}
    tasks = list(
        await kopf.spawn_tasks(
            standalone=True,
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            settings=settings,
            insights=insights,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
            liveness_endpoint=liveness,
            memo=kopf.Memo(predefined=predefined),
        )
    )
    if not namespaces:
        registry = kopf.get_default_registry()
        keeper = rediscovery.keep_revised(insights, settings, registry)
        tasks.append(asyncio.create_task(keeper, name="rediscovery"))
    await kopf.run_tasks(tasks, ignored=existing)


CRDS_GONE = (
    "mcp-operator: the MCPPackage/MCPServer resources are not served any more (the API answers 404: "
    "were the CRDs deleted?): install them again (kubectl apply --server-side -f crds/); exiting "
    "with code 3 so that the operator's Deployment restarts it"
)


class _NoTraceForMissingCrds(logging.Filter):
    """kopf logs a watcher that failed with a traceback; for a 404 one line says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], kopf_errors.APINotFoundError):
            record.exc_info, record.exc_text = None, None
        return True


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    kopf.configure(verbose=args.verbose, log_prefix=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not args.verbose:
        # kopf says "Handler 'server_event' succeeded." for every watch event: thousands of lines
        # that say nothing. The operator's own loggers (mcp_operator.*) say what it did.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_NoTraceForMissingCrds())
    try:
        asyncio.run(operate(args.namespace, liveness=args.liveness))
    except kopf_errors.APINotFoundError:
        # Watching named namespaces, kopf does not scan for CRDs (a Role cannot): a watch that
        # finds its resource gone ends the operator. Cluster-wide, kopf waits for the CRDs instead.
        print(CRDS_GONE, file=sys.stderr)
        return 3
    return 0
