"""How the ASGI adapter sends jwt_guard's answers: a :class:`~jwt_guard.Challenge`
as a Starlette ``Response`` or as raw ASGI messages, and the refusal of a
WebSocket handshake (an HTTP denial response where the server supports the
extension, else a close code)."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Message, Receive, Send

from jwt_guard._challenge import Challenge
from jwt_guard._resource import MetadataAnswer
from jwt_guard._responder import Responder
from jwt_guard.errors import JWTGuardError

__all__ = ["challenge_response", "deny", "raw_headers", "send_challenge"]

_DENIAL_EXTENSION = "websocket.http.response"


def challenge_response(challenge: Challenge) -> Response:
    """A Starlette ``Response`` carrying *challenge* byte for byte."""
    response = Response(challenge.body, status_code=challenge.status_code)
    response.raw_headers = raw_headers(challenge)
    return response


def raw_headers(challenge: Challenge | MetadataAnswer) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in challenge.headers]


def denial_send(send: Send) -> Send:
    """Turn an HTTP response's messages into WebSocket denial messages."""

    async def wrapped(message: Message) -> None:
        kind = message["type"]
        if kind in ("http.response.start", "http.response.body"):
            message = {**message, "type": "websocket." + kind}
        await send(message)

    return wrapped


async def send_challenge(challenge: Challenge | MetadataAnswer, send: Send, prefix: str = "") -> None:
    await send(
        {"type": prefix + "http.response.start", "status": challenge.status_code, "headers": raw_headers(challenge)}
    )
    # more_body is optional in ASGI (default False), but some servers' and
    # test clients' receivers index it (Quart 0.23's test client does).
    await send({"type": prefix + "http.response.body", "body": challenge.body, "more_body": False})


async def deny(
    error: JWTGuardError, responder: Responder, connection: HTTPConnection, receive: Receive, send: Send
) -> None:
    """Refuse a WebSocket that has not been accepted: an HTTP denial response
    when the server supports the extension, else a 1008 (or 1013) close."""
    scope = connection.scope
    answer = responder.answer(error, connection)
    if _DENIAL_EXTENSION in (scope.get("extensions") or {}):
        if isinstance(answer, Challenge):
            await send_challenge(answer, send, "websocket.")
        else:
            await answer(scope, receive, denial_send(send))
        return
    code, reason = responder.close(error)
    await send({"type": "websocket.close", "code": code, "reason": reason})
