"""The writer's erasures, against the real PostgreSQL: a tombstone on `orders` deletes the
order's rows in every order table in the batch's transaction, is fenced by its source
offset like content, and no replay of older content can bring the order back; content
from a later offset is a new order."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiokafka.structs import ConsumerRecord

from ingestor.batch_writer import WriteResult, create_staging_tables, write_batch
from ingestor.records import AcceptedErasure, AcceptedOrder, AcceptedStatus, Rejection
from ingestor.validation import validate_record
from order_shared.database import create_pool
from order_shared.model import Order, encode_order
from order_shared.topics import ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.harness import Servers
from tests.store_io import events_of, order_row, query

_ORDER_TABLES = ("orders", "deliveries", "payments", "items")


def record(
    key: bytes | None, value: bytes | None, *, offset: int, partition: int = 0, topic: str = ORDERS
) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=(),
    )


def content(order: Order, *, offset: int, partition: int = 0) -> AcceptedOrder:
    outcome = validate_record(
        record(order.order_uid.encode(), encode_order(order), offset=offset, partition=partition),
        1_048_576,
    )
    assert isinstance(outcome, AcceptedOrder), outcome
    return outcome


def tombstone(order_uid: str, *, offset: int, partition: int = 0) -> AcceptedErasure:
    outcome = validate_record(
        record(order_uid.encode(), None, offset=offset, partition=partition), 1_048_576
    )
    assert isinstance(outcome, AcceptedErasure), outcome
    return outcome


def status(order_uid: str, new_status: str) -> AcceptedStatus:
    value = msgspec.json.encode(
        {"order_uid": order_uid, "status": new_status, "changed_at": "2026-11-21T10:00:00Z"}
    )
    outcome = validate_record(
        record(order_uid.encode(), value, offset=0, topic=ORDER_STATUS), 1_048_576
    )
    assert isinstance(outcome, AcceptedStatus), outcome
    return outcome


@pytest.fixture
async def write(servers: Servers) -> AsyncIterator:
    pool = create_pool(
        servers.database_url("order_ingestor"), name="erasure-test", setup=create_staging_tables
    )
    await pool.open()

    async def write_records(*records, statuses: tuple[AcceptedStatus, ...] = ()) -> WriteResult:
        return await write_batch(pool, records, statuses)

    yield write_records
    await pool.close()


def rows_left(servers: Servers, order_uid: str) -> dict[str, int]:
    return {
        table: query(
            servers.admin_database_url,
            f"SELECT count(*) FROM {table} WHERE order_uid = %s",
            (order_uid,),
        )[0][0]
        for table in _ORDER_TABLES
    }


def erasure_row(servers: Servers, order_uid: str) -> tuple[int, int, int, int] | None:
    """(version, change_seq, source_partition, source_offset) of the remembered erasure."""
    rows = query(
        servers.admin_database_url,
        "SELECT version, change_seq, source_partition, source_offset"
        " FROM erased_orders WHERE order_uid = %s",
        (order_uid,),
    )
    return rows[0] if rows else None


def event_versions(servers: Servers, order_uid: str) -> list[tuple[str, int]]:
    """(status, version) of the order's events; whether each is published yet is the
    session ingestor's outbox relay's business, at its own pace."""
    return [
        (status, version) for status, version, _ in events_of(servers.admin_database_url, order_uid)
    ]


def an_order(seed: int) -> Order:
    return generate_order(random.Random(seed))


async def test_a_tombstone_erases_the_order_from_every_table_as_a_new_version(
    servers: Servers, write
) -> None:
    order = an_order(9801)
    await write(content(order, offset=10))
    assert rows_left(servers, order.order_uid)["items"] >= 1

    erased = await write(tombstone(order.order_uid, offset=11))

    assert rows_left(servers, order.order_uid) == dict.fromkeys(_ORDER_TABLES, 0)
    (change,) = erased.changes
    assert (change.order_uid, change.version, change.erased, change.document) == (
        order.order_uid,
        2,
        True,
        None,
    )
    assert erasure_row(servers, order.order_uid) == (2, change.seq, 0, 11)
    assert [
        (status, version)
        for status, version, _ in events_of(servers.admin_database_url, order.order_uid)
    ] == [("created", 1), ("erased", 2)]


async def test_older_content_replayed_after_an_erasure_does_not_bring_the_order_back(
    servers: Servers, write
) -> None:
    order = an_order(9802)
    first, second = content(order, offset=20), tombstone(order.order_uid, offset=21)
    await write(first, second)
    events_before = event_versions(servers, order.order_uid)

    replayed = await write(first)
    replayed_whole = await write(first, second)

    assert (replayed.changes, replayed.stale) == ([], 1)
    assert (replayed_whole.changes, replayed_whole.stale) == ([], 2)
    assert order_row(servers.admin_database_url, order.order_uid) is None
    assert event_versions(servers, order.order_uid) == events_before


async def test_an_erased_id_sent_again_from_a_later_offset_is_a_new_order(
    servers: Servers, write
) -> None:
    order = an_order(9803)
    await write(content(order, offset=30), statuses=(status(order.order_uid, "completed"),))
    await write(tombstone(order.order_uid, offset=31))
    again = msgspec.structs.replace(order, customer_id="sent-again")

    created = await write(content(again, offset=32))

    (change,) = created.changes
    assert (change.version, change.status, change.erased) == (4, "created", False)
    assert order_row(servers.admin_database_url, order.order_uid)[:2] == (4, "created")
    assert erasure_row(servers, order.order_uid) is None
    assert rows_left(servers, order.order_uid)["deliveries"] == 1


async def test_an_order_created_and_erased_in_one_batch_leaves_no_rows(
    servers: Servers, write
) -> None:
    order = an_order(9804)

    result = await write(content(order, offset=40), tombstone(order.order_uid, offset=41))

    assert [(c.version, c.erased) for c in result.changes] == [(2, True)]
    assert rows_left(servers, order.order_uid) == dict.fromkeys(_ORDER_TABLES, 0)
    assert erasure_row(servers, order.order_uid)[0] == 2


async def test_a_tombstone_for_an_order_never_seen_changes_nothing(servers: Servers, write) -> None:
    order_uid = "never-seen-9805"

    result = await write(tombstone(order_uid, offset=50))

    assert (result.changes, result.rejections, result.unchanged) == ([], [], 1)
    assert erasure_row(servers, order_uid) is None
    assert events_of(servers.admin_database_url, order_uid) == []


async def test_a_status_for_an_erased_order_waits_as_for_an_unknown_one(
    servers: Servers, write
) -> None:
    order = an_order(9806)
    await write(content(order, offset=60))
    await write(tombstone(order.order_uid, offset=61))

    held = await write(statuses=(status(order.order_uid, "cancelled"),))
    back = await write(content(order, offset=62))

    assert held.changes == []
    assert [(c.version, c.status) for c in back.changes] == [(4, "cancelled")]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "needs the order id as its key"),
        (b"not an id!", "is not an order id"),
        (b"\xff\xfe", "is not an order id"),
        (b"x" * 65, "is not an order id"),
    ],
)
def test_a_tombstone_without_a_valid_order_id_is_rejected(key: bytes | None, reason: str) -> None:
    outcome = validate_record(record(key, None, offset=0), 1_048_576)

    assert isinstance(outcome, Rejection)
    assert outcome.error_class == "InvalidTombstone"
    assert reason in outcome.reason


def test_a_tombstone_on_the_status_topic_is_still_an_empty_message() -> None:
    outcome = validate_record(record(b"9807", None, offset=0, topic=ORDER_STATUS), 1_048_576)

    assert isinstance(outcome, Rejection) and outcome.error_class == "EmptyMessage"
