"""versions.py and upgrade_plan.py: ordering, constraints, policy bounds and rollout verdicts."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_operator import upgrade_plan, versions
from mcp_operator.models import MCPPackageSpec, MCPPackageStatus, Rollout
from mcp_operator.upgrade_plan import Progress, ServerView

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def verdict(ecosystem: str, published: list[str], **kw: object) -> versions.Verdict:
    kw.setdefault("latest", None)
    kw.setdefault("constraint", "latest")
    kw.setdefault("pin", "1.0.0")
    kw.setdefault("policy", "none")
    return versions.verdict(ecosystem, published, **kw)  # type: ignore[arg-type]


def test_a_user_pinned_to_caret_one_sees_both_the_major_and_what_an_upgrade_takes() -> None:
    found = verdict("npm", ["1.0.0", "1.4.2", "2.0.0"], latest="2.0.0", constraint="^1", pin="1.0.0")
    assert found.latest == "2.0.0"
    assert found.update_available is True
    assert found.allowed == "1.4.2"
    assert found.policy_target is None  # policy none: nothing moves by itself


@pytest.mark.parametrize(
    ("policy", "target"), [("none", None), ("patch", "1.0.9"), ("minor", "1.3.0"), ("major", "2.1.0")]
)
def test_policy_bounds(policy: str, target: str | None) -> None:
    published = ["1.0.0", "1.0.9", "1.3.0", "2.1.0", "3.0.0-rc.1"]
    found = verdict("npm", published, latest="2.1.0", constraint="latest", pin="1.0.0", policy=policy)
    assert found.policy_target == target


def test_failed_versions_are_skipped_but_older_good_ones_are_taken() -> None:
    found = verdict(
        "npm", ["1.0.0", "1.0.1", "1.0.2"], latest="1.0.2", pin="1.0.0", policy="patch", failed=["1.0.2"]
    )
    assert found.allowed == "1.0.1"
    assert found.policy_target == "1.0.1"
    assert found.update_available is True  # 1.0.2 exists, even if it failed here


def test_npm_prereleases_only_when_asked_for() -> None:
    published = ["1.0.0", "1.1.0-beta.1"]
    assert verdict("npm", published, latest="1.0.0").allowed == "1.0.0"
    assert verdict("npm", published, latest="1.0.0", constraint="^1.1.0-beta.0").allowed == "1.1.0-beta.1"
    # 'latest' pointing at a prerelease (npm allows it) allows prereleases up to it.
    assert verdict("npm", published, latest="1.1.0-beta.1").allowed == "1.1.0-beta.1"


def test_npm_latest_dist_tag_bounds_latest_constraint() -> None:
    # 2.0.0 is published but 'latest' still names 1.5.0 (a release under another tag): not taken.
    found = verdict("npm", ["1.0.0", "1.5.0", "2.0.0"], latest="1.5.0")
    assert found.allowed == "1.5.0"
    assert found.latest == "1.5.0"


def test_a_dist_tag_constraint_allows_what_the_tag_points_at() -> None:
    # A user following 'next' sees what an upgrade would take, not an empty allowedVersion.
    tags = {"latest": "1.5.0", "next": "2.0.0-beta.2"}
    published = ["1.0.0", "1.5.0", "2.0.0-beta.1", "2.0.0-beta.2", "3.0.0-alpha.1"]
    found = verdict("npm", published, latest="1.5.0", constraint="next", pin="2.0.0-beta.1", tags=tags)
    assert found.allowed == "2.0.0-beta.2"
    assert found.latest == "1.5.0"
    failed = verdict("npm", published, latest="1.5.0", constraint="next", tags=tags, failed=["2.0.0-beta.2"])
    assert failed.allowed is None  # the tag's version failed: nothing else is what the user asked for
    # 'latest' keeps its own rule (releases up to the tag), and tags mean nothing outside npm.
    assert verdict("npm", published, latest="1.5.0", tags=tags).allowed == "1.5.0"
    assert verdict("pypi", ["1.0", "2.0"], constraint="next", tags=tags).allowed is None


def test_pypi_pep440_order_pre_post_dev_and_epochs() -> None:
    published = ["1.0", "1.0.post1", "1.1.dev0", "1.1rc1", "1!0.5"]
    found = verdict("pypi", published, pin="1.0", constraint="latest", policy="major")
    assert found.latest == "1!0.5"  # an epoch outranks every version without one
    assert found.allowed == "1!0.5"
    found = verdict("pypi", ["1.0", "1.0.post1", "1.1.dev0", "1.1rc1"], pin="1.0", policy="patch")
    assert found.latest == "1.0.post1"
    assert found.policy_target == "1.0.post1"
    assert verdict("pypi", ["1.0", "1.1rc1", "1.1"], pin="1.0", constraint=">=1.1rc1").allowed == "1.1"
    assert verdict("pypi", ["1.0", "1.1rc1"], pin="1.0", constraint=">=1.1rc1").allowed == "1.1rc1"
    assert verdict("pypi", ["1.0", "1.1", "1.2"], pin="1.0", constraint="==1.1").allowed == "1.1"
    assert verdict("pypi", ["1.0", "1.1", "1.2"], pin="1.0", constraint="~=1.0").allowed == "1.2"
    # PEP 440: '==' matches local versions, '===' compares the text.
    assert verdict("pypi", ["1.0", "1.0+cpu"], pin="1.0", constraint="==1.0").allowed == "1.0+cpu"
    assert verdict("pypi", ["1.0.0", "1.1"], pin="1.1", constraint="===1.0").allowed is None


def test_oci_orders_version_like_tags_and_ignores_the_rest() -> None:
    found = verdict(
        "oci", ["latest", "alpine", "v1.2", "1.10.0", "1.9.9", "sha-abc"], pin="1.9.9", constraint="1.9.9"
    )
    assert found.latest == "1.10.0"
    assert found.update_available is True
    assert found.allowed == "1.9.9"  # a tag constraint allows only itself
    assert versions.newer("oci", "v1.10", "1.9.0")
    assert not versions.newer("oci", "alpine", "1.0")


def test_versions_that_do_not_parse_are_never_newer() -> None:
    assert not versions.newer("npm", "banana", "1.0.0")
    assert not versions.newer("pypi", "1.0", "not a version")
    assert not versions.within_policy("npm", "major", "1.0.0", "banana")
    assert not versions.within_policy("npm", "sideways", "1.0.0", "2.0.0")


semver_text = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)
)


@settings(max_examples=300, deadline=None, database=None)
@given(pin=semver_text, candidate=semver_text, policy=st.sampled_from(["patch", "minor", "major"]))
def test_a_policy_never_crosses_its_bound(pin: str, candidate: str, policy: str) -> None:
    allowed = versions.within_policy("npm", policy, pin, candidate)
    a, b = (tuple(int(x) for x in v.split(".")) for v in (pin, candidate))
    if allowed:
        assert b > a
        depth = {"patch": 2, "minor": 1, "major": 0}[policy]
        assert a[:depth] == b[:depth]
    else:
        assert b <= a or (policy == "patch" and a[:2] != b[:2]) or (policy == "minor" and a[0] != b[0])


@settings(max_examples=200, deadline=None, database=None)
@given(published=st.lists(semver_text, min_size=1, max_size=12, unique=True), pin=semver_text)
def test_the_policy_target_is_the_highest_candidate_in_bound_and_allowed(
    published: list[str], pin: str
) -> None:
    found = verdict("npm", published, pin=pin, policy="minor", constraint="*")
    in_bound = [v for v in published if versions.within_policy("npm", "minor", pin, v)]
    assert found.policy_target == versions.highest("npm", in_bound)
    if found.policy_target is not None:
        assert versions.newer("npm", found.policy_target, pin)


def spec(**updates: object) -> MCPPackageSpec:
    return MCPPackageSpec.model_validate(
        {"source": {"type": "npm", "package": "x", "version": "^1"}, "updates": updates}
    )


def test_checks_are_due_by_interval_and_only_when_enabled() -> None:
    pinned = MCPPackageStatus(resolved_version="1.0.0")
    assert upgrade_plan.check_due(spec(), pinned, NOW) is None
    assert upgrade_plan.check_due(spec(check=True), pinned, NOW) == 0.0  # never checked
    check = {"type": "UpdateCheck", "status": "True", "reason": "Checked", "lastTransitionTime": "t"}
    checked = MCPPackageStatus.model_validate(
        {"resolvedVersion": "1.0.0", "lastChecked": "2026-11-30T11:00:00Z", "conditions": [check]}
    )
    resolved_only = MCPPackageStatus(resolved_version="1.0.0", last_checked="2026-11-30T11:00:00Z")
    assert upgrade_plan.check_due(spec(check=True, interval="2h"), resolved_only, NOW) == 0.0
    assert upgrade_plan.check_due(spec(check=True, interval="2h"), checked, NOW) == 3600.0
    assert upgrade_plan.check_due(spec(check=True, interval="30m"), checked, NOW) == 0.0
    assert upgrade_plan.check_due(spec(check=True), MCPPackageStatus(), NOW) is None  # nothing pinned yet


def test_requests_and_refusals() -> None:
    assert upgrade_plan.read_request(None) is None
    assert upgrade_plan.read_request("latest") == upgrade_plan.Request("latest", None)
    assert upgrade_plan.read_request(" 1.4.2 ") == upgrade_plan.Request(" 1.4.2 ", "1.4.2")
    assert upgrade_plan.refusal("npm", spec(), "1.9.0", None) is None
    message = upgrade_plan.refusal("npm", spec(), "2.0.0", None)
    assert message is not None
    assert "change spec.source.version" in message


def rollout(deadline: str = "2026-11-30T12:10:00Z", servers: tuple[str, ...] = ("a", "b")) -> Rollout:
    return Rollout.model_validate(
        {
            "from": {"version": "1.0.0"},
            "to": "1.1.0",
            "startedAt": "2026-11-30T11:59:00Z",
            "deadline": deadline,
            "servers": list(servers),
        }
    )


def view(name: str = "a", **kw: object) -> ServerView:
    base: dict[str, object] = {
        "name": name,
        "enabled": True,
        "version": "1.1.0",
        "phase": "Running",
        "reason": "Running",
        "message": "",
        "template_version": "1.1.0",
        "verified_version": "1.1.0",
    }
    return ServerView(**{**base, **kw})  # type: ignore[arg-type]


def test_a_rollout_is_done_when_every_enabled_server_runs_the_new_version() -> None:
    assert upgrade_plan.rollout_state(rollout(), [view()], NOW).progress is Progress.DONE
    assert upgrade_plan.rollout_state(rollout(), [], NOW).progress is Progress.DONE
    disabled_old = view("b", enabled=False, version="1.0.0", template_version="1.0.0")
    assert upgrade_plan.rollout_state(rollout(), [view(), disabled_old], NOW).progress is Progress.DONE
    still_old = view("b", version="1.0.0")
    state = upgrade_plan.rollout_state(rollout(), [view(), still_old], NOW)
    assert state.progress is Progress.WAITING
    assert "b" in state.message


def test_a_failure_counts_only_on_the_new_template() -> None:
    # The old version's crash loop (before the template moved) is not the new version's failure.
    old_failing = view(reason="CrashLoopBackOff", template_version="1.0.0", phase="Failed", version="1.0.0")
    assert upgrade_plan.rollout_state(rollout(), [old_failing], NOW).progress is Progress.WAITING
    failing = view(reason="InstallFailed", message="exit 3: integrity", phase="Failed", version="1.0.0")
    state = upgrade_plan.rollout_state(rollout(), [failing], NOW)
    assert state.progress is Progress.FAILED
    assert state.reason == "InstallFailed"
    assert "integrity" in state.message


def test_a_rollout_past_its_deadline_fails() -> None:
    waiting = view(version="1.0.0", phase="Progressing", reason="RollingOut")
    state = upgrade_plan.rollout_state(rollout("2026-11-30T11:59:30Z"), [waiting], NOW)
    assert state.progress is Progress.FAILED
    assert state.reason == "RolloutTimedOut"
    assert "rolloutDeadline" in state.message


def test_ready_is_not_done_until_the_handshake_answers_as_the_new_version() -> None:
    unverified = view(verified_version="1.0.0", verify_message="ServerUnreachable: connection refused")
    assert upgrade_plan.rollout_state(rollout(), [unverified], NOW).progress is Progress.WAITING
    state = upgrade_plan.rollout_state(rollout("2026-11-30T11:59:30Z"), [unverified], NOW)
    assert state.progress is Progress.FAILED
    assert "not verified by an MCP handshake: a (ServerUnreachable: connection refused)" in state.message


def test_servers_roll_one_at_a_time_in_name_order() -> None:
    old = {"version": "1.0.0", "template_version": "1.0.0", "verified_version": "1.0.0"}
    a_old, b_old = view("a", **old), view("b", **old)
    state = upgrade_plan.rollout_state(rollout(servers=()), [b_old, a_old], NOW)
    assert (state.progress, state.admit) == (Progress.WAITING, "a")
    # 'a' is admitted and not there yet: 'b' waits its turn.
    state = upgrade_plan.rollout_state(rollout(servers=("a",)), [view("a", version="1.0.0"), b_old], NOW)
    assert (state.progress, state.admit) == (Progress.WAITING, None)
    state = upgrade_plan.rollout_state(rollout(servers=("a",)), [view("a"), b_old], NOW)
    assert (state.progress, state.admit) == (Progress.WAITING, "b")
    # b's old pods failing before its turn are not the new version's failure.
    b_broken_old = view("b", reason="CrashLoopBackOff", template_version="1.0.0", version="1.0.0")
    assert upgrade_plan.rollout_state(rollout(servers=("a",)), [view("a"), b_broken_old], NOW).admit == "b"
    assert upgrade_plan.rollout_state(rollout(), [view("a"), view("b")], NOW).progress is Progress.DONE


def test_servers_not_yet_admitted_keep_the_previous_pin() -> None:
    from mcp_operator.render.server_plan import waiting_view

    status = MCPPackageStatus.model_validate(
        {
            "resolvedVersion": "1.1.0",
            "integrity": "sha512-new",
            "detectedCommand": ["new"],
            "rollout": {
                "from": {"version": "1.0.0", "integrity": "sha512-old", "detectedCommand": ["old"]},
                "to": "1.1.0",
                "startedAt": "t",
                "deadline": "t",
                "servers": ["a"],
            },
        }
    )
    assert waiting_view(status, "a") is status
    waiting = waiting_view(status, "b")
    assert (waiting.resolved_version, waiting.integrity, waiting.detected_command) == (
        "1.0.0",
        "sha512-old",
        ["old"],
    )
