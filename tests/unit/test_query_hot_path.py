"""The hot path answers a cached order exactly as the Litestar handler behind it would:
the same status, headers and body, for every kind of If-None-Match; and leaves everything
else to Litestar."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from query.http.app import Replica, build
from query.informer.store import CachedOrder
from query.settings import QuerySettings

ORDER = CachedOrder(
    7, 70, "created", b'{"order_uid":"hot-1","date_created":"2021-11-26T06:22:19Z"}'
)


@pytest.fixture
def replica() -> Replica:
    # Nothing here connects: the pool opens and the informer runs only in the lifespan,
    # which these clients never start.
    built = build(QuerySettings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    built.informer.store.apply("hot-1", ORDER)
    return built


@pytest.fixture
async def clients(replica: Replica) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    base = "http://replica"
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(replica.app), base_url=base) as hot,
        httpx.AsyncClient(transport=httpx.ASGITransport(replica.framework), base_url=base) as bare,
    ):
        yield hot, bare


def answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


@pytest.mark.parametrize(
    "if_none_match",
    [None, '"7"', 'W/"7"', '"1", "7"', "*", '"6"', "", '"7'],
)
async def test_a_hit_is_answered_as_litestar_would(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], if_none_match: str | None
) -> None:
    hot, bare = clients
    headers = {} if if_none_match is None else {"if-none-match": if_none_match}
    fast = await hot.get("/api/v1/orders/hot-1", headers=headers)
    slow = await bare.get("/api/v1/orders/hot-1", headers=headers)
    assert answer(fast) == answer(slow)
    assert fast.status_code in (200, 304)


async def test_hits_are_counted_and_everything_else_reaches_litestar(
    replica: Replica, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    hot, bare = clients
    await hot.get("/api/v1/orders/hot-1")
    status = await hot.get("/api/v1/orders/hot-1/status")
    head = await hot.head("/api/v1/orders/hot-1")
    malformed = await hot.get("/api/v1/orders/bad%20id")
    metrics = await hot.get("/metrics")

    assert status.json() == {
        "order_id": "hot-1",
        "status": "created",
        "created_at": "2021-11-26T06:22:19Z",
    }
    assert answer(head) == answer(await bare.head("/api/v1/orders/hot-1"))
    assert malformed.status_code == 400
    # The hot path's GET and the framework's status; a malformed id is no lookup.
    assert "query_cache_hits_total 2.0" in metrics.text
    assert "query_cache_misses_total 0.0" in metrics.text


async def test_request_durations_are_counted_by_route_template_and_status_class(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    hot, _ = clients
    await hot.get("/api/v1/orders/hot-1")  # the hot path
    await hot.get("/api/v1/orders/hot-1", headers={"if-none-match": '"7"'})  # the hot path, 304
    await hot.get("/api/v1/orders/hot-1/status")  # Litestar
    await hot.get("/api/v1/orders/bad%20id")  # Litestar, 400
    await hot.get("/no/such/path")  # the page's files, none such

    text = (await hot.get("/metrics")).text
    count = "query_http_request_duration_seconds_count"
    order, status = "/api/v1/orders/{order_uid}", "/api/v1/orders/{order_uid}/status"
    for route, status_class in ((order, "2xx"), (order, "3xx"), (status, "2xx"), (order, "4xx")):
        series = f'{count}{{method="GET",route="{route}",status_class="{status_class}"}} 1.0'
        assert series in text, series
    assert f'{count}{{method="GET",route="/{{file_path}}",status_class="4xx"}} 1.0' in text
    assert "bad%20id" not in text and "hot-1" not in text  # never a raw path
