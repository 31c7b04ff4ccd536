"""Unit tests are pure: no network, no Kubernetes API. Any attempt fails the test loudly."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

NO_NETWORK = "unit tests must not touch the network or the Kubernetes API"

# Property-based tests: modest example counts so they stay quick, no deadline (the machine is
# noisy), and Hypothesis's files (failing examples, caches) in the ignored .cache folder rather
# than a .hypothesis folder in the clone. HYPOTHESIS_PROFILE=thorough hunts longer.
_HYPOTHESIS_HOME = Path(__file__).resolve().parents[2] / ".cache" / "hypothesis"
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(_HYPOTHESIS_HOME))
_HYPOTHESIS_DB = DirectoryBasedExampleDatabase(_HYPOTHESIS_HOME / "examples")
settings.register_profile("unit", max_examples=200, deadline=None, database=_HYPOTHESIS_DB)
settings.register_profile("thorough", max_examples=5000, deadline=None, database=_HYPOTHESIS_DB)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "unit"))


def _refuse(sock: socket.socket, *_: Any, **__: Any) -> Any:
    # Close first: callers such as socket.create_connection only clean up after an OSError, and an
    # unclosed socket would surface later as a ResourceWarning in some unrelated test.
    sock.close()
    raise RuntimeError(NO_NETWORK)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Block outgoing connections and point KUBECONFIG nowhere for every unit test.

    httpx.MockTransport opens no sockets, so tests that use it are unaffected; the event loop's
    self-pipe is a socketpair, which connects nothing either.
    """
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    missing = tmp_path_factory.getbasetemp() / "no-such-dir" / "kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(missing))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    assert not Path(missing).exists()
