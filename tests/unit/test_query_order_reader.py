"""Rows of the reader's statement fold back into exactly the ingested documents, however
PostgreSQL breaks ties and wherever a batch ends."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import astuple

from order_shared.model import Order, encode_order
from order_shared.order_tables import (
    DELIVERY_FIELDS,
    ITEM_FIELDS,
    NESTED_PARTS,
    ORDER_FIELDS,
    PAYMENT_FIELDS,
)
from producer.generator import generate_order
from query.informer.order_reader import fold_batches, fold_rows

NO_ITEM = (None,) * len(ITEM_FIELDS)
# The order's own fields, its nested parts as NULL, the delivery's and the payment's.
NO_HEAD = (None,) * (len(ORDER_FIELDS) + len(DELIVERY_FIELDS) + len(PAYMENT_FIELDS))
WIDTH = 5 + len(NO_HEAD) + len(NO_ITEM)


def rows_of(order: Order, version: int = 1, seq: int = 1) -> list[tuple[Any, ...]]:
    """What the statement returns for one order: its head, then its lines."""
    own = tuple(
        None if name in NESTED_PARTS else value
        for name, value in zip(ORDER_FIELDS, astuple(order), strict=True)
    )
    head = (
        order.order_uid, -1, version, seq, "created",
        *own, *astuple(order.delivery), *astuple(order.payment), *NO_ITEM,
    )  # fmt: skip
    lines = [
        (order.order_uid, position, None, None, None, *NO_HEAD, *astuple(item))
        for position, item in enumerate(order.items)
    ]
    assert len(head) == WIDTH and all(len(line) == WIDTH for line in lines)
    return [head, *lines]


def sample_orders(seed: int, count: int) -> list[Order]:
    rng = random.Random(seed)
    return sorted((generate_order(rng) for _ in range(count)), key=lambda o: o.order_uid)


def test_rows_fold_into_the_exact_documents() -> None:
    orders = sample_orders(1, 20)
    rows = [row for order in orders for row in rows_of(order, version=3, seq=9)]

    folded = fold_rows(rows)

    assert [uid for uid, _ in folded] == [order.order_uid for order in orders]
    for order, (_, entry) in zip(orders, folded, strict=True):
        assert entry.body == encode_order(order)
        assert (entry.version, entry.seq, entry.status) == (3, 9, "created")


@given(st.randoms(use_true_random=False))
def test_ties_within_an_order_may_come_in_any_order(rng: random.Random) -> None:
    orders = sample_orders(2, 5)
    rows: list[tuple[Any, ...]] = []
    for order in orders:
        group = rows_of(order)
        rng.shuffle(group)  # ORDER BY order_uid alone leaves the rest to the plan
        rows.extend(group)

    assert [entry.body for _, entry in fold_rows(rows)] == [encode_order(o) for o in orders]


async def _batches(rows: Sequence[tuple[Any, ...]], cuts: list[int]) -> AsyncIterator[list]:
    start = 0
    for cut in [*sorted(cuts), len(rows)]:
        if cut > start:
            yield list(rows[start:cut])
            start = cut


@given(st.lists(st.integers(0, 60), max_size=8))
async def test_an_order_straddling_batches_is_folded_once(cuts: list[int]) -> None:
    orders = sample_orders(3, 10)
    rows = [row for order in orders for row in rows_of(order)]

    folded = [entry async for batch in fold_batches(_batches(rows, cuts)) for entry in batch]

    assert [entry.body for _, entry in folded] == [encode_order(o) for o in orders]
