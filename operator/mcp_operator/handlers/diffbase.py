"""kopf's "diff base", switched off because nothing here reads it.

On every watch event kopf builds the object's essence (a deep copy of the whole body, then another
one when it clears its progress fields) for change handlers (on.create, on.update, on.resume) and
daemons, which compare it with the last handled one. This operator has none: every kind is
watched with on.event and reconciled from the cache (handlers/watch.py). The copies were a fifth of
the operator's CPU time at N = 1000 (`bench/reconcile.py --sizes 1000 --profile`, Deployments
carry their managedFields). tests/unit/test_kopf_settings.py fails when a change handler or a
daemon is registered, which would need the diff base back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """An empty essence for every object, and no stored one: only on.event handlers run."""

    def build(
        self,
        *,
        body: kopf.Body,
        extra_fields: Iterable[str | tuple[str, ...] | list[str] | None] | None = None,
    ) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
