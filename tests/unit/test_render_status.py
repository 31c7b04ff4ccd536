"""Status as pure functions: conditions, server phases from the Deployment, history, version order."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from mcp_operator.models import HISTORY_LIMIT, Condition, ConditionStatus, HistoryEntry, MCPServerSpec
from mcp_operator.render import status as s
from mcp_operator.render.labels import VERSION_ANNOTATION

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-06-01T12:00:00Z"


def cond(type_: str = "Ready", status: str = "True", at: str = T0, reason: str = "R") -> Condition:
    return Condition.model_validate(
        {"type": type_, "status": status, "reason": reason, "message": "m", "lastTransitionTime": at}
    )


# ---------------------------------------------------------------------------------------------
# set_condition
# ---------------------------------------------------------------------------------------------


def test_set_condition_adds_a_new_condition() -> None:
    out = s.set_condition([], "Ready", True, "Resolved", "all good", 4, at=T1)
    assert [c.dump() for c in out] == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Resolved",
            "message": "all good",
            "lastTransitionTime": T1,
            "observedGeneration": 4,
        }
    ]


def test_set_condition_keeps_the_transition_time_when_the_status_does_not_change() -> None:
    old = [cond(status="True", at=T0, reason="Old")]
    out = s.set_condition(old, "Ready", True, "New", "new message", 7, at=T1)
    [ready] = out
    assert ready.last_transition_time == T0
    assert ready.reason == "New"
    assert ready.message == "new message"
    assert ready.observed_generation == 7


@pytest.mark.parametrize(
    ("before", "after"),
    [("True", False), ("False", True), ("Unknown", True), ("True", ConditionStatus.UNKNOWN)],
)
def test_set_condition_moves_the_transition_time_when_the_status_flips(
    before: str, after: bool | ConditionStatus
) -> None:
    out = s.set_condition([cond(status=before, at=T0)], "Ready", after, "R", "m", 1, at=T1)
    assert out[0].last_transition_time == T1
    expected = {True: "True", False: "False"}.get(after, after) if isinstance(after, bool) else after
    assert out[0].status == expected


def test_set_condition_without_at_uses_now() -> None:
    out = s.set_condition([cond(status="True", at=T0)], "Ready", False, "R", "m", 1)
    moved = datetime.datetime.fromisoformat(out[0].last_transition_time.replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(datetime.UTC) - moved).total_seconds()) < 60


def test_set_condition_leaves_other_conditions_alone_and_in_place() -> None:
    other_a, other_b = cond("Available", at=T0), cond("Progressing", status="False", at=T0)
    conditions = [other_a, cond("Ready", status="False", at=T0), other_b]
    out = s.set_condition(conditions, "Ready", True, "R", "m", 2, at=T1)
    assert [c.type for c in out] == ["Available", "Ready", "Progressing"]
    assert out[0] is other_a
    assert out[2] is other_b
    assert out[1].last_transition_time == T1
    # the input list is not changed
    assert conditions[1].status == "False"


def test_set_condition_accepts_condition_status_values() -> None:
    out = s.set_condition([cond(status="True", at=T0)], "Ready", ConditionStatus.TRUE, "R", "m", None, at=T1)
    assert out[0].last_transition_time == T0
    assert out[0].observed_generation is None
    assert "observedGeneration" not in s.conditions_dump(out)[0]


def test_now_is_rfc3339_utc_in_seconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s.now())


# ---------------------------------------------------------------------------------------------
# push_history and newer
# ---------------------------------------------------------------------------------------------


def test_push_history_puts_the_newest_first() -> None:
    history: list[HistoryEntry] = []
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        history = s.push_history(history, version, "resolved")
    assert [h.version for h in history] == ["1.2.0", "1.1.0", "1.0.0"]
    assert history[0].outcome == "resolved"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", history[0].at)


def test_push_history_is_bounded() -> None:
    history: list[HistoryEntry] = []
    for i in range(HISTORY_LIMIT + 5):
        history = s.push_history(history, f"1.0.{i}", "upgraded")
    assert len(history) == HISTORY_LIMIT == 20
    assert history[0].version == f"1.0.{HISTORY_LIMIT + 4}"
    assert history[-1].version == "1.0.5"


def test_push_history_does_not_change_its_input() -> None:
    history = [HistoryEntry(version="1.0.0", at=T0, outcome="resolved")]
    out = s.push_history(history, "2.0.0", "upgraded")
    assert len(history) == 1
    assert len(out) == 2


@pytest.mark.parametrize(
    ("candidate", "current", "expected"),
    [
        ("1.2.4", "1.2.3", True),
        ("1.10.0", "1.9.0", True),
        ("2.0.0", "1.99.99", True),
        ("1.2.3", "1.2.4", False),
        ("1.2.3", "1.2.3", False),
        ("v1.3.0", "1.2.0", True),
        ("1.3.0", "v1.2.0", True),
        ("1.0.0", "1.0.0-rc.1", True),
        ("1.0.0-rc.2", "1.0.0-rc.1", True),
        ("1.0.0-rc.1", "1.0.0", False),
        ("2024.10.1", "2024.9.30", True),
        ("1.0.post1", "1.0", True),
        (None, "1.0.0", False),
        ("1.0.0", None, False),
        ("", "1.0.0", False),
        ("latest", "1.0.0", False),
        ("2.0.0", "not-a-version", False),
        ("sha-abc", "sha-def", False),
    ],
)
def test_newer(candidate: str | None, current: str | None, expected: bool) -> None:
    assert s.newer(candidate, current) is expected


# ---------------------------------------------------------------------------------------------
# server_status
# ---------------------------------------------------------------------------------------------


def spec(**fields: Any) -> MCPServerSpec:
    return MCPServerSpec.model_validate({"package": "p", **fields})


def dep(
    *,
    version: str = "1.2.0",
    generation: int = 2,
    observed: int | None = 2,
    replicas: int = 1,
    updated: int = 1,
    ready: int = 1,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready}
    if observed is not None:
        status["observedGeneration"] = observed
    if conditions is not None:
        status["conditions"] = conditions
    return {
        "metadata": {"name": "time", "generation": generation},
        "spec": {"template": {"metadata": {"annotations": {VERSION_ANNOTATION: version}}}},
        "status": status,
    }


def ready_condition(result: dict[str, Any]) -> dict[str, Any]:
    [ready] = [c for c in result["conditions"] if c["type"] == "Ready"]
    return ready  # type: ignore[no-any-return]


def test_pending_without_a_deployment() -> None:
    out = s.server_status(spec(), 5, None, None, [])
    assert out["phase"] == "Pending"
    assert out["message"] == "the Deployment does not exist yet"
    assert out["replicas"] == 1
    assert out["readyReplicas"] == 0
    assert out["ready"] == "0/1"
    assert out["version"] is None
    assert out["observedGeneration"] == 5
    ready = ready_condition(out)
    assert ready["status"] == "False"
    assert ready["reason"] == "DeploymentMissing"
    assert ready["observedGeneration"] == 5


def test_running_takes_the_version_from_the_template_annotation() -> None:
    out = s.server_status(spec(), 3, dep(version="1.2.0"), "1.1.0", [])
    assert out["phase"] == "Running"
    assert out["version"] == "1.2.0"
    assert out["message"] == "1/1 replicas ready, version 1.2.0"
    assert out["ready"] == "1/1"
    ready = ready_condition(out)
    assert ready["status"] == "True"
    assert ready["reason"] == "Running"


def test_running_with_several_replicas() -> None:
    out = s.server_status(spec(replicas=3), 1, dep(replicas=3, updated=3, ready=3), None, [])
    assert out["phase"] == "Running"
    assert out["ready"] == "3/3"


@pytest.mark.parametrize(
    "deployment",
    [
        dep(observed=1, generation=2),  # the controller has not seen the new template yet
        dep(observed=None),
        dep(updated=0, ready=1),  # the new ReplicaSet has no pods yet
        dep(updated=1, ready=0),  # the new pod is not ready
        dep(replicas=0, updated=0, ready=0),
        {"metadata": {"name": "time", "generation": 1}, "spec": {}, "status": {}},
        {"metadata": {"name": "time"}, "spec": {}},
    ],
    ids=[
        "not-observed",
        "no-observed-generation",
        "none-updated",
        "none-ready",
        "no-pods",
        "empty",
        "no-status",
    ],
)
def test_progressing(deployment: dict[str, Any]) -> None:
    out = s.server_status(spec(), 2, deployment, "1.1.0", [])
    assert out["phase"] == "Progressing"
    assert out["version"] == "1.1.0"  # the ready pods still run the previous version
    ready = ready_condition(out)
    assert ready["status"] == "False"
    assert ready["reason"] == "RollingOut"
    assert out["message"].startswith("rolling out version ")


def test_progressing_message_names_the_target_version() -> None:
    out = s.server_status(spec(replicas=2), 2, dep(version="2.0.0", replicas=2, updated=1, ready=0), None, [])
    assert out["message"] == "rolling out version 2.0.0: 1/2 updated, 0 ready"


def test_degraded_when_some_updated_replicas_are_not_ready() -> None:
    out = s.server_status(
        spec(replicas=3), 2, dep(version="1.2.0", replicas=3, updated=3, ready=2), "1.1.0", []
    )
    assert out["phase"] == "Degraded"
    assert out["version"] == "1.2.0"
    assert out["message"] == "2/3 replicas ready; see the pods' events and logs"
    ready = ready_condition(out)
    assert ready["status"] == "False"
    assert ready["reason"] == "ReplicasNotReady"


def test_surge_rollout_is_progressing_and_keeps_the_old_version() -> None:
    # replicas: 1 desired; the Deployment runs the old pod (ready) and the new pod (starting).
    out = s.server_status(spec(), 2, dep(version="1.2.0", replicas=2, updated=1, ready=1), "1.1.0", [])
    assert out["phase"] == "Progressing"
    assert out["version"] == "1.1.0"
    assert ready_condition(out)["reason"] == "RollingOut"
    assert out["message"] == "rolling out version 1.2.0: 1/1 updated, 1 ready"


@pytest.mark.parametrize(
    ("desired", "replicas", "updated", "ready"),
    [
        (3, 4, 3, 3),  # all new pods ready, an old one still terminating
        (3, 4, 3, 2),  # surge: old pods still there, so not degraded
        (3, 4, 2, 3),
        (3, 3, 3, 0),  # only new pods, none ready yet
        (3, 3, 2, 2),  # not all updated
        (2, 2, 2, 0),
    ],
)
def test_not_degraded_while_old_pods_exist_or_none_is_ready(
    desired: int, replicas: int, updated: int, ready: int
) -> None:
    deployment = dep(version="1.2.0", replicas=replicas, updated=updated, ready=ready)
    out = s.server_status(spec(replicas=desired), 2, deployment, "1.1.0", [])
    assert out["phase"] == "Progressing"
    assert out["version"] == "1.1.0"


@pytest.mark.parametrize(("desired", "ready"), [(3, 1), (3, 2), (2, 1)])
def test_degraded_needs_only_new_pods_and_some_ready(desired: int, ready: int) -> None:
    deployment = dep(version="1.2.0", replicas=desired, updated=desired, ready=ready)
    out = s.server_status(spec(replicas=desired), 2, deployment, "1.1.0", [])
    assert out["phase"] == "Degraded"
    assert out["version"] == "1.2.0"
    # the same Deployment before the controller saw the template is still rolling out
    stale = dep(version="1.2.0", replicas=desired, updated=desired, ready=ready, observed=1)
    assert s.server_status(spec(replicas=desired), 2, stale, "1.1.0", [])["phase"] == "Progressing"


def test_disabled_and_scaled_to_zero() -> None:
    out = s.server_status(
        spec(enabled=False, replicas=3), 4, dep(replicas=0, updated=0, ready=0), "1.2.0", []
    )
    assert out["phase"] == "Disabled"
    assert out["replicas"] == 0
    assert out["ready"] == "0/0"
    assert out["version"] == "1.2.0"
    assert "set spec.enabled to true" in out["message"]
    ready = ready_condition(out)
    assert ready["status"] == "True"
    assert ready["reason"] == "Disabled"


@pytest.mark.parametrize(
    "deployment",
    [dep(replicas=1, updated=1, ready=1), dep(replicas=0, updated=0, ready=0, observed=1, generation=2)],
    ids=["pods-left", "not-observed"],
)
def test_disabled_but_still_scaling_down(deployment: dict[str, Any]) -> None:
    out = s.server_status(spec(enabled=False), 4, deployment, "1.2.0", [])
    assert out["phase"] == "Disabled"
    ready = ready_condition(out)
    assert ready["status"] == "False"
    assert ready["reason"] == "ScalingDown"


def test_failed_on_progress_deadline_exceeded() -> None:
    progressing = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "time-abc" has timed out progressing.',
    }
    deployment = dep(version="1.3.0", replicas=2, updated=1, ready=1, conditions=[progressing])
    out = s.server_status(spec(), 6, deployment, "1.2.0", [])
    assert out["phase"] == "Failed"
    assert out["version"] == "1.2.0"
    assert "the rollout of version 1.3.0 did not finish in time" in out["message"]
    assert 'ReplicaSet "time-abc" has timed out progressing.' in out["message"]
    assert "kubectl describe deployment time" in out["message"]
    ready = ready_condition(out)
    assert ready["status"] == "False"
    assert ready["reason"] == "ProgressDeadlineExceeded"


def test_a_healthy_progressing_condition_does_not_fail() -> None:
    progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
    out = s.server_status(spec(), 1, dep(conditions=[progressing, {"type": "Available"}]), None, [])
    assert out["phase"] == "Running"


def test_null_conditions_in_the_deployment_status() -> None:
    deployment = dep()
    deployment["status"]["conditions"] = None
    assert s.server_status(spec(), 1, deployment, None, [])["phase"] == "Running"


def test_ready_condition_transition_time_follows_set_condition() -> None:
    earlier = [cond("Ready", status="True", at=T0), cond("Custom", at=T0)]
    out = s.server_status(spec(), 2, dep(), "1.2.0", earlier)
    assert ready_condition(out)["lastTransitionTime"] == T0
    assert [c["type"] for c in out["conditions"]] == ["Ready", "Custom"]
    flipped = s.server_status(spec(), 2, None, "1.2.0", earlier)
    assert ready_condition(flipped)["lastTransitionTime"] != T0


def test_other_deployment_conditions_are_not_mistaken_for_progressing() -> None:
    deadline = {"type": "Available", "status": "False", "reason": "ProgressDeadlineExceeded"}
    out = s.server_status(spec(), 1, dep(conditions=[deadline]), None, [])
    assert out["phase"] == "Running"
