"""`order-courier`: assign couriers to orders from `order-events`; serve the courier API."""

from __future__ import annotations

import uvicorn

from courier.app import create_app
from courier.settings import CourierSettings
from order_shared.settings import load_settings
from order_shared.telemetry import configure_logging, configure_tracing


def main() -> None:
    settings = load_settings(CourierSettings)
    configure_logging(settings.log_level)
    configure_tracing(settings.otel_service_name or "courier", settings.otel_exporter_otlp_endpoint)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
