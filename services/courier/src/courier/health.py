"""Liveness, readiness (order_shared.consumer_readiness) and Prometheus metrics."""

from __future__ import annotations

from litestar import MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


@get("/healthz", media_type=MediaType.JSON, tags=["health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    media_type=MediaType.JSON,
    tags=["health"],
    summary="Readiness: consumer started, database reachable, no batch stalled",
    description=(
        "503 until the Kafka consumer has started and PostgreSQL answers, while a "
        "fetched batch has waited past PROGRESS_DEADLINE_SECONDS, and while a fetched "
        "batch cannot be decoded (`undecodable_batch` says why); the body names what it "
        "waits on."
    ),
    responses={
        503: ResponseSpec(
            dict[str, object],
            description="Not ready yet: the same body",
            generate_examples=False,
        )
    },
)
async def readyz(state: State) -> Response[dict[str, object]]:
    report = state.readiness.report()
    return Response(report, status_code=200 if report["ready"] else 503)


@get(
    "/metrics",
    media_type=CONTENT_TYPE_LATEST,
    tags=["health"],
    summary="Prometheus metrics",
    include_in_schema=False,
)
async def prometheus_metrics() -> bytes:
    return generate_latest()
