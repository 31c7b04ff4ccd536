"""rediscovery.py: kopf's served resources follow API discovery even when a CRD event was missed.

The scans here are fakes (FakeDiscovery) that answer what discovery would; the real race is on the
real control plane in tests/integration/test_crd_loss.py."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import errors as kopf_errors
from kopf._cogs.structs import references

import mcp_operator.handlers  # noqa: F401  (registers the handlers whose resources are watched)
from mcp_operator import rediscovery
from mcp_operator.models import GROUP, KINDS


def resource(plural: str, group: str = GROUP) -> references.Resource:
    kind = plural.rstrip("s").capitalize()
    return references.Resource(
        group=group,
        version="v1alpha1",
        plural=plural,
        kind=kind,
        singular=plural.rstrip("s"),
        namespaced=True,
        preferred=True,
        verbs=["list", "watch", "patch", "get"],
    )


OURS = [resource(kind.plural) for kind in KINDS]


class FakeDiscovery:
    """Answers a scan with what it is told discovery serves; raises the errors it is given first."""

    def __init__(self, served: Collection[references.Resource], errors: list[Exception] | None = None):
        self.served = list(served)
        self.errors = list(errors or [])
        self.calls = 0
        self.called = asyncio.Event()

    async def __call__(self, *, groups: set[str], **_: Any) -> Collection[references.Resource]:
        self.calls += 1
        self.called.set()
        assert groups == {GROUP}
        if self.errors:
            raise self.errors.pop(0)
        return self.served


async def test_resources_kopf_missed_are_watched_after_a_revision() -> None:
    insights = references.Insights()
    registry = kopf.get_default_registry()
    settings = kopf.OperatorSettings()
    scan = FakeDiscovery(OURS)
    assert await rediscovery.revise(insights, settings, registry, scan) is True
    assert rediscovery.ours(insights.watched_resources) == frozenset(OURS)
    # In agreement: nothing changes, nobody is woken.
    assert await rediscovery.revise(insights, settings, registry, scan) is False


async def test_resources_gone_from_discovery_stop_being_watched() -> None:
    insights = references.Insights(watched_resources=set(OURS))
    registry = kopf.get_default_registry()
    assert await rediscovery.revise(insights, kopf.OperatorSettings(), registry, FakeDiscovery([])) is True
    assert rediscovery.ours(insights.watched_resources) == frozenset()


async def test_other_groups_are_left_to_kopf() -> None:
    pods = resource("pods", group="")
    insights = references.Insights(watched_resources={pods})
    registry = kopf.get_default_registry()
    await rediscovery.revise(insights, kopf.OperatorSettings(), registry, FakeDiscovery(OURS))
    assert pods in insights.watched_resources


async def test_the_keeper_waits_for_kopfs_first_scan_and_survives_api_errors() -> None:
    insights = references.Insights()
    registry = kopf.get_default_registry()
    outage = kopf_errors.APIServerError({"code": 503, "message": "unavailable"}, status=503, headers={})
    scan = FakeDiscovery(OURS, errors=[outage, TimeoutError()])
    keeper = asyncio.create_task(
        rediscovery.keep_revised(insights, kopf.OperatorSettings(), registry, interval=0, scan=scan)
    )
    try:
        await asyncio.sleep(0.05)
        assert scan.calls == 0, "must not scan before kopf's own initial scan is done"
        insights.ready_resources.set()
        async with asyncio.timeout(10):
            while rediscovery.ours(insights.watched_resources) != frozenset(OURS):
                await asyncio.sleep(0.01)
        assert scan.calls >= 3
        assert not keeper.done()
    finally:
        keeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await keeper
