"""HTTP handlers: the order API, health and readiness. The page is served from `web/`."""

from __future__ import annotations

import re

import psycopg
from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi.spec import Example
from litestar.params import Parameter
from psycopg_pool import PoolTimeout

from order_shared.model import ORDER_UID_PATTERN, Order
from query.order_reader import read_order
from query.store import OrderStore

_ORDER_UID = re.compile(ORDER_UID_PATTERN)


class ServiceUnavailableException(HTTPException):
    status_code = 503


class OrderController(Controller):
    path = "/api/v1/orders"
    tags = ("orders",)

    @get(
        "/{order_uid:str}",
        summary="One order",
        description="The order document exactly as it was ingested.",
        response_description="The order document",
        media_type=MediaType.JSON,
        responses={},
    )
    async def get_order(
        self,
        state: State,
        order_uid: str = Parameter(
            description="The order's `order_uid`: 1 to 64 letters, digits, `_` or `-`.",
            examples=[Example(value="b563feb7b2b84b6test")],
        ),
    ) -> Response[Order]:
        if not _ORDER_UID.fullmatch(order_uid):
            raise ValidationException(
                detail="malformed order id: use 1 to 64 letters, digits, '_' or '-'"
            )
        store: OrderStore = state.store
        entry = store.get(order_uid)
        if entry is None:
            try:
                entry = await read_order(state.pool, order_uid)
            except (psycopg.OperationalError, PoolTimeout) as error:
                raise ServiceUnavailableException(
                    detail="the order database is unavailable; try again shortly"
                ) from error
            if entry is None:
                raise NotFoundException(detail=f"no order with id {order_uid}")
            store.apply(order_uid, entry)
        return Response(entry.body, media_type=MediaType.JSON)  # type: ignore[arg-type]


@get("/healthz", media_type=MediaType.JSON, tags=["health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", media_type=MediaType.JSON, tags=["health"], summary="Readiness: the cache is warm")
async def readyz(state: State) -> Response[dict[str, object]]:
    synced = state.reflector.synced.is_set()
    body: dict[str, object] = {
        "ready": synced,
        "cached_orders": len(state.store),
        "last_change_seq": state.reflector.last_seq,
    }
    return Response(body, status_code=200 if synced else 503)
