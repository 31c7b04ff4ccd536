"""Cluster-wide, re-read the API group's discovery now and then so kopf never stays deaf.

kopf learns which custom resources are served from CRD watch events: on each one it re-reads the
group's discovery. Discovery is updated after the CRD, asynchronously. When the CRDs are deleted and
created again and kopf reads discovery for the last CRD event before discovery serves the resources
again, it concludes that MCPPackage and MCPServer are not served and never looks again: the operator
ignores every MCPPackage and MCPServer until it is restarted (seen once in about ten CI runs of
tests/integration/test_crd_loss.py). This task compares kopf's view with discovery at an interval and
revises kopf's view when they disagree, as kopf does on a CRD event. It costs one discovery read per
interval. Watching named namespaces, kopf does not scan CRDs at all and this task is not started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

import aiohttp
import kopf
from kopf._cogs.clients import errors as kopf_errors
from kopf._cogs.clients import scanning
from kopf._cogs.structs import references
from kopf._core.reactor import observation

from mcp_operator.models import GROUP, KINDS

logger = logging.getLogger(__name__)
INTERVAL = 10.0
OURS = frozenset(kind.plural for kind in KINDS)

Scan = Callable[..., Awaitable[Collection[references.Resource]]]


def ours(resources: Collection[references.Resource]) -> frozenset[references.Resource]:
    return frozenset(r for r in resources if r.group == GROUP and r.plural in OURS)


async def revise(
    insights: references.Insights,
    settings: kopf.OperatorSettings,
    registry: kopf.OperatorRegistry,
    scan: Scan = scanning.scan_resources,
) -> bool:
    """Bring kopf's served resources of our group in line with discovery; True if they differed."""
    served = await scan(groups={GROUP}, settings=settings, logger=logger)
    if ours(served) == ours(insights.watched_resources):
        return False
    async with insights.revised:
        observation.revise_resources(resources=served, insights=insights, registry=registry, group=GROUP)
        await insights.backbone.fill(resources=served)
        insights.revised.notify_all()
    names = ", ".join(sorted(r.plural for r in ours(served))) or "none"
    logger.info(f"API discovery disagreed with the watched resources of {GROUP}; now watching: {names}")
    return True


async def keep_revised(
    insights: references.Insights,
    settings: kopf.OperatorSettings,
    registry: kopf.OperatorRegistry,
    interval: float = INTERVAL,
    scan: Scan = scanning.scan_resources,
) -> None:
    """Run until cancelled; a failed discovery read is retried at the next interval."""
    await insights.ready_resources.wait()
    while True:
        await asyncio.sleep(interval)
        try:
            await revise(insights, settings, registry, scan)
        except (kopf_errors.APIError, aiohttp.ClientError, TimeoutError) as error:
            logger.debug(f"API discovery of {GROUP} failed, retrying in {interval:g} s: {error}")
