"""The transport-independent rules for what a client sends: the first message must be a good ``hello``; later
ones reach the hub, and bad ones get an ``error`` until too many close the connection."""

from __future__ import annotations

import json
from typing import Any

from vizserver.protocol.messages import PROTOCOL_VERSION, ClientMsg, CloseCode, Hello
from vizserver.sessions.session import Accepted, Refused
from vizserver.streaming.hub import ClientLink
from vizserver.transports.client_input import ClientInput, HelloRefused, check_first_message

HELLO = {"type": "hello", "protocol": PROTOCOL_VERSION, "client": "test"}


class RecordingHub:
    def __init__(self) -> None:
        self.messages: list[ClientMsg] = []
        self.poses: list[bytes] = []

    def knows(self, token: str) -> bool:
        return True

    async def accept(self, token: str, hello: Hello, link: ClientLink) -> Accepted | Refused:
        raise AssertionError("not used")

    def receive(self, client_id: str, message: ClientMsg) -> None:
        self.messages.append(message)

    def receive_presence(self, client_id: str, data: bytes) -> None:
        self.poses.append(data)

    def disconnect(self, client_id: str, link: ClientLink) -> None:
        raise AssertionError("not used")


def _errors(link: ClientLink) -> list[dict[str, Any]]:
    found = []
    while (item := link.outbox.pop()) is not None:
        assert isinstance(item, str)
        found.append(json.loads(item))
    return found


def test_a_good_hello_is_taken() -> None:
    hello = check_first_message(json.dumps(HELLO))
    assert isinstance(hello, Hello) and hello.client == "test"


def test_a_first_message_that_is_not_hello_is_refused_with_4001() -> None:
    for first in (b"\x00binary", None, json.dumps({"type": "ping"}), "{not json"):
        refused = check_first_message(first)
        assert isinstance(refused, HelloRefused), first
        assert (refused.code, refused.reason) == (int(CloseCode.NOT_HELLO), "first message was not hello")
    assert check_first_message("{not json").error is not None  # type: ignore[union-attr]


def test_another_protocol_version_is_refused_with_4002_saying_why() -> None:
    refused = check_first_message(json.dumps({**HELLO, "protocol": PROTOCOL_VERSION + 1}))
    assert isinstance(refused, HelloRefused)
    assert refused.code == int(CloseCode.UNSUPPORTED_PROTOCOL)
    assert refused.error is not None and json.loads(refused.error)["code"] == "unsupported_protocol"


def test_later_messages_reach_the_hub_and_bad_ones_are_answered_until_too_many() -> None:
    hub, link = RecordingHub(), ClientLink()
    messages = ClientInput(hub, "c1", link)
    assert messages.take(json.dumps({"type": "ping", "t": 1.0}))
    assert [m.type for m in hub.messages] == ["ping"]
    assert messages.take(b"not a presence message")
    assert _errors(link)[0]["type"] == "error"
    while messages.take("{bad"):
        pass
    assert link.close_request == (int(CloseCode.TOO_MANY_BAD_MESSAGES), "too many bad messages")


def test_a_diverted_text_does_not_reach_the_session() -> None:
    hub, link = RecordingHub(), ClientLink()
    taken: list[str] = []
    messages = ClientInput(hub, "c1", link, divert=lambda text: taken.append(text) is None and "camera" in text)
    assert messages.take('{"type":"view_camera"}') and messages.take(json.dumps({"type": "ping", "t": 2.0}))
    assert len(taken) == 2 and [m.type for m in hub.messages] == ["ping"]
