"""The reconcile core's pure parts: the work queue, the watch cache, drift decisions, reasons."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from mcp_operator import reasons
from mcp_operator.handlers.cache import Cache
from mcp_operator.handlers.memory import Memories
from mcp_operator.handlers.queue import QueueClosed, WorkQueue
from mcp_operator.reasons import DOCS, Reason
from mcp_operator.registries import errors as registry_errors
from mcp_operator.render.drift import LAG_GRACE, Applied, contains, needs_apply

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------ queue


async def test_a_key_is_queued_once_and_requeued_when_added_while_processing() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert await queue.get() == "a"
    queue.add("a")  # while "a" is processed: must come again afterwards, not concurrently
    assert await queue.get() == "b"
    queue.done("b")
    assert queue.sizes()["queued"] == 0
    queue.done("a")
    assert await queue.get() == "a"
    queue.done("a")
    assert queue.sizes() == {"queued": 0, "processing": 0, "dirty": 0, "failures": 0, "timers": 0}


async def test_backoff_doubles_up_to_the_cap_and_resets_on_success() -> None:
    queue: WorkQueue[str] = WorkQueue(base=1.0, cap=8.0)
    delays = [queue.backoff("k") for _ in range(6)]
    for got, want in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert want * 0.9 <= got <= want * 1.1
    queue.succeeded("k")
    assert queue.failures("k") == 0
    assert 0.9 <= queue.backoff("k") <= 1.1


async def test_add_after_fires_once_and_the_earliest_timer_wins() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("k", 0.2)
    queue.add_after("k", 0.05)
    queue.add_after("k", 5)
    assert queue.sizes()["timers"] == 1
    async with asyncio.timeout(1):
        key = await queue.get()
    assert key == "k"
    queue.done("k")
    assert queue.sizes()["timers"] == 0


async def test_forget_cancels_timers_and_close_wakes_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.retry("k")
    assert queue.sizes()["timers"] == 1
    queue.forget("k")
    assert queue.sizes() == {"queued": 0, "processing": 0, "dirty": 0, "failures": 0, "timers": 0}
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.close()
    with pytest.raises(QueueClosed):
        await waiter
    queue.add("late")  # ignored once closed
    assert queue.sizes()["queued"] == 0


# ------------------------------------------------------------------------------------ cache


def test_cache_links_servers_to_packages_and_unlinks_them() -> None:
    cache = Cache()
    body = {
        "metadata": {"namespace": "ns", "name": "s", "uid": "u", "managedFields": [1] * 50},
        "spec": {"package": "p"},
    }
    cache.put_server(body)
    assert cache.servers_of("ns", "p") == [("ns", "s")]
    assert "managedFields" not in cache.servers[("ns", "s")]["metadata"]
    cache.put_server({**body, "spec": {"package": "q"}})
    assert cache.servers_of("ns", "p") == []
    assert cache.servers_of("ns", "q") == [("ns", "s")]
    cache.drop_server(("ns", "s"))
    assert cache.sizes() == {"packages": 0, "servers": 0, "children": 0, "by_package": 0, "pods": 0}


def test_cache_keeps_the_controller_owner_of_children() -> None:
    cache = Cache()
    owners = [{"uid": "other"}, {"uid": "mine", "controller": True}]
    cache.put_child(
        "Service",
        {"metadata": {"namespace": "n", "name": "s", "ownerReferences": owners}, "spec": {"ports": []}},
    )
    child = cache.child("Service", ("n", "s"))
    assert child is not None
    assert child["metadata"]["owner"] == "mine"


def test_memory_is_per_uid() -> None:
    memories = Memories()
    first = memories.get(("MCPServer", "n", "s"), "uid-1")
    first.written = {"phase": "Running"}
    assert memories.get(("MCPServer", "n", "s"), "uid-1") is first
    second = memories.get(("MCPServer", "n", "s"), "uid-2")  # deleted and created again
    assert second.written is None
    memories.forget(("MCPServer", "n", "s"))
    assert len(memories) == 0


# ------------------------------------------------------------------------------------ drift

DEP = {"kind": "Deployment", "spec": {"replicas": 1}}
SVC = {
    "kind": "Service",
    "spec": {"ports": [{"name": "mcp", "port": 8080}], "selector": {"a": "b"}, "type": "ClusterIP"},
}


def applied(generation: int | None = 2, at: float = 100.0) -> Applied:
    return Applied(digest="d", uid="u", generation=generation, at=at)


def test_unchanged_children_are_not_applied_again() -> None:
    observed = {"metadata": {"uid": "u", "generation": 2}}
    assert not needs_apply("Deployment", DEP, "d", observed, applied(), 101.0)
    assert needs_apply("Deployment", DEP, "other", observed, applied(), 101.0)  # content changed
    assert needs_apply("Deployment", DEP, "d", observed, None, 101.0)  # never applied by this process


def test_someone_elses_edit_is_drift_but_a_lagging_cache_is_not() -> None:
    assert needs_apply("Deployment", DEP, "d", {"metadata": {"uid": "u", "generation": 3}}, applied(), 101.0)
    assert not needs_apply(
        "Deployment", DEP, "d", {"metadata": {"uid": "u", "generation": 1}}, applied(), 101.0
    )
    assert needs_apply(
        "Deployment", DEP, "d", {"metadata": {"uid": "new", "generation": 2}}, applied(), 101.0
    )


def test_a_missing_child_is_reapplied_after_the_grace_for_its_event() -> None:
    assert not needs_apply("Deployment", DEP, "d", None, applied(at=100.0), 100.0 + LAG_GRACE / 2)
    assert needs_apply("Deployment", DEP, "d", None, applied(at=100.0), 100.0 + LAG_GRACE + 1)


def test_service_drift_is_a_changed_field_of_ours() -> None:
    defaulted = {
        "metadata": {"uid": "u"},
        "spec": {
            **SVC["spec"],
            "ports": [{"name": "mcp", "port": 8080, "protocol": "TCP"}],
            "clusterIP": "10.0.0.1",
        },
    }
    assert not needs_apply("Service", SVC, "d", defaulted, applied(None), 101.0)
    edited = {"metadata": {"uid": "u"}, "spec": {**defaulted["spec"], "selector": {"a": "c"}}}
    assert needs_apply("Service", SVC, "d", edited, applied(None), 101.0)


def test_contains() -> None:
    assert contains({"a": 1, "b": [1, {"c": 2, "d": 3}]}, {"b": [1, {"c": 2}]})
    assert not contains({"b": [1]}, {"b": [1, 2]})
    assert not contains(None, {"a": None, "b": 1})
    assert contains({}, {"a": None})  # a merge patch's null is an absent field


# ---------------------------------------------------------------------------------- reasons


def test_every_reason_is_documented_and_every_registry_reason_is_one() -> None:
    documented = {reason for _, reason in DOCS}
    assert set(Reason) <= documented
    for name in dir(registry_errors):
        cls = getattr(registry_errors, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, registry_errors.RegistryError)
            and cls is not registry_errors.RegistryError
        ):
            assert Reason(cls.reason)


def test_every_render_error_reason_is_a_reason() -> None:
    source = (ROOT / "operator" / "mcp_operator" / "render" / "deployment.py").read_text()
    for used in re.findall(r'RenderError\(\s*"([A-Za-z]+)"', source):
        assert Reason(used)


def test_the_reasons_page_is_generated_from_the_enum() -> None:
    page = (ROOT / "docs" / "reference" / "reasons.md").read_text()
    assert page == reasons.reasons_markdown()
    for (_, reason), doc in DOCS.items():
        assert f"| `{reason}` |" in page
        assert doc.meaning in page
