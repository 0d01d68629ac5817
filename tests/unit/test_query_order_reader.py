"""Rows of the reader's statement fold back into exactly the ingested documents, however
PostgreSQL breaks ties and wherever a batch ends."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from order_shared.model import Order, encode_order
from producer.generator import generate_order
from query.informer.order_reader import fold_batches, fold_rows

NO_ITEM = (None,) * 11
NO_HEAD = (None,) * 30


def rows_of(order: Order, version: int = 1, seq: int = 1) -> list[tuple[Any, ...]]:
    """What the statement returns for one order: its head, then its lines."""
    d, p = order.delivery, order.payment
    head = (
        order.order_uid, -1, version, seq, "created",
        order.track_number, order.entry, order.locale, order.internal_signature,
        order.customer_id, order.delivery_service, order.shardkey, order.sm_id,
        order.date_created, order.oof_shard,
        d.name, d.phone, d.zip, d.city, d.address, d.region, d.email,
        p.transaction, p.request_id, p.currency, p.provider, p.amount, p.payment_dt, p.bank,
        p.delivery_cost, p.goods_total, p.custom_fee,
        *NO_ITEM,
    )  # fmt: skip
    lines = [
        (order.order_uid, position, *NO_HEAD, *msgspec.structs.astuple(item))
        for position, item in enumerate(order.items)
    ]
    assert len(head) == 43 and all(len(line) == 43 for line in lines)
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
