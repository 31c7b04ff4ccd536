"""render/self_heal.py and the EntrypointNotFound reading of pod status."""

from __future__ import annotations

from typing import Any

from mcp_operator.models import Reinstall
from mcp_operator.reasons import Reason
from mcp_operator.render import self_heal
from mcp_operator.render.pod_problems import PodProblem, pod_problem

NOW = "2026-11-30T12:00:00Z"
BROKEN = PodProblem(Reason.INSTALL_FAILED, "pod a: the install init container exited with code 4")
MISSING = PodProblem(
    Reason.ENTRYPOINT_NOT_FOUND, "pod b: the package's command is not where the install put it"
)
CRASH = PodProblem(Reason.CRASH_LOOP_BACK_OFF, "pod c: keeps exiting")


def decide(current: Reinstall | None = None, **kw: Any) -> Reinstall | None:
    args: dict[str, Any] = {
        "version": "1.0.0",
        "problem": None,
        "reinstall_problem": None,
        "rolling_out": False,
        "suspend": False,
        "now": NOW,
    }
    return self_heal.decide(current, **{**args, **kw})


def test_a_missing_or_broken_package_gets_one_clean_reinstall() -> None:
    found = decide(problem=BROKEN)
    assert found is not None
    assert (found.version, found.outcome, found.reason) == ("1.0.0", "pending", "InstallFailed")
    assert found.token == f"1.0.0.{NOW}"  # no pod names given: the time
    # Decided again (a retry after an API error, a restart) from the same failing pods, later: the
    # same reinstall, not a second one.
    first = decide(problem=BROKEN, failing=["srv-abc-1", "srv-abc-2"])
    again = decide(problem=BROKEN, failing=["srv-abc-2", "srv-abc-1"], now="2026-12-01T09:00:00Z")
    assert first is not None
    assert again is not None
    assert first.token == again.token
    other = decide(problem=BROKEN, failing=["srv-def-1"])
    assert other is not None
    assert other.token != first.token
    assert decide(problem=MISSING) is not None
    # A crash loop is the server's own doing, not a missing package: no reinstall.
    assert decide(problem=CRASH) is None
    # While the package is upgraded, its rollback handles failures.
    assert decide(problem=BROKEN, rolling_out=True) is None


def test_the_reinstall_fails_only_on_its_own_pods() -> None:
    pending = decide(problem=BROKEN)
    assert pending is not None
    # The old pods still fail: wait for the reinstall's.
    assert decide(pending, problem=BROKEN) == pending
    failed = decide(pending, problem=BROKEN, reinstall_problem=MISSING, suspend=True)
    assert failed is not None
    assert (failed.outcome, failed.reason, failed.suspended) == ("failed", "EntrypointNotFound", True)
    # Failed stays failed (no loop of reinstalls) until a user asks again.
    assert decide(failed, problem=BROKEN, reinstall_problem=BROKEN) == failed


def test_a_new_version_starts_afresh() -> None:
    failed = Reinstall(version="1.0.0", token="t", at=NOW, outcome="failed", reason="InstallFailed")
    found = decide(failed, version="1.1.0", problem=BROKEN)
    assert found is not None
    assert (found.version, found.outcome) == ("1.1.0", "pending")
    assert decide(failed, version="1.1.0") == failed  # no problem on 1.1.0: nothing to do


def status(phase: str = "Failed") -> dict[str, Any]:
    ready = {
        "type": "Ready",
        "status": "False",
        "reason": "InstallFailed",
        "message": "x",
        "lastTransitionTime": "t",
    }
    return {"phase": phase, "message": "x", "conditions": [ready], "observedGeneration": 1}


def test_status_says_what_happened_and_how_to_retry() -> None:
    pending = Reinstall(version="1.0.0", token="t", at=NOW, reason="InstallFailed")
    shown = status()
    self_heal.overlay(shown, pending, "srv", "1.0.0")
    assert shown["phase"] == "Progressing"
    assert shown["conditions"][0]["reason"] == "Reinstalling"

    failed = pending.model_copy(update={"outcome": "failed", "message": "exit code 4", "suspended": True})
    shown = status()
    self_heal.overlay(shown, failed, "srv", "1.0.0")
    assert shown["phase"] == "Failed"
    assert shown["conditions"][0]["reason"] == "InstallFailed"
    assert "suspended" in shown["message"]
    assert "kubectl annotate mcpserver srv mcp-operator.dev/retry=now" in shown["message"]

    untouched = status("Running")
    self_heal.overlay(untouched, failed, "srv", "1.1.0")  # another version: not this reinstall's
    assert untouched == status("Running")


def test_the_pods_of_the_reinstall_are_told_apart() -> None:
    pods = [
        {"metadata": {"name": "old"}},
        {"metadata": {"name": "new", "annotations": {self_heal.REINSTALL_ANNOTATION: "t"}}},
    ]
    assert [p["metadata"]["name"] for p in self_heal.pods_of_token(pods, "t")] == ["new"]


def test_a_missing_command_reads_as_entrypoint_not_found() -> None:
    crashed = {
        "name": "server",
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 4, "message": "command not found or not executable: 'x'"}},
        "restartCount": 2,
    }
    pod = {"metadata": {"name": "p"}, "status": {"containerStatuses": [crashed]}}
    found = pod_problem([pod])
    assert found is not None
    assert found.reason == Reason.ENTRYPOINT_NOT_FOUND
    assert "command not found" in found.message
    crashed["lastState"] = {"terminated": {"exitCode": 3}}
    found = pod_problem([pod])
    assert found is not None
    assert found.reason == Reason.CRASH_LOOP_BACK_OFF


def test_only_the_pinned_versions_pods_count() -> None:
    """After a rollback the failed version's pods linger: their failure must not trigger a
    reinstall of the version that works."""
    from mcp_operator.render.labels import VERSION_ANNOTATION

    pods = [
        {"metadata": {"name": "new", "annotations": {VERSION_ANNOTATION: "1.1.0"}}},
        {"metadata": {"name": "old", "annotations": {VERSION_ANNOTATION: "1.0.0"}}},
    ]
    assert [p["metadata"]["name"] for p in self_heal.pods_of_version(pods, "1.0.0")] == ["old"]
