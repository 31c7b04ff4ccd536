"""Integration fixtures: a Kubernetes API (kmock's emulator), the operator in-process, registries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.cluster import Cluster, running_operator
from tests.fixtures.emulator import Emulator

NAMESPACE = "team-a"


@pytest.fixture
async def cluster(emulator: Emulator) -> AsyncIterator[Cluster]:
    client = Cluster(emulator.kubeconfig, NAMESPACE)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[Cluster]:
    # Cluster-wide: kmock 0.8 cannot parse the namespace list kopf reads to watch single namespaces.
    async with running_operator([]):
        yield cluster
