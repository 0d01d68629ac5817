"""The ceilings of the query benchmark: a raw handler on the same granian with the same
settings (`query/server.py`) that looks the order up in a dict and sends its bytes. No
framework, no id check, no entity tag, no security headers, no metrics: what serving those
bytes costs the server itself, which no replica can beat. Two of them: through ASGI, the
interface the replica uses, and through RSGI, granian's own (no message dicts, one call
per answer), the ceiling of a hit path that would leave ASGI.

`python -m bench.ceiling PORT BODY_FILE ORDERS [asgi|rsgi]`: every id `bench0000000001` up
to ORDERS maps to its own copy of the body in BODY_FILE (the replica's answer for one of
them, byte for byte; the replica's other orders are of about the same size).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from litestar.types import ASGIApp, Receive, Scope, Send

from query.server import GranianInterface, serve

ORDER_PATH = "/api/v1/orders/"
NOT_FOUND = b'{"status_code":404}'


def create_ceiling_app(bodies: dict[str, bytes]) -> ASGIApp:
    prefix = len(ORDER_PATH)
    not_found = NOT_FOUND

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = bodies.get(scope["path"][prefix:])
        status = 200 if body is not None else 404
        body = body if body is not None else not_found
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app  # type: ignore[return-value]


RsgiApp = Callable[[Any, Any], Awaitable[None]]


def create_rsgi_ceiling_app(bodies: dict[str, bytes]) -> RsgiApp:
    """The same answers through RSGI: granian's scope object and one `response_bytes`."""
    prefix = len(ORDER_PATH)
    headers = [("content-type", "application/json")]

    async def app(scope: Any, protocol: Any) -> None:
        body = bodies.get(scope.path[prefix:])
        if body is None:
            protocol.response_bytes(404, headers, NOT_FOUND)
        else:
            protocol.response_bytes(200, headers, body)

    return app


async def _nothing_to_end() -> None:
    """The ceiling has no streams to end before it stops."""


def main() -> None:
    port, body_file, orders = sys.argv[1:4]
    interface = cast(GranianInterface, sys.argv[4] if len(sys.argv) > 4 else "asgi")
    body = Path(body_file).read_bytes()
    # One copy per order, as the replica holds one document each: random ids then touch
    # as much memory here as there.
    bodies = {f"bench{index:010d}": bytes(bytearray(body)) for index in range(1, int(orders) + 1)}
    app = create_rsgi_ceiling_app(bodies) if interface == "rsgi" else create_ceiling_app(bodies)
    serve(
        cast(ASGIApp, app),
        "127.0.0.1",
        int(port),
        "granian",
        on_stop=_nothing_to_end,
        interface=interface,
    )


if __name__ == "__main__":
    main()
