"""`order-query`: serve the order API and the page on one port."""

from __future__ import annotations

from order_shared.settings import load_settings
from order_shared.telemetry import configure_logging, configure_tracing
from query.http.app import create_app
from query.server import serve
from query.settings import QuerySettings


def main() -> None:
    settings = load_settings(QuerySettings)
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings.otel_service_name or "query", settings.otel_exporter_otlp_endpoint)
    serve(create_app(settings), settings.host, settings.port, settings.asgi_server)


if __name__ == "__main__":
    main()
