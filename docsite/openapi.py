"""The OpenAPI documents of the query and courier services, made offline from the apps
themselves (no server, no database), and their Markdown for the site.

The same documents are what the services serve at `/schema/openapi.json`;
`tests/integration/test_docs_openapi.py` compares the two.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

from litestar.serialization import encode_json
from openapidocs.mk.v3 import OpenAPIV3DocumentationHandler


def query_document() -> dict[str, Any]:
    """The query service's document, as a replica with the default settings serves it."""
    from query.http.app import build
    from query.settings import QuerySettings

    schema = build(QuerySettings(_env_file=None)).framework.openapi_schema.to_schema()
    return json.loads(encode_json(schema))


def courier_document() -> dict[str, Any]:
    """The courier service's document, from its app over a pool that is never opened."""
    import httpx
    from psycopg_pool import AsyncConnectionPool

    from courier.app import create_app
    from courier.gateway import OrderGateway
    from courier.reconcile import Reconciler
    from courier.retry_queue import RetryPolicy
    from order_shared.consumer_readiness import ConsumerReadiness

    pool = AsyncConnectionPool("postgresql://nobody@127.0.0.1/none", open=False)
    reconciler = Reconciler(
        pool,
        OrderGateway(httpx.AsyncClient()),
        RetryPolicy(1, 1, 1),
        concurrency=1,
        round_seconds=1,
    )
    with warnings.catch_warnings():
        # Litestar's deprecations of the app's own code, which its tests report already.
        warnings.simplefilter("ignore", DeprecationWarning)
        app = create_app(pool, ConsumerReadiness(), reconciler)
    return json.loads(encode_json(app.openapi_schema.to_schema()))


# The site's name of each document -> how it is made.
DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "query": query_document,
    "courier": courier_document,
}


def markdown(document: dict[str, Any], source: str) -> str:
    """The document as Markdown (endpoints, parameters, bodies, answers, schemas)."""
    return OpenAPIV3DocumentationHandler(document, style="MKDOCS", source=source).write()
