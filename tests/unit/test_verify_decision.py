"""When the operator shakes hands with a server and what its status then says (render/verify.py):
after each rollout, again every interval, after failures with backoff, never on every reconcile."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mcp_operator.handlers import state
from mcp_operator.models import MCPServerStatus
from mcp_operator.reasons import Reason
from mcp_operator.render.mcp_answers import Failure, Introduction, Verification
from mcp_operator.render.verify import (
    Attempt,
    Facts,
    Pacing,
    Step,
    rolled_out,
    stamp,
    step,
    template_digest,
    template_version,
)

NOW = 1_800_000_000.0
INTERVAL = 600.0
FACTS = Facts(template="t1", version="1.0.0", rolled_out=True, replicas=1, address="10.96.0.7")
RUNNING = {"phase": "Running", "replicas": 1, "version": "1.0.0", "conditions": []}
FOUND = Verification(
    Introduction("everything", "2.0.0", "2025-06-18", ("logging", "tools")), ("echo", "add"), 2
)


def decide(
    facts: Facts = FACTS,
    status: dict[str, Any] | None = None,
    attempt: Attempt | None = None,
    pacing: Pacing | None = None,
    running: bool = False,
    now: float = NOW,
) -> Step:
    return step(
        facts,
        RUNNING if status is None else status,
        attempt,
        pacing or Pacing(),
        running,
        now,
        generation=3,
        interval=INTERVAL,
        retry_base=1.0,
        retry_cap=60.0,
    )


def verified(status: dict[str, Any]) -> dict[str, Any]:
    [condition] = [c for c in status["conditions"] if c["type"] == "Verified"]
    return dict(condition)


def after(status: dict[str, Any], done: Step) -> dict[str, Any]:
    return {**status, **done.status}


# -------------------------------------------------------------------------- the first handshake


def test_a_rolled_out_server_is_verified_once_and_the_result_is_recorded() -> None:
    first = decide()
    assert first.start
    assert verified(first.status)["status"] == "Unknown"
    assert verified(first.status)["reason"] == Reason.VERIFY_PENDING
    assert verified(first.status)["message"] == "handshake with version 1.0.0 under way"

    status = after(RUNNING, first)
    again = decide(status=status, running=True)  # a reconcile while it runs starts no second one
    assert (again.start, again.delay) == (False, None)
    assert verified(after(status, again)) == verified(status)

    done = decide(status=status, attempt=Attempt("t1", "1.0.0", NOW + 1, verification=FOUND), now=NOW + 1)
    assert not done.start
    assert done.delay == INTERVAL
    assert done.status["serverInfo"] == {
        "name": "everything",
        "version": "2.0.0",
        "protocolVersion": "2025-06-18",
        "capabilities": ["logging", "tools"],
    }
    assert done.status["tools"] == ["echo", "add"]
    assert done.status["toolCount"] == 2
    assert done.status["verifiedVersion"] == "1.0.0"
    assert done.status["verifiedAt"] == stamp(NOW + 1)
    assert done.status["verifiedTemplate"] == "t1"
    condition = verified(done.status)
    assert (condition["status"], condition["reason"]) == ("True", "Verified")
    assert (
        condition["message"]
        == "everything 2.0.0 (MCP 2025-06-18, 2 tools) answered for package version 1.0.0"
    )
    assert condition["observedGeneration"] == 3
    MCPServerStatus.model_validate(after(status, done))  # the status model reads what it writes


def test_a_verified_server_is_left_alone_until_the_interval_passes() -> None:
    status = after(RUNNING, decide(status=RUNNING, attempt=Attempt("t1", "1.0.0", NOW, verification=FOUND)))
    for later in (1.0, 100.0, INTERVAL - 1):
        again = decide(status=status, now=NOW + later)
        assert not again.start
        assert again.status == {}
        assert again.delay == pytest.approx(INTERVAL - later)
    periodic = decide(status=status, now=NOW + INTERVAL)
    assert periodic.start
    assert periodic.status == {}  # still True while it is asked again: no flapping


def test_the_message_counts_the_tools() -> None:
    cut = replace(FOUND, tool_count=9000, complete=False)
    done = decide(attempt=Attempt("t1", "1.0.0", NOW, verification=cut))
    assert "9000+ tools" in verified(done.status)["message"]
    one = replace(FOUND, tool_count=1, tools=("echo",))
    assert (
        "(MCP 2025-06-18, 1 tool)"
        in verified(decide(attempt=Attempt("t1", "1.0.0", NOW, verification=one)).status)["message"]
    )


def test_a_kept_verdict_follows_the_servers_generation() -> None:
    good = after(RUNNING, decide(attempt=Attempt("t1", "1.0.0", NOW, verification=FOUND)))
    respec = step(
        replace(FACTS, rolled_out=False),  # say spec.replicas changed: a new generation, the same template
        good,
        None,
        Pacing(),
        False,
        NOW + 1,
        generation=4,
        interval=INTERVAL,
        retry_base=1.0,
        retry_cap=60.0,
    )
    condition = verified(respec.status)
    assert (condition["status"], condition["observedGeneration"]) == ("True", 4)
    assert condition["lastTransitionTime"] == verified(good)["lastTransitionTime"]


# ------------------------------------------------------------------------------------ failures


def test_failures_are_reported_and_retried_with_backoff() -> None:
    refused = Failure(Reason.HANDSHAKE_REFUSED, "initialize: HTTP 401: token required")
    status, pacing, delays = RUNNING, Pacing(), []
    now = NOW
    for attempt in range(8):
        done = decide(
            status=status, attempt=Attempt("t1", "1.0.0", now, failure=refused), pacing=pacing, now=now
        )
        status, pacing = after(status, done), done.pacing
        delays.append(done.delay)
        condition = verified(status)
        if attempt == 0:
            # The first handshake after a rollout gets one quick retry before a failure is reported
            # (a Service's new endpoints may not be programmed yet): pending, no Event.
            assert (condition["status"], condition["reason"]) == ("Unknown", "VerifyPending")
            assert condition["message"] == (
                "the first handshake with version 1.0.0 failed (initialize: HTTP 401: token required); "
                "trying again in 1 s before reporting it"
            )
            assert not done.warn
        else:
            assert (condition["status"], condition["reason"]) == ("False", "HandshakeRefused")
            assert condition["message"] == (
                "initialize: HTTP 401: token required (package version 1.0.0); the operator retries "
                "with backoff"
            )
            assert done.warn
        assert "serverInfo" not in status
        assert done.delay is not None
        waiting = decide(status=status, pacing=pacing, now=now + done.delay / 2)
        assert not waiting.start
        assert waiting.status == {}  # the verdict stays while it waits
        assert waiting.delay == pytest.approx(done.delay / 2)
        retry = decide(status=status, pacing=pacing, now=now + done.delay)
        assert retry.start
        assert retry.status == {}
        now += done.delay
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_a_failure_after_success_keeps_what_the_server_said_last() -> None:
    good = after(RUNNING, decide(attempt=Attempt("t1", "1.0.0", NOW, verification=FOUND)))
    timeout = Failure(Reason.HANDSHAKE_TIMEOUT, "no answer")
    failed = decide(status=good, attempt=Attempt("t1", "1.0.0", NOW + INTERVAL, failure=timeout))
    bad = after(good, failed)
    assert verified(bad)["status"] == "False"  # once it answered, the first failure is reported
    assert failed.warn
    assert bad["serverInfo"]["version"] == "2.0.0"
    assert bad["verifiedAt"] == stamp(NOW)
    # and success again puts it back
    back = decide(status=bad, attempt=Attempt("t1", "1.0.0", NOW + INTERVAL + 1, verification=FOUND))
    assert verified(after(bad, back))["status"] == "True"
    assert back.pacing == Pacing()


# ------------------------------------------------------------------------------------ rollouts


def test_a_new_template_is_pending_until_rolled_out_then_verified_again() -> None:
    good = after(RUNNING, decide(attempt=Attempt("t1", "1.0.0", NOW, verification=FOUND)))
    rolling = Facts(template="t2", version="1.1.0", rolled_out=False, replicas=1, address="10.96.0.7")
    waiting = decide(facts=rolling, status=good, now=NOW + 5)
    assert not waiting.start
    assert waiting.delay is None  # the rollout's events bring the next look
    condition = verified(waiting.status)
    assert (condition["status"], condition["reason"]) == ("Unknown", "VerifyPending")
    assert (
        condition["message"] == "waiting for every replica of version 1.1.0 to be ready; then the handshake"
    )
    status = after(good, waiting)
    assert status["serverInfo"]["version"] == "2.0.0"  # what the old pods said, until the new ones answer
    assert status["verifiedVersion"] == "1.0.0"

    done = Facts(template="t2", version="1.1.0", rolled_out=True, replicas=1, address="10.96.0.7")
    start = decide(facts=done, status=status, now=NOW + 6)  # well within the interval: a rollout is new
    assert start.start
    assert verified(start.status)["message"] == "handshake with version 1.1.0 under way"
    newer = replace(FOUND, introduction=replace(FOUND.introduction, version="2.1.0"))
    finished = decide(
        facts=done, status=after(status, start), attempt=Attempt("t2", "1.1.0", NOW + 7, verification=newer)
    )
    final = after(status, finished)
    assert (final["verifiedVersion"], final["verifiedTemplate"], final["serverInfo"]["version"]) == (
        "1.1.0",
        "t2",
        "2.1.0",
    )
    assert verified(final)["status"] == "True"
    assert "package version 1.1.0" in verified(final)["message"]


def test_a_scale_or_a_blip_keeps_the_verdict_for_the_same_template() -> None:
    good = after(RUNNING, decide(attempt=Attempt("t1", "1.0.0", NOW, verification=FOUND)))
    scaling = replace(FACTS, rolled_out=False)
    assert decide(facts=scaling, status=good) == Step(False, None, {}, Pacing())
    failed = Failure(Reason.SERVER_UNREACHABLE, "could not connect")
    bad_step = decide(attempt=Attempt("t1", "1.0.0", NOW, failure=failed))
    bad = after(RUNNING, bad_step)
    assert decide(facts=scaling, status=bad, pacing=bad_step.pacing).status == {}


def test_an_answer_for_a_template_that_is_gone_is_dropped() -> None:
    rolling = Facts(template="t2", version="1.0.0", rolled_out=False, replicas=1, address="10.96.0.7")
    stale = decide(facts=rolling, attempt=Attempt("t1", "1.0.0", NOW, verification=FOUND))
    assert "serverInfo" not in stale.status
    assert verified(stale.status)["reason"] == "VerifyPending"


def test_nothing_to_ask_is_said() -> None:
    idle = decide(facts=replace(FACTS, replicas=0))
    assert not idle.start
    assert verified(idle.status)["message"] == "no replicas run, so nothing answers: verified when pods run"
    nowhere = decide(facts=replace(FACTS, address=None))
    assert not nowhere.start
    assert verified(nowhere.status)["status"] == "Unknown"
    assert "no cluster IP" in verified(nowhere.status)["message"]


def test_a_re_enabled_server_is_verified_again_though_its_template_is_the_same() -> None:
    good = after(RUNNING, decide(attempt=Attempt("t1", "1.0.0", NOW, verification=FOUND)))
    disabled = after(good, decide(facts=replace(FACTS, replicas=0), status=good, now=NOW + 1))
    assert verified(disabled)["status"] == "Unknown"
    assert decide(status=disabled, now=NOW + 2).start


# ------------------------------------------------------------------------------ rolled out?


def dep(generation: int) -> dict[str, Any]:
    return {"metadata": {"generation": generation}}


def test_rolled_out_means_running_on_the_last_applied_generation_with_no_pod_terminating() -> None:
    pod = {"metadata": {"name": "p"}}
    assert rolled_out(RUNNING, dep(4), 4, [pod])
    assert rolled_out(RUNNING, dep(4), None, [])  # nothing applied by this process yet: trust the status
    assert not rolled_out({**RUNNING, "phase": "Progressing"}, dep(4), 4, [pod])
    assert not rolled_out({**RUNNING, "replicas": 0}, dep(4), 4, [])
    assert not rolled_out(RUNNING, dep(3), 4, [pod])  # a cached Deployment older than our apply
    leaving = {"metadata": {"name": "old", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert not rolled_out(RUNNING, dep(4), 4, [pod, leaving])  # it may still answer for the Service


def test_the_template_version_is_its_pin() -> None:
    annotations = {"mcp-operator.dev/package-version": "1.2.3"}
    assert template_version({"spec": {"template": {"metadata": {"annotations": annotations}}}}) == "1.2.3"
    assert template_version({"spec": {"template": {"metadata": {}}}}) is None


def test_the_template_digest_follows_the_pod_template_only() -> None:
    base = {"spec": {"replicas": 1, "template": {"metadata": {"annotations": {"v": "1"}}, "spec": {"x": 1}}}}
    scaled = {"spec": {**base["spec"], "replicas": 5}}
    changed = {
        "spec": {"replicas": 1, "template": {"metadata": {"annotations": {"v": "2"}}, "spec": {"x": 1}}}
    }
    assert template_digest(base) == template_digest(scaled)
    assert template_digest(base) != template_digest(changed)
    assert len(template_digest(base)) == 16


def test_the_verify_tunings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (state.Tuning.verify_interval, state.Tuning.verify_timeout) == (600.0, 10.0)
    monkeypatch.setenv("MCP_OPERATOR_VERIFY_INTERVAL", "60")
    monkeypatch.setenv("MCP_OPERATOR_VERIFY_TIMEOUT", "2.5")
    tuning = state.tuning_from_env()
    assert (tuning.verify_interval, tuning.verify_timeout) == (60.0, 2.5)
    monkeypatch.setenv("MCP_OPERATOR_VERIFY_TIMEOUT", "0")
    with pytest.raises(SystemExit, match="MCP_OPERATOR_VERIFY_TIMEOUT='0' must be greater than 0"):
        state.tuning_from_env()
