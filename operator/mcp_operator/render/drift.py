"""Does a child need applying? A pure decision from what was applied and what is observed.

A child is applied when its rendered content changed, when it is missing (deleted by someone, or
never applied by this process), or when someone else changed it: for a Deployment and a
NetworkPolicy the API server bumps metadata.generation on every spec change, so a generation newer
than the one our apply produced is someone else's edit; a Service has no such counter, so its
observed spec must still contain everything we rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp_operator.render.cache_paths import SERVICE_SPEC_FIELDS

# How long a child we applied may be absent from the watch cache before it counts as deleted
# (its ADDED event can lag behind the apply; a missed DELETED event must not hide a deletion).
LAG_GRACE = 30.0


@dataclass(frozen=True)
class Applied:
    """What one apply of a child produced."""

    digest: str
    uid: str | None
    generation: int | None
    at: float  # monotonic seconds


def contains(observed: Any, desired: Any) -> bool:
    """Does `observed` hold everything `desired` says (API defaults may add more)?"""
    if isinstance(desired, dict):
        return isinstance(observed, dict) and all(contains(observed.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(observed) == len(desired)
            and all(contains(o, d) for o, d in zip(observed, desired, strict=True))
        )
    return bool(observed == desired)


def edited(kind: str, desired: dict[str, Any], observed: dict[str, Any], applied: Applied) -> bool:
    meta = observed.get("metadata", {})
    if applied.uid and meta.get("uid") and meta.get("uid") != applied.uid:
        return True  # deleted and re-created by someone else
    if kind == "Service":
        want = {k: v for k, v in desired.get("spec", {}).items() if k in SERVICE_SPEC_FIELDS}
        return not contains(observed.get("spec", {}), want)
    generation, ours = meta.get("generation"), applied.generation
    return generation is not None and ours is not None and int(generation) > int(ours)


def needs_apply(
    kind: str,
    desired: dict[str, Any],
    digest: str,
    observed: dict[str, Any] | None,
    applied: Applied | None,
    now: float,
) -> bool:
    if applied is None or applied.digest != digest:
        return True
    if observed is None:
        return now - applied.at > LAG_GRACE
    return edited(kind, desired, observed, applied)
