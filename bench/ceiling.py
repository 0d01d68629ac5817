"""The ceiling of the query benchmark: a bare Litestar handler returning the same bytes as
the real one, on the same ASGI server with the same settings, doing nothing else (no id
check, no lookup, no entity tag, no security headers).

It answers in the fastest way a Litestar handler can — a response built once, handed to the
server as is — because that is also how the real handler answers; a handler returning
`bytes` through Litestar's response machinery is served too (`/idiomatic/...`) for scale.

`python -m bench.ceiling PORT SERVER BODY_FILE`
"""

from __future__ import annotations

import sys
from pathlib import Path

from litestar import Litestar, MediaType, get
from litestar.types import ASGIApp

from query.http.ready_response import JSON_CONTENT_TYPE, ReadyResponse
from query.server import serve


def create_ceiling_app(body: bytes) -> Litestar:
    response = ReadyResponse(200, [JSON_CONTENT_TYPE, (b"content-length", b"%d" % len(body))], body)

    @get("/api/v1/orders/{order_uid:str}")
    async def order(order_uid: str) -> ASGIApp:
        return response

    @get("/idiomatic/api/v1/orders/{order_uid:str}", media_type=MediaType.JSON)
    async def idiomatic_order(order_uid: str) -> bytes:
        return body

    return Litestar(route_handlers=[order, idiomatic_order], openapi_config=None)


def main() -> None:
    port, server, body_file = sys.argv[1:4]
    app = create_ceiling_app(Path(body_file).read_bytes())
    serve(app, "127.0.0.1", int(port), server)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
