"""The handshake's pure half (render/mcp_answers.py): event streams, JSON-RPC answers and their bounds.

Every hostile answer is a Failure with a reason of the Verified condition, never another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_operator.reasons import Reason
from mcp_operator.render import mcp_answers as answers
from mcp_operator.render.mcp_answers import EventStream, Failure, ToolNames


def init_result(**overrides: object) -> dict[str, object]:
    result: dict[str, object] = {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {"listChanged": True}, "logging": {}},
        "serverInfo": {"name": "everything", "version": "2.0.0"},
    }
    result.update(overrides)
    return result


# ------------------------------------------------------------------------------ event streams


def test_an_event_stream_yields_the_data_of_each_event_whatever_the_line_endings() -> None:
    stream = EventStream()
    assert stream.feed(b"event: message\r") == []  # a lone CR may be half a CRLF: wait
    assert stream.feed(b'\ndata: {"a"\r\ndata: :1}\r\n\r') == []
    assert stream.feed(b"\n: a comment\n\nid: 7\ndata:x\n\nevent: endpoint\rdata: /m\r\r") == [
        ("message", b'{"a"\n:1}'),
        ("message", b"x"),
    ]
    assert stream.feed(b"", final=True) == [("endpoint", b"/m")]  # the stream ended: CR is a line end


def test_events_without_data_are_not_events() -> None:
    stream = EventStream()
    assert stream.feed(b": keepalive\n\nevent: message\n\nretry: 5\n\n") == []


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["", "message", "endpoint"]),
        st.text(st.characters(blacklist_categories=["Cs", "Cc"])),
    ),
    max_size=5,
)


@given(
    events=EVENTS,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    eol=st.sampled_from(["\n", "\r", "\r\n"]),
)
def test_how_a_stream_is_cut_into_chunks_does_not_matter(
    events: list[tuple[str, str]], cuts: list[int], eol: str
) -> None:
    text = "".join(
        (f"event: {kind}{eol}" if kind else "") + f"data: {data}{eol}{eol}" for kind, data in events
    ).encode()
    whole = EventStream().feed(text, final=True)
    assert whole == [(kind or "message", data.encode()) for kind, data in events]
    stream, found, start = EventStream(), [], 0
    for cut in sorted({min(c, len(text)) for c in cuts}):
        found += stream.feed(text[start:cut])
        start = cut
    found += stream.feed(text[start:], final=True)
    assert found == whole


# --------------------------------------------------------------------------- JSON-RPC answers


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>proxy error</html>", "not JSON: <html>proxy error</html>"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not one JSON-RPC message but list"),
        (b"42", "not one JSON-RPC message but int"),
    ],
)
def test_an_answer_that_is_not_a_message_is_invalid(body: bytes, says: str) -> None:
    with pytest.raises(Failure) as caught:
        answers.parse_message(body, "initialize")
    assert caught.value.reason == Reason.HANDSHAKE_INVALID
    assert says in caught.value.message
    assert caught.value.message.startswith("initialize: ")


@pytest.mark.parametrize(
    ("message", "reason", "says"),
    [
        ({"id": 1, "result": {}}, Reason.HANDSHAKE_INVALID, "not JSON-RPC 2.0"),
        (
            {"jsonrpc": "2.0", "id": 2, "result": {}},
            Reason.HANDSHAKE_INVALID,
            "not the response to request id 1",
        ),
        ({"jsonrpc": "2.0", "id": "1", "result": {}}, Reason.HANDSHAKE_INVALID, "not the response"),
        ({"jsonrpc": "2.0", "id": True, "result": {}}, Reason.HANDSHAKE_INVALID, "not the response"),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping"}, Reason.HANDSHAKE_INVALID, "not the response"),
        ({"jsonrpc": "2.0", "id": 1, "result": []}, Reason.HANDSHAKE_INVALID, "no result object"),
        ({"jsonrpc": "2.0", "id": 1}, Reason.HANDSHAKE_INVALID, "no result object"),
        (
            {"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "Unsupported protocol version"}},
            Reason.HANDSHAKE_REFUSED,
            "initialize answered error -32600: Unsupported protocol version",
        ),
        ({"jsonrpc": "2.0", "id": 1, "error": "nope"}, Reason.HANDSHAKE_REFUSED, "answered error nope"),
    ],
)
def test_only_the_result_of_our_request_is_taken(
    message: dict[str, object], reason: Reason, says: str
) -> None:
    with pytest.raises(Failure) as caught:
        answers.result_of(message, 1, "initialize")
    assert caught.value.reason == reason
    assert says in caught.value.message


def test_a_result_is_returned() -> None:
    assert answers.result_of({"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}, 1, "x") == {"a": 1}


def test_the_introduction_is_read_strictly_and_cleaned() -> None:
    intro = answers.introduction(
        init_result(
            serverInfo={"name": "evil\x1b[31m\nname", "version": "9" * 1000, "extra": 1},
            capabilities={f"cap{i:02}": {} for i in range(40)} | {"tools": {}},
        )
    )
    assert intro.name == "evil?[31m?name"
    assert len(intro.version) == answers.MAX_TEXT
    assert intro.version.endswith("...")
    assert len(intro.capabilities) == answers.MAX_CAPABILITIES
    assert intro.capabilities == tuple(sorted(intro.capabilities))
    assert not intro.has_tools  # "tools" sorts after the 32 kept: a bound, not a reading
    plain = answers.introduction(init_result())
    assert (plain.name, plain.version, plain.protocol_version) == ("everything", "2.0.0", "2025-06-18")
    assert plain.capabilities == ("logging", "tools")
    assert plain.has_tools


@pytest.mark.parametrize(
    ("result", "says"),
    [
        (init_result(protocolVersion=None), "no protocolVersion"),
        (init_result(protocolVersion="2099-01-01"), "speaks MCP 2099-01-01; the operator speaks 2024-11-05"),
        (init_result(serverInfo=None), "no serverInfo.name"),
        (init_result(serverInfo={"name": "", "version": "1"}), "no serverInfo.name"),
        (init_result(serverInfo={"name": "x"}), "no serverInfo.version"),
        (init_result(serverInfo={"name": "x", "version": 3}), "no serverInfo.version"),
        (init_result(capabilities=["tools"]), "no capabilities object"),
    ],
)
def test_an_introduction_without_what_status_needs_is_invalid(result: dict[str, object], says: str) -> None:
    with pytest.raises(Failure) as caught:
        answers.introduction(result)
    assert caught.value.reason == Reason.HANDSHAKE_INVALID
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("result", "says"),
    [
        ({}, "no tools list"),
        ({"tools": {"echo": {}}}, "no tools list"),
        ({"tools": [{"description": "nameless"}]}, 'a tool without a name: {"description": "nameless"}'),
        ({"tools": [{"name": ""}]}, "a tool without a name"),
        ({"tools": ["echo"]}, "a tool without a name: echo"),
        ({"tools": [], "nextCursor": 7}, "nextCursor is not a string: 7"),
    ],
)
def test_a_tool_page_without_names_is_invalid(result: dict[str, object], says: str) -> None:
    with pytest.raises(Failure) as caught:
        answers.tool_page(result)
    assert caught.value.reason == Reason.HANDSHAKE_INVALID
    assert says in caught.value.message


def test_tool_pages_and_their_cursor() -> None:
    assert answers.tool_page({"tools": [{"name": "echo"}, {"name": "add"}]}) == (["echo", "add"], None)
    assert answers.tool_page({"tools": [], "nextCursor": "p2"}) == ([], "p2")
    assert answers.tool_page({"tools": [], "nextCursor": ""}) == ([], None)


def test_tool_names_are_bounded_and_counted() -> None:
    names = ToolNames()
    names.add([f"t{i}" for i in range(200)])
    names.add(["x" * 500, *[f"u{i}" for i in range(99)]])
    assert names.count == 300
    assert len(names.names) == answers.MAX_TOOLS
    assert names.names[200] == "x" * 125 + "..."
    assert all(len(n) <= answers.MAX_TOOL_NAME for n in names.names)
    assert names.names[-1] == "u54"


def test_quotes_of_a_servers_words_are_short_and_printable() -> None:
    quoted = answers.quote("a\x00b" + "c" * 1000)
    assert quoted.startswith("a?b")
    assert len(quoted) == answers.MAX_QUOTE
    assert answers.quote({"k": [1]}) == json.dumps({"k": [1]})


# ---------------------------------------------------------------------------------- plumbing


def test_session_ids_are_visible_ascii() -> None:
    assert answers.session_id(None) is None
    assert answers.session_id("abc-123_XYZ") == "abc-123_XYZ"
    for bad in ("", "with space", "tab\t", "é", "x" * 513):
        with pytest.raises(Failure) as caught:
            answers.session_id(bad)
        assert caught.value.reason == Reason.HANDSHAKE_INVALID


def test_redirects_are_followed_on_the_same_origin_only() -> None:
    url = "http://srv.ns.svc:8080/mcp"
    assert answers.redirect(url, "/mcp/") == "http://srv.ns.svc:8080/mcp/"
    assert answers.redirect(url, "http://srv.ns.svc:8080/other#frag") == "http://srv.ns.svc:8080/other"
    for elsewhere in (None, "", "http://evil.example/mcp", "https://srv.ns.svc:8080/mcp", "//srv.ns.svc:9/x"):
        assert answers.redirect(url, elsewhere) is None
    assert answers.redirect(url, "http://user:pw@srv.ns.svc:8080/mcp") is None


def test_the_legacy_endpoint_must_stay_on_the_streams_origin() -> None:
    url = "http://srv.ns.svc:8080/sse"
    assert (
        answers.endpoint(url, b"/messages?session_id=abc\n")
        == "http://srv.ns.svc:8080/messages?session_id=abc"
    )
    with pytest.raises(Failure) as caught:
        answers.endpoint(url, b"http://evil.example/messages")
    assert "another origin" in caught.value.message


def test_a_service_is_reached_through_its_cluster_ip() -> None:
    url = "http://srv.ns.svc:8080/mcp?x=1"
    assert answers.via(url, "10.96.0.7") == "http://10.96.0.7:8080/mcp?x=1"
    assert answers.via(url, "fd00::7") == "http://[fd00::7]:8080/mcp?x=1"
    assert answers.via("http://srv.ns.svc/mcp", "10.0.0.1") == "http://10.0.0.1/mcp"
    assert answers.via(url, None) == url


def test_the_requests_are_json_rpc() -> None:
    assert json.loads(answers.request(3, "tools/list", {"cursor": "c"})) == {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/list",
        "params": {"cursor": "c"},
    }
    assert json.loads(answers.notification("notifications/initialized")) == {
        "jsonrpc": "2.0",
        "method": "notifications/initialized",
    }
    assert (
        answers.initialize("1.2")["protocolVersion"]
        == answers.PROTOCOL_VERSION
        == answers.PROTOCOL_VERSIONS[-1]
    )
