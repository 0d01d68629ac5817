"""The ingestor's HTTP side: liveness, readiness and Prometheus metrics on port 8081."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


@dataclass
class Readiness:
    """Set by the main loop: ready once the consumer has joined and the database answered."""

    consumer_started: bool = False
    database_reachable: bool = False

    @property
    def ready(self) -> bool:
        return self.consumer_started and self.database_reachable


@get("/healthz", media_type=MediaType.JSON)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", media_type=MediaType.JSON)
async def readyz(state: State) -> Response[dict[str, object]]:
    readiness: Readiness = state.readiness
    body: dict[str, object] = {
        "ready": readiness.ready,
        "consumer_started": readiness.consumer_started,
        "database_reachable": readiness.database_reachable,
    }
    return Response(body, status_code=200 if readiness.ready else 503)


@get("/metrics", media_type=CONTENT_TYPE_LATEST)
async def prometheus_metrics() -> bytes:
    return generate_latest()


def create_health_app(readiness: Readiness) -> Litestar:
    return Litestar(
        route_handlers=[healthz, readyz, prometheus_metrics],
        state=State({"readiness": readiness}),
        openapi_config=None,
    )
