"""Every search of the order list reads through an index: EXPLAIN on the real PostgreSQL,
over enough orders that the planner would scan the table if no index served the filter.

The orders are inserted in a transaction that is rolled back, so the rest of the suite
(and the query replicas listing the database) never sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from query.http.order_pages import OrderSearch, PageCursor, page_parameters, page_query
from tests.harness import Servers

ORDERS = 40_000
START = datetime(2020, 1, 1, tzinfo=UTC)

# Many distinct track numbers and customers, and few orders in a terminal status: the
# shapes under which an unindexed filter costs a scan of every order.
_FILL_ORDERS = """
INSERT INTO orders (order_uid, track_number, entry, locale, internal_signature, customer_id,
                    delivery_service, shardkey, sm_id, date_created, oof_shard, status,
                    version, change_seq, content_hash)
SELECT 'plan-' || n, 'TRACK' || mod(n, 8000), 'WBIL', 'en', '', 'customer-' || mod(n, 4000),
       'meest', '9', 99, %(start)s::timestamptz + n * interval '1 minute', '1',
       CASE mod(n, 200) WHEN 0 THEN 'cancelled' WHEN 1 THEN 'completed' ELSE 'created' END,
       1, -n, '\\x00'
  FROM generate_series(1, %(orders)s) AS n
"""
_FILL_PAYMENTS = """
INSERT INTO payments (order_uid, transaction, request_id, currency, provider, amount,
                      payment_dt, bank, delivery_cost, goods_total, custom_fee)
SELECT 'plan-' || n, 'plan-' || n, '', 'USD', 'wbpay', 100, 1637907727, 'alpha', 0, 100, 0
  FROM generate_series(1, %(orders)s) AS n
"""

SEARCHES = {
    "track_number": OrderSearch(track_number="TRACK42"),
    "customer_id": OrderSearch(customer_id="customer-7"),
    "status": OrderSearch(status="cancelled"),
    "created_from": OrderSearch(created_from=START + timedelta(days=20)),
    "created_to": OrderSearch(created_to=START + timedelta(days=2)),
    "date_created": OrderSearch(
        created_from=START + timedelta(days=10), created_to=START + timedelta(days=11)
    ),
}
# The column whose index must serve the search.
INDEXED_COLUMN = {
    "track_number": "track_number",
    "customer_id": "customer_id",
    "status": "status",
    "created_from": "date_created",
    "created_to": "date_created",
    "date_created": "date_created",
}


@pytest.fixture(scope="module")
def filled(servers: Servers) -> Iterator[psycopg.Connection]:
    """A connection whose open transaction holds the orders, with fresh statistics."""
    with psycopg.connect(servers.admin_database_url) as connection:
        for fill in (_FILL_ORDERS, _FILL_PAYMENTS):
            connection.execute(fill, {"start": START, "orders": ORDERS})
        connection.execute("ANALYZE orders, payments, items")
        yield connection
        connection.rollback()


def plan_nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def explain(
    connection: psycopg.Connection, search: OrderSearch, after: PageCursor | None
) -> list[dict]:
    (result,) = connection.execute(
        b"EXPLAIN (FORMAT JSON) " + page_query(search).as_bytes(connection),
        page_parameters(search, after, limit=21),
    ).fetchone()
    return list(plan_nodes(result[0]["Plan"]))


@pytest.mark.parametrize("name", sorted(SEARCHES))
@pytest.mark.parametrize("page", ["first", "later"])
def test_each_search_reads_orders_through_its_index(
    filled: psycopg.Connection, name: str, page: str
) -> None:
    search = SEARCHES[name]
    after = None if page == "first" else PageCursor(START + timedelta(days=15), "plan-21600", None)

    nodes = explain(filled, search, after)

    on_orders = [node for node in nodes if node.get("Relation Name") == "orders"]
    assert on_orders, nodes
    assert not [node for node in on_orders if node["Node Type"] == "Seq Scan"], on_orders
    # An index scan names its table; a bitmap index scan only its index.
    conditions = [
        node["Index Cond"]
        for node in nodes
        if "Index Cond" in node
        and (node.get("Relation Name") == "orders" or node["Index Name"].startswith("orders_"))
    ]
    assert any(INDEXED_COLUMN[name] in condition for condition in conditions), nodes


def test_every_filter_together_still_reads_through_an_index(filled: psycopg.Connection) -> None:
    search = OrderSearch(
        track_number="TRACK42",
        customer_id="customer-42",
        status="created",
        created_from=START,
        created_to=START + timedelta(days=30),
    )

    nodes = explain(filled, search, None)

    on_orders = [node for node in nodes if node.get("Relation Name") == "orders"]
    assert on_orders and all(node["Node Type"] != "Seq Scan" for node in on_orders), on_orders
