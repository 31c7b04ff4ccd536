"""What pods say is wrong, read into a condition reason and a message that names the fix."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_operator.models import MCPServerSpec
from mcp_operator.reasons import Reason
from mcp_operator.render.pod_problems import PodProblem, pod_problem
from mcp_operator.render.status import server_status


def pod(
    name: str = "srv-abc",
    init: list[dict[str, Any]] | None = None,
    main: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "status": {"initContainerStatuses": init or [], "containerStatuses": main or []},
    }


def terminated(code: int, name: str = "install", current: bool = True) -> dict[str, Any]:
    state = {"terminated": {"exitCode": code, "reason": "Error"}}
    return {
        "name": name,
        **(
            {"state": state}
            if current
            else {"state": {"waiting": {"reason": "PodInitializing"}}, "lastState": state}
        ),
    }


@pytest.mark.parametrize(
    ("code", "words"), [(3, "pinned integrity"), (4, "reach spec.source.registry"), (9, "install failed")]
)
def test_install_failures_name_the_installer_exit_code(code: int, words: str) -> None:
    problem = pod_problem([pod(init=[terminated(code)])])
    assert problem is not None
    assert problem.reason == Reason.INSTALL_FAILED
    assert f"exited with code {code}" in problem.message
    assert words in problem.message
    assert "kubectl logs srv-abc -c install" in problem.message


def test_an_install_that_failed_before_and_is_retried_still_counts() -> None:
    problem = pod_problem([pod(init=[terminated(3, current=False)])])
    assert problem is not None
    assert problem.reason == Reason.INSTALL_FAILED


def test_crash_loop_image_and_config_problems() -> None:
    crash = {
        "name": "server",
        "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1}},
    }
    found = pod_problem([pod(main=[crash])])
    assert found is not None
    assert found.reason == Reason.CRASH_LOOP_BACK_OFF
    assert "exit code 1, restarted 4 times" in found.message
    assert "--previous" in found.message
    image = {
        "name": "server",
        "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "not present"}},
    }
    assert pod_problem([pod(main=[image])]) == PodProblem(
        Reason.IMAGE_UNAVAILABLE, pod_problem([pod(main=[image])]).message
    )  # type: ignore[union-attr]
    config = {
        "name": "server",
        "state": {"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "s" not found'}},
    }
    found = pod_problem([pod(main=[config])])
    assert found is not None
    assert found.reason == Reason.CONTAINER_CONFIG_ERROR
    assert 'secret "s" not found' in found.message


def test_healthy_starting_and_deleted_pods_are_no_problem() -> None:
    starting = {"name": "server", "state": {"waiting": {"reason": "ContainerCreating"}}}
    assert pod_problem([pod(main=[starting])]) is None
    assert pod_problem([pod(init=[terminated(0)])]) is None
    assert pod_problem([pod(init=[terminated(3)], deletionTimestamp="2026-01-01T00:00:00Z")]) is None
    assert pod_problem([]) is None


def deployment(ready: int, replicas: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "srv", "generation": 1},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"annotations": {"mcp-operator.dev/package-version": "1.0.0"}}},
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
        },
    }


def test_server_status_reports_the_pods_problem_until_all_are_ready() -> None:
    spec = MCPServerSpec.model_validate({"package": "p"})
    problem = PodProblem(Reason.INSTALL_FAILED, "pod x: the install init container exited with code 3: ...")
    failing = server_status(spec, 1, deployment(ready=0), None, [], problem)
    assert failing["phase"] == "Failed"
    assert failing["conditions"][0]["reason"] == "InstallFailed"
    assert failing["message"] == problem.message
    degraded = server_status(spec, 1, deployment(ready=1, replicas=2), None, [], problem)
    assert degraded["phase"] == "Degraded"
    running = server_status(spec, 1, deployment(ready=1), None, [], problem)  # e.g. an old pod going away
    assert running["phase"] == "Running"
    disabled = server_status(
        MCPServerSpec.model_validate({"package": "p", "enabled": False}),
        1,
        deployment(0, 0),
        None,
        [],
        problem,
    )
    assert disabled["phase"] == "Disabled"


def test_the_containers_own_last_words_are_in_the_message_trimmed() -> None:
    said = "the MCP server (mcp-server-time) exited with code 1 before answering initialize; it said: boom"
    crash = {
        "name": "server",
        "restartCount": 1,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 3, "message": said + "\n"}},
    }
    found = pod_problem([pod(main=[crash])])
    assert found is not None
    assert f"restarted 1 times): {said}; see" in found.message
    long = {"name": "install", "state": {"terminated": {"exitCode": 4, "message": "x" * 5000 + " the end"}}}
    found = pod_problem([pod(init=[long])])
    assert found is not None
    assert found.message.count("x") < 500
    assert "x the end; see" in found.message
