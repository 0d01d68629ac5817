"""`order-query`: serve the order API and the page on one port."""

from __future__ import annotations

from litestar.types import ASGIApp

from order_shared.settings import load_settings
from order_shared.telemetry import configure_logging, configure_tracing
from query.http.app import create_app
from query.server import serve, serve_workers
from query.settings import QuerySettings


def app_from_environment() -> ASGIApp:
    """The app as configured by the environment: what each of several granian worker
    processes builds for itself (WORKERS > 1)."""
    settings = load_settings(QuerySettings)
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings.otel_service_name or "query", settings.otel_exporter_otlp_endpoint)
    return create_app(settings)


def main() -> None:
    settings = load_settings(QuerySettings)
    if settings.workers > 1:
        serve_workers(
            "query.__main__:app_from_environment",
            settings.host,
            settings.port,
            settings.workers,
        )
        return
    serve(app_from_environment(), settings.host, settings.port, settings.asgi_server)


if __name__ == "__main__":
    main()
