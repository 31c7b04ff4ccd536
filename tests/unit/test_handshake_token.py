"""The operator's handshake with a bearer token: sent on every request of the exchange (the DELETE
that ends the session included), and never without being asked for."""

from __future__ import annotations

import httpx
import pytest
from tests.unit.test_handshake import IP, URL, FakeServer

from mcp_operator.handshake import handshake
from mcp_operator.reasons import Reason
from mcp_operator.render.mcp_answers import Failure


async def test_the_token_goes_with_every_request() -> None:
    server = FakeServer()
    found = await handshake(URL, address=IP, transport=server.transport(), token="t0ken")
    assert found.introduction.name == "fake"
    methods = [request.method for request in server.requests]
    assert methods[0] == "POST"
    assert methods[-1] == "DELETE"
    assert all(request.headers["Authorization"] == "Bearer t0ken" for request in server.requests)


async def test_no_token_no_authorization_header() -> None:
    server = FakeServer()
    await handshake(URL, address=IP, transport=server.transport())
    assert all("Authorization" not in request.headers for request in server.requests)


async def test_a_refused_token_is_quoted() -> None:
    server = FakeServer()
    server.answers["initialize"] = lambda request, body: httpx.Response(
        401,
        json={
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32003, "message": "the bearer token is not it"},
        },
        headers={"WWW-Authenticate": 'Bearer realm="mcp", error="invalid_token"'},
    )
    with pytest.raises(Failure) as caught:
        await handshake(URL, address=IP, transport=server.transport(), token="wrong")
    assert caught.value.reason == Reason.HANDSHAKE_REFUSED
    assert "initialize: HTTP 401" in caught.value.message
    assert "the bearer token is not it" in caught.value.message
