"""MCPPackage status: resolved, kept and failed, the source key and the runtime fingerprint."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_operator.models import HISTORY_LIMIT, MCPPackageSpec, MCPPackageStatus, Source
from mcp_operator.render import package_status as ps

T0 = "2026-01-01T00:00:00Z"


def pkg(entrypoint: dict[str, Any] | None = None, **source: Any) -> MCPPackageSpec:
    data: dict[str, Any] = {
        "source": {"type": "npm", "package": "@acme/mcp-time", "version": "^1.0.0", **source}
    }
    if entrypoint is not None:
        data["entrypoint"] = entrypoint
    return MCPPackageSpec.model_validate(data)


def old_status(**fields: Any) -> MCPPackageStatus:
    return MCPPackageStatus.model_validate(fields)


def resolve(
    spec: MCPPackageSpec | None = None,
    old: MCPPackageStatus | None = None,
    *,
    version: str = "1.2.0",
    latest: str | None = "1.2.0",
    command: tuple[str, ...] = ("mcp-time",),
    generation: int | None = 3,
) -> dict[str, Any]:
    return ps.resolved(
        spec or pkg(),
        old or MCPPackageStatus(),
        generation,
        version=version,
        latest=latest,
        integrity="sha512-abc",
        artifact_url="https://registry.npmjs.org/@acme/mcp-time/-/mcp-time-1.2.0.tgz",
        command=command,
    )


def ready(status: dict[str, Any]) -> dict[str, Any]:
    [condition] = [c for c in status["conditions"] if c["type"] == "Ready"]
    return condition  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# resolved
# ---------------------------------------------------------------------------------------------


def test_resolved() -> None:
    out = resolve()
    assert out["phase"] == "Ready"
    assert out["message"] == "@acme/mcp-time ^1.0.0 resolved to 1.2.0"
    assert out["resolvedVersion"] == "1.2.0"
    assert out["latestVersion"] == "1.2.0"
    assert out["updateAvailable"] is False
    assert out["integrity"] == "sha512-abc"
    assert out["artifactUrl"].endswith(".tgz")
    assert out["entrypoint"] == {"command": ["mcp-time"], "args": []}
    assert out["detectedCommand"] == ["mcp-time"]
    assert out["resolvedSpec"] == ps.source_key(pkg().source)
    assert out["observedGeneration"] == 3
    assert out["lastChecked"].endswith("Z")
    condition = ready(out)
    assert condition["status"] == "True"
    assert condition["reason"] == "Resolved"
    assert condition["observedGeneration"] == 3
    [entry] = out["history"]
    assert entry["version"] == "1.2.0"
    assert entry["outcome"] == "resolved"
    # the result is a valid status
    assert MCPPackageStatus.model_validate(out).resolved_version == "1.2.0"


def test_resolved_records_history_only_when_the_version_changes() -> None:
    first = resolve(version="1.2.0")
    same = resolve(old=MCPPackageStatus.model_validate(first), version="1.2.0")
    assert same["history"] == first["history"]
    moved = resolve(old=MCPPackageStatus.model_validate(same), version="1.3.0")
    assert [h["version"] for h in moved["history"]] == ["1.3.0", "1.2.0"]


def test_resolved_history_stays_bounded() -> None:
    history = [{"version": f"1.0.{i}", "at": T0, "outcome": "resolved"} for i in range(HISTORY_LIMIT)]
    out = resolve(old=old_status(history=history), version="2.0.0")
    assert len(out["history"]) == HISTORY_LIMIT
    assert out["history"][0]["version"] == "2.0.0"
    assert MCPPackageStatus.model_validate(out)


@pytest.mark.parametrize(
    ("version", "latest", "expected"),
    [("1.2.0", "1.3.0", True), ("1.2.0", "1.2.0", False), ("1.2.0", None, False), ("2.0.0", "1.9.0", False)],
)
def test_resolved_update_available(version: str, latest: str | None, expected: bool) -> None:
    assert resolve(version=version, latest=latest)["updateAvailable"] is expected


def test_resolved_keeps_the_ready_transition_time() -> None:
    cond = {"type": "Ready", "status": "True", "reason": "Resolved", "message": "", "lastTransitionTime": T0}
    assert ready(resolve(old=old_status(conditions=[cond])))["lastTransitionTime"] == T0
    failed = {**cond, "status": "False"}
    assert ready(resolve(old=old_status(conditions=[failed])))["lastTransitionTime"] != T0


@pytest.mark.parametrize(
    ("override", "detected", "expected"),
    [
        (None, ("mcp-time",), {"command": ["mcp-time"], "args": []}),
        (
            {"command": ["node", "cli.js"], "args": ["--x"]},
            ("mcp-time",),
            {"command": ["node", "cli.js"], "args": ["--x"]},
        ),
        ({"args": ["--stdio"]}, ("mcp-time",), {"command": ["mcp-time"], "args": ["--stdio"]}),
        ({"command": ["node"]}, (), {"command": ["node"], "args": []}),
        (None, (), {"command": [], "args": []}),
    ],
)
def test_resolved_entrypoint(
    override: dict[str, Any] | None, detected: tuple[str, ...], expected: dict[str, Any]
) -> None:
    out = resolve(pkg(entrypoint=override), command=detected)
    assert out["entrypoint"] == expected
    # the detected command is recorded apart, whatever the override
    assert out["detectedCommand"] == list(detected)
    assert MCPPackageStatus.model_validate(out).detected_command == list(detected)


@pytest.mark.parametrize(
    ("override", "detected", "expected"),
    [
        # an override with a command takes its own args, even none: never the detected ones
        ({"command": ["node", "cli.js"]}, ["mcp-time"], {"command": ["node", "cli.js"], "args": []}),
        (
            {"command": ["node"], "args": ["a"]},
            ["mcp-time", "--x"],
            {"command": ["node"], "args": ["a"]},
        ),
        # args only: the detected command with the spec's args
        ({"args": ["--stdio"]}, ["mcp-time", "--x"], {"command": ["mcp-time", "--x"], "args": ["--stdio"]}),
        ({"command": [], "args": []}, ["mcp-time"], {"command": ["mcp-time"], "args": []}),
        (None, ["mcp-time"], {"command": ["mcp-time"], "args": []}),
        ({"args": ["--stdio"]}, [], {"command": [], "args": ["--stdio"]}),
    ],
)
def test_entrypoint_of(
    override: dict[str, Any] | None, detected: list[str], expected: dict[str, Any]
) -> None:
    assert ps.entrypoint_of(pkg(entrypoint=override), detected).dump() == expected


def test_entrypoint_of_returns_a_copy_of_the_detected_command() -> None:
    detected = ["mcp-time"]
    chosen = ps.entrypoint_of(pkg(), detected)
    chosen.command.append("--oops")
    assert detected == ["mcp-time"]


# ---------------------------------------------------------------------------------------------
# kept
# ---------------------------------------------------------------------------------------------


def pinned(**fields: Any) -> MCPPackageStatus:
    return MCPPackageStatus.model_validate(resolve(**fields))


def test_kept_keeps_the_pin() -> None:
    old = pinned(version="1.2.0")
    out = ps.kept(pkg(), old, 9)
    assert out["phase"] == "Ready"
    assert out["message"] == "@acme/mcp-time pinned at 1.2.0"
    assert out["observedGeneration"] == 9
    # the pin is not touched: kept() writes none of the resolution fields
    for key in (
        "resolvedVersion",
        "integrity",
        "resolvedSpec",
        "history",
        "latestVersion",
        "lastChecked",
        "detectedCommand",
    ):
        assert key not in out
    assert out["entrypoint"] == {"command": ["mcp-time"], "args": []}
    condition = ready(out)
    assert condition["status"] == "True"
    assert condition["observedGeneration"] == 9
    assert condition["lastTransitionTime"] == old.conditions[0].last_transition_time


def test_kept_applies_a_new_entrypoint_override() -> None:
    old = pinned()
    out = ps.kept(pkg(entrypoint={"command": ["node", "x.js"], "args": ["-v"]}), old, 2)
    assert out["entrypoint"] == {"command": ["node", "x.js"], "args": ["-v"]}
    args_only = ps.kept(pkg(entrypoint={"args": ["--stdio"]}), old, 2)
    assert args_only["entrypoint"] == {"command": ["mcp-time"], "args": ["--stdio"]}


def test_kept_without_a_detected_command() -> None:
    out = ps.kept(pkg(), old_status(resolvedVersion="1.0.0"), 1)
    assert out["entrypoint"] == {"command": [], "args": []}


def test_kept_takes_the_detected_command_not_the_old_entrypoint() -> None:
    old = old_status(
        resolvedVersion="1.0.0",
        detectedCommand=["mcp-time"],
        entrypoint={"command": ["node", "old.js"], "args": ["--old"]},
    )
    assert ps.kept(pkg(), old, 1)["entrypoint"] == {"command": ["mcp-time"], "args": []}


def test_kept_restores_the_detected_command_when_the_override_is_removed() -> None:
    with_override = pinned(spec=pkg(entrypoint={"command": ["node", "old.js"]}), command=("mcp-time",))
    assert with_override.entrypoint is not None
    assert with_override.entrypoint.command == ["node", "old.js"]
    assert with_override.detected_command == ["mcp-time"]
    out = ps.kept(pkg(), with_override, 4)
    assert out["entrypoint"] == {"command": ["mcp-time"], "args": []}
    # and an args-only override after that goes with the detected command as well
    args_only = ps.kept(pkg(entrypoint={"args": ["--stdio"]}), with_override, 5)
    assert args_only["entrypoint"] == {"command": ["mcp-time"], "args": ["--stdio"]}


# ---------------------------------------------------------------------------------------------
# failed
# ---------------------------------------------------------------------------------------------


def test_failed_transient_is_pending_and_retrying() -> None:
    old = pinned(version="1.2.0")
    out = ps.failed(old, 5, reason="RegistryUnavailable", message="npm answered 503", transient=True)
    assert out["phase"] == "Pending"
    assert out["message"] == "npm answered 503 (retrying)"
    assert out["observedGeneration"] == 5
    condition = ready(out)
    assert condition["status"] == "False"
    assert condition["reason"] == "RegistryUnavailable"
    assert condition["message"] == "npm answered 503"
    # the pin made earlier stays: running servers keep their version
    assert "resolvedVersion" not in out
    assert "integrity" not in out
    assert "entrypoint" not in out


def test_failed_permanent() -> None:
    out = ps.failed(MCPPackageStatus(), 1, reason="NotFound", message="no such package", transient=False)
    assert out["phase"] == "Failed"
    assert out["message"] == "no such package"
    assert "(retrying)" not in out["message"]
    assert ready(out)["reason"] == "NotFound"


def test_failed_moves_the_transition_time_once() -> None:
    old = pinned()
    first = ps.failed(old, 1, reason="X", message="m", transient=True)
    again = ps.failed(MCPPackageStatus.model_validate(first), 1, reason="Y", message="m2", transient=False)
    assert ready(again)["lastTransitionTime"] == ready(first)["lastTransitionTime"]
    assert ready(again)["reason"] == "Y"


# ---------------------------------------------------------------------------------------------
# source_key and runtime_fingerprint
# ---------------------------------------------------------------------------------------------

BASE = {"type": "npm", "package": "left-pad", "version": "^1.0.0"}


@pytest.mark.parametrize(
    "change",
    [
        {"package": "right-pad"},
        {"version": "^2.0.0"},
        {"version": "latest"},
        {"registry": "https://npm.example.com"},
        {"type": "pypi", "version": ">=1"},
    ],
)
def test_source_key_changes_with_what_selects_the_artifact(change: dict[str, Any]) -> None:
    assert ps.source_key(Source.model_validate({**BASE, **change})) != ps.source_key(
        Source.model_validate(BASE)
    )


def test_source_key_ignores_the_rest() -> None:
    base = ps.source_key(Source.model_validate(BASE))
    assert ps.source_key(Source.model_validate({**BASE, "registryAuthSecret": "creds"})) == base
    assert ps.source_key(Source.model_validate(dict(reversed(BASE.items())))) == base


def test_source_key_no_registry_equals_empty_and_is_stable_text() -> None:
    key = ps.source_key(Source.model_validate(BASE))
    assert key == '{"package":"left-pad","registry":"","type":"npm","version":"^1.0.0"}'


def test_source_key_matches_the_resolved_spec() -> None:
    spec = pkg(registry="https://npm.example.com")
    assert resolve(spec)["resolvedSpec"] == ps.source_key(spec.source)


STATUS = {
    "resolvedVersion": "1.2.0",
    "integrity": "sha512-a",
    "entrypoint": {"command": ["x"], "args": []},
    "resolvedSpec": "k",
    "lastChecked": T0,
    "latestVersion": "1.3.0",
    "conditions": [],
}


@pytest.mark.parametrize(
    "change",
    [
        {"resolvedVersion": "1.2.1"},
        {"integrity": "sha512-b"},
        {"entrypoint": {"command": ["y"], "args": []}},
        {"resolvedSpec": "k2"},
    ],
)
def test_runtime_fingerprint_changes_with_what_the_pods_run(change: dict[str, Any]) -> None:
    spec = {"source": BASE}
    assert ps.runtime_fingerprint(spec, {**STATUS, **change}) != ps.runtime_fingerprint(spec, STATUS)


@pytest.mark.parametrize(
    "change",
    [
        {"lastChecked": "2027-01-01T00:00:00Z"},
        {"latestVersion": "9.9.9"},
        {"updateAvailable": True},
        {"conditions": [{"type": "Ready"}]},
        {"phase": "Pending", "message": "x"},
    ],
)
def test_runtime_fingerprint_ignores_the_rest_of_the_status(change: dict[str, Any]) -> None:
    spec = {"source": BASE}
    assert ps.runtime_fingerprint(spec, {**STATUS, **change}) == ps.runtime_fingerprint(spec, STATUS)


def test_runtime_fingerprint_changes_with_the_spec_and_is_order_independent() -> None:
    assert ps.runtime_fingerprint({"a": 1, "b": 2}, STATUS) == ps.runtime_fingerprint(
        {"b": 2, "a": 1}, STATUS
    )
    assert ps.runtime_fingerprint({"a": 1}, STATUS) != ps.runtime_fingerprint({"a": 2}, STATUS)
    assert ps.runtime_fingerprint({}, {}) == ps.runtime_fingerprint({}, {"lastChecked": T0})


def test_pinned_spec_is_the_spec_while_the_pin_matches_it() -> None:
    from mcp_operator.models import MCPPackageSpec, MCPPackageStatus
    from mcp_operator.render.package_status import pinned_spec, source_key

    spec = MCPPackageSpec.model_validate({"source": {"type": "npm", "package": "a", "version": "^1"}})
    status = MCPPackageStatus(resolved_version="1.2.0", resolved_spec=source_key(spec.source))
    assert pinned_spec(spec, status) is spec
    assert pinned_spec(spec, MCPPackageStatus()) is spec  # nothing pinned yet


def test_pinned_spec_keeps_the_old_source_while_a_new_one_resolves() -> None:
    from mcp_operator.models import MCPPackageSpec, MCPPackageStatus
    from mcp_operator.render.package_status import pinned_spec, source_key

    old = MCPPackageSpec.model_validate(
        {"source": {"type": "npm", "package": "a", "version": "1.0.0", "registry": "https://r.example/"}}
    )
    new = MCPPackageSpec.model_validate(
        {
            "source": {"type": "npm", "package": "b", "version": "2.0.0", "registryAuthSecret": "creds"},
            "install": {"allowScripts": True},
        }
    )
    status = MCPPackageStatus(resolved_version="1.0.0", resolved_spec=source_key(old.source))
    pinned = pinned_spec(new, status)
    assert (pinned.source.package, pinned.source.version, pinned.source.registry) == (
        "a",
        "1.0.0",
        "https://r.example/",
    )
    # What is not part of the pin follows the current spec.
    assert pinned.source.registry_auth_secret == "creds"
    assert pinned.install.allow_scripts is True
