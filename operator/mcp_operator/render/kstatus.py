"""The kstatus conditions (Reconciling, Stalled) derived from a status, for every status written.

kstatus (what `kubectl wait`, Flux and Helm 4's --wait read) wants `Reconciling` True while the
object is on its way, `Stalled` True when it cannot get there without help, and both False (or
absent) when it is done. Both are derived here, in one place, from the phase and from a package's
rollout, so no flow can forget them.
"""

from __future__ import annotations

from typing import Any

from mcp_operator.models import Condition
from mcp_operator.render.status import set_condition

ON_THE_WAY = frozenset({"Pending", "Resolving", "Progressing"})
STUCK = frozenset({"Failed"})


def with_kstatus(status: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """`status` (a merge patch) with Reconciling and Stalled set from what the object will say."""
    if "conditions" not in status:
        return status
    merged = {**current, **status}
    phase = merged.get("phase")
    conditions = [Condition.model_validate(c) for c in status["conditions"]]
    ready = next((c for c in conditions if c.type == "Ready"), None)
    reason = ready.reason if ready else "Unknown"
    message = ready.message if ready else ""
    generation = merged.get("observedGeneration")
    rollout = merged.get("rollout")
    if rollout:
        reconciling, why, text = True, "RollingOut", f"rolling out {rollout.get('to')}"
    else:
        reconciling, why, text = phase in ON_THE_WAY, reason, message
    conditions = set_condition(conditions, "Reconciling", reconciling, why, text, generation)
    stalled = phase in STUCK
    conditions = set_condition(conditions, "Stalled", stalled, reason, message if stalled else "", generation)
    return {**status, "conditions": [c.dump() for c in conditions]}
