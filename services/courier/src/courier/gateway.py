"""The order gateway: asks the order service (`GET /api/v1/orders/{id}/status` on the query
service) for an order's current status. The only way the courier learns about orders.

Every failure is an answer, not an exception: the caller decides to retry, and the kind
says why (counted in `courier_gateway_errors_total`). 410 Gone is an answer of its own: the
order was erased (404 only means the replica has not seen it yet).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import httpx
import msgspec
from opentelemetry import propagate, trace
from opentelemetry.context import Context

from courier import metrics
from order_shared.model import OrderStatus

tracer = trace.get_tracer("courier")

UnansweredKind = Literal["not_found", "server_error", "timeout", "unreachable", "bad_answer"]


class OrderState(msgspec.Struct, frozen=True):
    """What the order service says of an order now; `version` is its ETag."""

    order_id: str
    status: OrderStatus
    created_at: datetime
    version: int


class ErasedState(msgspec.Struct, frozen=True):
    """The order service says the order was erased at `version` (its ETag)."""

    order_id: str
    version: int


class Unanswered(msgspec.Struct, frozen=True):
    """No usable status: `not_found` (not seen yet), or the service failed."""

    kind: UnansweredKind
    detail: str


class _StatusBody(msgspec.Struct):
    order_id: str
    status: OrderStatus
    created_at: datetime


_decode_status = msgspec.json.Decoder(_StatusBody).decode


class OrderGateway:
    def __init__(self, client: httpx.AsyncClient) -> None:
        """`client` carries the gateway's base URL and timeout; it is opened and closed by
        the app's lifespan."""
        self._client = client

    async def status(
        self, order_id: str, trace_context: Context | None = None
    ) -> OrderState | ErasedState | Unanswered:
        """The order's status now. `trace_context` (the event's, from its Kafka headers)
        becomes the request's parent, so the order's trace continues to the order service."""
        with tracer.start_as_current_span(
            "GET /api/v1/orders/{order_uid}/status",
            context=trace_context,
            kind=trace.SpanKind.CLIENT,
        ) as span:
            span.set_attribute("order.id", order_id)
            answer = await self._ask(order_id)
            if isinstance(answer, Unanswered):
                metrics.GATEWAY_ERRORS.labels(answer.kind).inc()
                span.set_attribute("order.gateway.unanswered", answer.kind)
            return answer

    async def _ask(self, order_id: str) -> OrderState | ErasedState | Unanswered:
        headers: dict[str, str] = {}
        propagate.inject(headers)
        try:
            response = await self._client.get(f"/api/v1/orders/{order_id}/status", headers=headers)
        except httpx.TimeoutException as error:
            return Unanswered("timeout", f"no answer in time: {type(error).__name__}")
        except httpx.HTTPError as error:
            return Unanswered("unreachable", f"{type(error).__name__}: {error}")
        if response.status_code == 404:
            return Unanswered("not_found", "the order service does not know the order yet")
        if response.status_code == 410:
            try:
                return ErasedState(order_id, _version_of(response))
            except (KeyError, ValueError) as error:
                return Unanswered("bad_answer", f"an erasure without a version: {error}")
        if response.status_code >= 500:
            return Unanswered("server_error", f"the order service answered {response.status_code}")
        if response.status_code != 200:
            return Unanswered("bad_answer", f"the order service answered {response.status_code}")
        try:
            body = _decode_status(response.content)
            version = _version_of(response)
        except (msgspec.DecodeError, KeyError, ValueError) as error:
            return Unanswered("bad_answer", f"unreadable status answer: {error}")
        if body.order_id != order_id:
            return Unanswered("bad_answer", f"asked for {order_id}, told about {body.order_id}")
        return OrderState(body.order_id, body.status, body.created_at, version)


def _version_of(response: httpx.Response) -> int:
    """The order's version from the answer's ETag; KeyError or ValueError without one."""
    return int(response.headers["etag"].removeprefix("W/").strip('"'))
