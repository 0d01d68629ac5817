"""`order-query`: serve the order API and the page on one port."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from order_shared.settings import load_settings
from query.server import serve, serve_workers
from query.settings import QuerySettings

if TYPE_CHECKING:
    from litestar.types import ASGIApp

    from query.http.app import Replica


def replica_from_environment(*, worker_process: bool = False) -> Replica:
    """The replica as configured by the environment. The app's modules are imported here,
    so that granian's parent process (WORKERS > 1), which serves nothing, does not hold
    them."""
    from order_shared.telemetry import configure_logging, configure_tracing
    from query.http.app import build

    settings = load_settings(QuerySettings)
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings.otel_service_name or "query", settings.otel_exporter_otlp_endpoint)
    return build(settings, worker_process=worker_process)


def app_from_environment() -> ASGIApp:
    """What each of several granian worker processes builds for itself (WORKERS > 1)."""
    return replica_from_environment(worker_process=True).app


def main() -> None:
    settings = load_settings(QuerySettings)
    if settings.workers > 1:
        serve_workers(
            "query.__main__:app_from_environment",
            settings.host,
            settings.port,
            settings.workers,
            settings.stream_max_streams,
        )
        return
    from query.http.app import STREAMS_END_WITHIN_SECONDS

    replica = replica_from_environment()
    serve(
        replica.app,
        settings.host,
        settings.port,
        settings.asgi_server,
        on_stop=partial(replica.informer.feed.end_streams, STREAMS_END_WITHIN_SECONDS),
        max_streams=settings.stream_max_streams,
    )


if __name__ == "__main__":
    main()
