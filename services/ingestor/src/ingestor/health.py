"""The ingestor's HTTP side: liveness, readiness and Prometheus metrics on port 8081.

Requests are traced (span names are the route template, e.g. `GET /readyz`; the probes'
and scrapes' own paths are left out of traces) and timed into
`ingestor_http_request_duration_seconds{method,path,status_code}` by route template.
"""

from __future__ import annotations

from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from order_shared.consumer_readiness import ConsumerReadiness
from order_shared.http_tracing import route_tracing


@get("/healthz", media_type=MediaType.JSON)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", media_type=MediaType.JSON)
async def readyz(state: State) -> Response[dict[str, object]]:
    report = state.readiness.report()
    return Response(report, status_code=200 if report["ready"] else 503)


@get("/metrics", media_type=CONTENT_TYPE_LATEST)
async def prometheus_metrics() -> bytes:
    return generate_latest()


def create_health_app(readiness: ConsumerReadiness) -> Litestar:
    timing = PrometheusConfig(app_name="ingestor", prefix="ingestor_http", group_path=True)
    return Litestar(
        route_handlers=[healthz, readyz, prometheus_metrics],
        state=State({"readiness": readiness}),
        middleware=[route_tracing(), timing.middleware],
        openapi_config=None,
        # Logging is configured once for the process (order_shared.telemetry), not here.
        logging_config=None,
    )
