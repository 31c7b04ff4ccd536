"""The kopf settings the operator relies on stay valid: with the diff base switched off
(handlers/diffbase.py), no change handler or daemon may be registered, since they would compare
empty essences and never see a change."""

from __future__ import annotations

import kopf

import mcp_operator.handlers.controller  # noqa: F401  (registers every handler, as `run` does)
from mcp_operator.handlers.diffbase import NoDiffBase


def test_only_event_and_activity_handlers_are_registered() -> None:
    registry = kopf.get_default_registry()
    assert registry._changing.get_all_handlers() == [], "a change handler needs kopf's diff base back"
    assert registry._spawning.get_all_handlers() == [], "a daemon or timer needs kopf's diff base back"
    assert len(registry._watching.get_all_handlers()) >= 6  # the kinds of handlers/watch.py


def test_the_diff_base_is_empty_and_never_stored() -> None:
    storage = NoDiffBase()
    body = kopf.Body(
        {"metadata": {"name": "x", "annotations": {"a": "b"}}, "spec": {"big": list(range(100))}}
    )
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert patch == {}
