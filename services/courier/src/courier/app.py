"""The courier service's HTTP app: the courier API, health, metrics and OpenAPI, with the
domain errors mapped to JSON answers once, here. Requests are traced by route template
when a tracer provider is installed; `__main__` times them (`TimedRequests`)."""

from __future__ import annotations

import psycopg
from litestar import Litestar, MediaType, Request, Response
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from courier.health import healthz, prometheus_metrics, readyz
from courier.reconcile import Reconciler
from courier.roster import CourierIsDelivering, CourierNotFound, DuplicatePhone
from courier.routes import CourierController, get_assignment
from order_shared.consumer_readiness import ConsumerReadiness
from order_shared.http_tracing import route_tracing
from order_shared.telemetry import installed_tracer_provider


def _error(status_code: int, detail: str) -> Response[dict[str, object]]:
    return Response(
        {"status_code": status_code, "detail": detail},
        status_code=status_code,
        media_type=MediaType.JSON,
    )


def _invalid(request: Request, error: ValidationException) -> Response[dict[str, object]]:
    """Litestar's 400, with each field at fault named in the message itself."""
    problems = error.extra if isinstance(error.extra, list) else []
    named = [
        f"{problem['key']}: {problem.get('message', 'invalid')}"
        for problem in problems
        if isinstance(problem, dict) and problem.get("key")
    ]
    detail = f"{error.detail}: {'; '.join(named)}" if named else error.detail
    return _error(400, detail)


def _not_found(request: Request, error: CourierNotFound) -> Response[dict[str, object]]:
    return _error(404, str(error))


def _conflict(
    request: Request, error: DuplicatePhone | CourierIsDelivering
) -> Response[dict[str, object]]:
    return _error(409, str(error))


def _database_unavailable(request: Request, error: Exception) -> Response[dict[str, object]]:
    response = _error(503, "the courier database is unavailable; try again shortly")
    response.headers["retry-after"] = "1"
    return response


def create_app(
    pool: AsyncConnectionPool, readiness: ConsumerReadiness, reconciler: Reconciler
) -> Litestar:
    """The HTTP API over an open pool; the background work runs beside it (`__main__`).
    A courier made available through the API takes a waiting order by `reconciler`."""
    return Litestar(
        # Logging is configured once at start (structlog, JSON); Litestar must not replace it.
        logging_config=None,
        route_handlers=[CourierController, get_assignment, healthz, readyz, prometheus_metrics],
        middleware=[route_tracing()] if installed_tracer_provider() else [],
        exception_handlers={
            ValidationException: _invalid,
            CourierNotFound: _not_found,
            DuplicatePhone: _conflict,
            CourierIsDelivering: _conflict,
            PoolTimeout: _database_unavailable,
            psycopg.OperationalError: _database_unavailable,
        },
        state=State({"pool": pool, "readiness": readiness, "reconciler": reconciler}),
        openapi_config=OpenAPIConfig(
            title="Order Service courier API",
            version="1.0.0",
            description="Couriers, their statistics, and who delivers each order.",
            path="/schema",
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
    )
