"""Deleting the CRDs under a running operator: cluster-wide it waits for them and carries on;
watching named namespaces it exits with one clear line and code 3 (its Deployment restarts it).

Each mode gets a control plane of its own: deleting the CRDs would break every other test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.controlplane import manage
from tests.integration.conftest import KUBECTL, ROOT
from tests.integration.helpers import package

pytestmark = [pytest.mark.integration, pytest.mark.controlplane]
OPERATOR = Path(sys.executable).parent / "mcp-operator"


@pytest.fixture
def own_controlplane(controlplane) -> Iterator[manage.ControlPlane]:  # the session one proves the build
    run_dir = manage.RUN_DIR / f"crdloss-{uuid.uuid4().hex[:8]}"
    process = manage.spawn(run_dir)
    try:
        yield manage.wait_ready(process, run_dir, 180)
    finally:
        manage.stop(process)


def kubectl(cp: manage.ControlPlane, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={cp.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def wait(what: str, probe, timeout: float = 60, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            tail = log.read_text()[-6000:] if log is not None else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{tail}")
        time.sleep(0.2)


def install_crds(cp: manage.ControlPlane) -> None:
    kubectl(cp, "apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl(cp, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def served(cp: manage.ControlPlane) -> bool:
    done = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={cp.kubeconfig}", "get", "mcppackages", "-A"],
        check=False,
        capture_output=True,
    )
    return done.returncode == 0


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_crds_deleted_under_the_operator(
    own_controlplane: manage.ControlPlane, mode: str, tmp_path: Path
) -> None:
    cp = own_controlplane
    install_crds(cp)
    wait("the CRDs to be served", lambda: served(cp))
    kubectl(cp, "create", "namespace", "crdloss")
    args = [str(OPERATOR), "run", "--verbose", *(["-n", "crdloss"] if mode == "namespaced" else [])]
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
    with log.open("w") as out:
        operator = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait(
            "the operator to watch",
            lambda: "Starting the watch-stream" in log.read_text() or operator.poll() is not None,
        )
        kubectl(cp, "delete", "-f", str(ROOT / "crds"))
        wait("the CRDs to be gone", lambda: not served(cp))
        if mode == "namespaced":
            wait("the operator to exit", lambda: operator.poll() is not None, timeout=60)
            assert operator.returncode == 3
            text = log.read_text()
            assert "were the CRDs deleted?" in text
            assert "Traceback" not in text
            return
        install_crds(cp)
        wait("the CRDs to be served again", lambda: served(cp))
        # The operator is still there and serves the new resources.
        obj = package("after", "npm", "@example/nowhere", "http://127.0.0.1:9/")
        kubectl(cp, "-n", "crdloss", "apply", "-f", "-", stdin=json.dumps(obj))

        def handled() -> bool:
            out = kubectl(cp, "-n", "crdloss", "get", "mcppackage", "after", "-o", "jsonpath={.status.phase}")
            return bool(out)

        wait("the recreated resource to be handled", handled, timeout=90, log=log)
        assert operator.poll() is None, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text()
    finally:
        if operator.poll() is None:
            operator.terminate()
            operator.wait(30)
