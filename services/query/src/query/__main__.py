"""`order-query`: serve the order API and the page on one port."""

from __future__ import annotations

from typing import TYPE_CHECKING

from order_shared.settings import load_settings
from query.server import serve, serve_workers
from query.settings import QuerySettings

if TYPE_CHECKING:
    from litestar.types import ASGIApp


def app_from_environment() -> ASGIApp:
    """The app as configured by the environment: what each of several granian worker
    processes builds for itself (WORKERS > 1). The app's modules are imported here, so
    that granian's parent process, which serves nothing, does not hold them."""
    from order_shared.telemetry import configure_logging, configure_tracing
    from query.http.app import create_app

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
