"""The order's tables are what `order_shared.order_tables` declares from the model: a field
added to the model without its column (or a column without its field) fails here, not
silently in a COPY line or a read."""

from __future__ import annotations

import msgspec
import pytest

from order_shared.model import Delivery, Item, Order, Payment
from order_shared.order_tables import (
    BOOKKEEPING_COLUMNS,
    DELIVERY_FIELDS,
    ERASURE_BOUNDARY_COLUMNS,
    HEAD_FIELDS,
    ITEM_FIELDS,
    ORDER_STATE_COLUMNS,
    PAYMENT_FIELDS,
    sql_type,
)
from tests.harness import Servers
from tests.store_io import query

# PostgreSQL's name for each type the declaration uses; a whole number may be stored in
# a narrower column than bigint where the model bounds it (a percentage, a position).
_ACCEPTED_TYPES = {
    "text": {"text"},
    "bigint": {"bigint", "integer"},
    "timestamptz": {"timestamp with time zone"},
}


def columns_of(servers: Servers, table: str) -> dict[str, str]:
    return dict(
        query(
            servers.admin_database_url,
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s",
            (table,),
        )
    )


@pytest.mark.parametrize(
    ("table", "struct", "fields", "others"),
    [
        (
            "orders",
            Order,
            HEAD_FIELDS,
            {*ORDER_STATE_COLUMNS, *BOOKKEEPING_COLUMNS, *ERASURE_BOUNDARY_COLUMNS},
        ),
        ("deliveries", Delivery, DELIVERY_FIELDS, {"order_uid"}),
        ("payments", Payment, PAYMENT_FIELDS, {"order_uid"}),
        ("items", Item, ITEM_FIELDS, {"order_uid", "position"}),
    ],
)
def test_each_table_has_exactly_its_part_of_the_model(
    servers: Servers,
    table: str,
    struct: type[msgspec.Struct],
    fields: tuple[str, ...],
    others: set[str],
) -> None:
    columns = columns_of(servers, table)

    assert set(columns) == set(fields) | others
    for name in fields:
        assert columns[name] in _ACCEPTED_TYPES[sql_type(struct, name)], (table, name)
