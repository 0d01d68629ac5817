"""A response whose status, headers and body are bytes already: what a cache hit sends.

Litestar's own responses build and validate headers on every call; an order served from
memory needs none of that, so this one only hands its two ASGI messages to the server.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar.types import Receive, Scope, Send

Headers = Sequence[tuple[bytes, bytes]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
NO_CACHE = (b"cache-control", b"no-cache")


class ReadyResponse:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def json_response(body: bytes, etag: bytes) -> ReadyResponse:
    """200 with a JSON body, its entity tag, and "revalidate before reuse"."""
    return ReadyResponse(
        200,
        [
            JSON_CONTENT_TYPE,
            (b"content-length", b"%d" % len(body)),
            (b"etag", etag),
            NO_CACHE,
        ],
        body,
    )


def not_modified(etag: bytes) -> ReadyResponse:
    return ReadyResponse(304, [(b"etag", etag), NO_CACHE])
