"""Liveness, readiness (consumer joined and database reachable) and Prometheus metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar import MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from courier.metrics import UNDECODABLE_FETCHES
from order_shared.kafka_consumers import DecodeFailures


@dataclass
class Readiness:
    """Set by the background tasks: ready once the consumer has joined its group and the
    database answered, while the last fetch did not fail to decode a batch."""

    consumer_joined: bool = False
    database_reachable: bool = False
    decode_failures: DecodeFailures = field(
        default_factory=lambda: DecodeFailures(UNDECODABLE_FETCHES)
    )

    @property
    def ready(self) -> bool:
        return (
            self.consumer_joined and self.database_reachable and self.decode_failures.reason is None
        )


@get("/healthz", media_type=MediaType.JSON, tags=["health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    media_type=MediaType.JSON,
    tags=["health"],
    summary="Readiness: consumer joined, database reachable",
    description="503 until the Kafka consumer has joined its group and PostgreSQL answers, "
    "and while a fetched batch cannot be decoded (`undecodable_batch` says why).",
    responses={
        503: ResponseSpec(
            dict[str, object],
            description="Not ready yet: the same body",
            generate_examples=False,
        )
    },
)
async def readyz(state: State) -> Response[dict[str, object]]:
    readiness: Readiness = state.readiness
    body: dict[str, object] = {
        "ready": readiness.ready,
        "consumer_joined": readiness.consumer_joined,
        "database_reachable": readiness.database_reachable,
        "undecodable_batch": readiness.decode_failures.reason,
    }
    return Response(body, status_code=200 if readiness.ready else 503)


@get(
    "/metrics",
    media_type=CONTENT_TYPE_LATEST,
    tags=["health"],
    summary="Prometheus metrics",
    include_in_schema=False,
)
async def prometheus_metrics() -> bytes:
    return generate_latest()
