"""render/kstatus.py: Reconciling and Stalled follow the phase and a package's rollout."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_operator.render.kstatus import with_kstatus


def ready(status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "t",
    }


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


@pytest.mark.parametrize(
    ("phase", "reconciling", "stalled"),
    [
        ("Pending", "True", "False"),
        ("Resolving", "True", "False"),
        ("Progressing", "True", "False"),
        ("Ready", "False", "False"),
        ("Running", "False", "False"),
        ("Disabled", "False", "False"),
        ("Degraded", "False", "False"),
        ("Failed", "False", "True"),
    ],
)
def test_phase_decides(phase: str, reconciling: str, stalled: str) -> None:
    ok = phase in {"Ready", "Running", "Disabled"}
    status = with_kstatus({"phase": phase, "conditions": [ready("True" if ok else "False", "Why")]}, {})
    found = conds(status)
    assert found["Reconciling"][0] == reconciling
    assert found["Stalled"][0] == stalled
    assert found["Ready"] == ("True" if ok else "False", "Why")


def test_a_rollout_is_reconciling_even_while_ready() -> None:
    current = {"rollout": {"to": "1.1.0"}, "phase": "Ready"}
    status = with_kstatus({"conditions": [ready("True", "Resolved")]}, current)
    assert conds(status)["Reconciling"] == ("True", "RollingOut")
    done = with_kstatus({"rollout": None, "conditions": [ready("True", "Resolved")]}, current)
    assert conds(done)["Reconciling"] == ("False", "Resolved")


def test_a_patch_without_conditions_is_left_alone() -> None:
    assert with_kstatus({"resolvedSpec": "x"}, {"phase": "Failed"}) == {"resolvedSpec": "x"}
