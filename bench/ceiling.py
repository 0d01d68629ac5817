"""The ceiling of the query benchmark: a raw ASGI handler on the same granian with the
same settings (`query/server.py`) that looks the order up in a dict and sends its bytes.
No framework, no id check, no entity tag, no security headers, no metrics: what serving
those bytes costs the server itself, which no replica can beat.

`python -m bench.ceiling PORT BODY_FILE ORDERS`: every id `bench0000000001` up to ORDERS
maps to its own copy of the body in BODY_FILE (the replica's answer for one of them, byte
for byte; the replica's other orders are of about the same size).
"""

from __future__ import annotations

import sys
from pathlib import Path

from litestar.types import ASGIApp, Receive, Scope, Send

from query.server import serve

ORDER_PATH = "/api/v1/orders/"


def create_ceiling_app(bodies: dict[str, bytes]) -> ASGIApp:
    prefix = len(ORDER_PATH)
    not_found = b'{"status_code":404}'

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


async def _nothing_to_end() -> None:
    """The ceiling has no streams to end before it stops."""


def main() -> None:
    port, body_file, orders = sys.argv[1:4]
    body = Path(body_file).read_bytes()
    # One copy per order, as the replica holds one document each: random ids then touch
    # as much memory here as there.
    bodies = {f"bench{index:010d}": bytes(bytearray(body)) for index in range(1, int(orders) + 1)}
    serve(create_ceiling_app(bodies), "127.0.0.1", int(port), "granian", on_stop=_nothing_to_end)


if __name__ == "__main__":
    main()
