"""The order's tables, declared once, from the model.

A part of the order document is stored in a table whose columns are the part's fields,
named and ordered as in its msgspec Struct: `orders` holds the order's own fields,
`deliveries` the delivery's and `payments` the payment's (each after `order_uid`), and
`items` each item's (after `order_uid` and `position`). The ingestor's COPY lines and the
query service's reads are built from these tuples, so a new field is one change to the
model and one migration; `tests/integration/test_order_tables.py` compares them with the
real schema.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from order_shared.model import Delivery, Item, Order, Payment

# The parts of an order that live in tables of their own.
NESTED_PARTS = ("delivery", "payment", "items")


def field_names(struct: type[msgspec.Struct]) -> tuple[str, ...]:
    return tuple(field.name for field in msgspec.structs.fields(struct))


ORDER_FIELDS = field_names(Order)
# The order's own fields, in `orders`; order_uid first.
HEAD_FIELDS = tuple(name for name in ORDER_FIELDS if name not in NESTED_PARTS)
DELIVERY_FIELDS = field_names(Delivery)
PAYMENT_FIELDS = field_names(Payment)
ITEM_FIELDS = field_names(Item)
# What `orders` keeps beside the document: written by the ingestor with every change.
ORDER_STATE_COLUMNS = (
    "content_hash",
    "status",
    "status_changed_at",
    "version",
    "change_seq",
    "source_partition",
    "source_offset",
)
# Kept by PostgreSQL itself (defaults), read by nobody who rebuilds the document.
BOOKKEEPING_COLUMNS = ("ingested_at", "updated_at")
# Set by the writer apart from the COPY of a change: when the id was sent again after an
# erasure, that erasure's time, the boundary its late status changes are measured against.
ERASURE_BOUNDARY_COLUMNS = ("last_erased_at",)

_SQL_TYPES = {str: "text", int: "bigint", datetime: "timestamptz"}


def sql_type(struct: type[msgspec.Struct], name: str) -> str:
    """The PostgreSQL type a field of `struct` is stored as (for typed NULLs)."""
    (field,) = [field for field in msgspec.structs.fields(struct) if field.name == name]
    annotation = field.type
    base = getattr(annotation, "__origin__", annotation)  # Annotated[int, Meta] -> int
    return _SQL_TYPES[base]
