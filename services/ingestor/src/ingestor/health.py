"""The ingestor's HTTP side: liveness, readiness and Prometheus metrics on port 8081.

Requests are traced (span names are the route template, e.g. `GET /readyz`; the probes'
and scrapes' own paths are left out of traces) and timed into
`ingestor_http_request_duration_seconds{method,path,status_code}` by route template.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingestor.progress import Progress
from order_shared.http_tracing import route_tracing
from order_shared.kafka_consumers import DecodeFailures


@dataclass
class Readiness:
    """Set by the main loop: ready once the consumer has joined and the database answered,
    while no fetched batch has waited past the progress deadline and the last fetch did
    not fail to decode a batch."""

    progress: Progress = field(default_factory=lambda: Progress(deadline_seconds=120.0))
    consumer_started: bool = False
    database_reachable: bool = False
    decode_failures: DecodeFailures | None = None

    def report(self) -> dict[str, object]:
        stalled = self.progress.stalled()
        undecodable = self.decode_failures.reason if self.decode_failures else None
        return {
            "ready": (
                self.consumer_started
                and self.database_reachable
                and not stalled
                and undecodable is None
            ),
            "consumer_started": self.consumer_started,
            "database_reachable": self.database_reachable,
            "stalled_partitions": stalled,
            "oldest_unsettled_batch_seconds": round(self.progress.oldest_age(), 3),
            "waiting_on": self.progress.waiting_on,
            "undecodable_batch": undecodable,
        }


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


def create_health_app(readiness: Readiness) -> Litestar:
    timing = PrometheusConfig(app_name="ingestor", prefix="ingestor_http", group_path=True)
    return Litestar(
        route_handlers=[healthz, readyz, prometheus_metrics],
        state=State({"readiness": readiness}),
        middleware=[route_tracing(), timing.middleware],
        openapi_config=None,
        # Logging is configured once for the process (order_shared.telemetry), not here.
        logging_config=None,
    )
