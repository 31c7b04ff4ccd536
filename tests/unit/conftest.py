"""Unit tests are pure: no network, no Kubernetes API. Any attempt fails the test loudly."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

NO_NETWORK = "unit tests must not touch the network or the Kubernetes API"


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
