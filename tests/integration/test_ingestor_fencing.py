"""The writer's fence, against the real PostgreSQL: a record applies only if it comes from
a later offset of its partition than the content its order holds, so replays and batches
written late by an ingestor that lost the partition change nothing."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import msgspec
import psycopg
import pytest
from aiokafka.structs import ConsumerRecord

from ingestor.batch_writer import WriteResult, create_staging_tables, write_batch
from ingestor.records import AcceptedOrder
from ingestor.validation import validate_record
from order_shared.database import create_pool
from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.harness import Servers
from tests.store_io import events_of, query


def record(order: Order, *, partition: int, offset: int) -> ConsumerRecord:
    value = encode_order(order)
    return ConsumerRecord(
        topic=ORDERS,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=order.order_uid.encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(order.order_uid),
        serialized_value_size=len(value),
        headers=(),
    )


def accepted(order: Order, *, partition: int = 0, offset: int) -> AcceptedOrder:
    outcome = validate_record(record(order, partition=partition, offset=offset), 1_048_576)
    assert isinstance(outcome, AcceptedOrder), outcome
    return outcome


@pytest.fixture
async def write(servers: Servers) -> AsyncIterator:
    pool = create_pool(
        servers.database_url("order_ingestor"), name="fencing-test", setup=create_staging_tables
    )
    await pool.open()

    async def write_orders(*orders: AcceptedOrder) -> WriteResult:
        return await write_batch(pool, orders)

    yield write_orders
    await pool.close()


def stored(servers: Servers, order_uid: str) -> tuple[int, str, int, int]:
    """(version, customer_id, source_partition, source_offset) of the order."""
    ((row),) = query(
        servers.admin_database_url,
        "SELECT version, customer_id, source_partition, source_offset"
        " FROM orders WHERE order_uid = %s",
        (order_uid,),
    )
    return row


def two_contents(seed: int) -> tuple[Order, Order]:
    order = generate_order(random.Random(seed))
    return order, msgspec.structs.replace(order, customer_id="newer-content")


async def test_a_record_from_an_earlier_offset_never_overwrites_newer_content(
    servers: Servers, write
) -> None:
    older, newer = two_contents(8101)
    await write(accepted(newer, offset=11))

    late = await write(accepted(older, offset=10))

    assert (late.changes, late.stale) == ([], 1)
    assert stored(servers, older.order_uid) == (1, "newer-content", 0, 11)


async def test_a_replay_of_applied_records_changes_nothing(servers: Servers, write) -> None:
    first, second = two_contents(8102)
    batch = (accepted(first, offset=20), accepted(second, offset=21))
    applied = await write(*batch)
    events_before = events_of(servers.admin_database_url, first.order_uid)

    replayed = await write(*batch)

    assert [change.version for change in applied.changes] == [2]
    assert (replayed.changes, replayed.stale, replayed.unchanged) == ([], 2, 0)
    assert stored(servers, first.order_uid) == (2, "newer-content", 0, 21)
    assert events_of(servers.admin_database_url, first.order_uid) == events_before


async def test_content_from_another_partition_is_applied_as_the_newest_arrival(
    servers: Servers, write
) -> None:
    # After the topic gains partitions an id may move: offsets of two partitions do not
    # compare, so what arrives last wins, as without a fence.
    older, newer = two_contents(8103)
    await write(accepted(older, partition=0, offset=500))

    moved = await write(accepted(newer, partition=2, offset=3))

    assert [change.version for change in moved.changes] == [2]
    assert stored(servers, older.order_uid) == (2, "newer-content", 2, 3)


@pytest.mark.parametrize("order_uid", ["NULL", "null", "Null"])
async def test_ids_that_are_keywords_of_array_literals_are_created_and_updated(
    servers: Servers, write, order_uid: str
) -> None:
    order = msgspec.structs.replace(generate_order(random.Random(8104)), order_uid=order_uid)
    with psycopg.connect(servers.admin_database_url) as connection:
        connection.execute("DELETE FROM orders WHERE order_uid = %s", (order_uid,))
    created = await write(accepted(order, offset=1))
    changed = msgspec.structs.replace(order, customer_id="newer-content")

    updated = await write(accepted(changed, offset=2))

    assert [change.version for change in created.changes] == [1]
    assert [change.version for change in updated.changes] == [2]
    assert stored(servers, order_uid) == (2, "newer-content", 0, 2)
