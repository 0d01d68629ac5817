"""Re-delivery changes nothing; new content is a new version, announced, with an event;
statuses follow created → cancelled | completed, and may arrive before their order."""

from __future__ import annotations

import json
import random
import time

import msgspec
from aiokafka.partitioner import DefaultPartitioner

from order_shared.events import decode_event
from order_shared.model import encode_order
from order_shared.topics import ORDER_EVENTS, ORDER_STATUS, ORDERS, ORDERS_DLQ
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, end_offsets, publish, read_from
from tests.store_io import events_of, listening_to_changes, order_row, query


def status_message(order_uid: str, status: str) -> Message:
    value = json.dumps(
        {"order_uid": order_uid, "status": status, "changed_at": "2026-11-21T10:00:00Z"}
    ).encode()
    return Message(order_uid.encode(), value)


def test_identical_redelivery_changes_nothing(servers: Servers, ingestor: ServiceProcess) -> None:
    order = generate_order(random.Random(6001))
    message = Message(order.order_uid.encode(), encode_order(order))

    with listening_to_changes(servers.redis_url) as changes:
        publish(servers.kafka_bootstrap, ORDERS, [message])
        (created,) = eventually(lambda: changes.of(order.order_uid))
        first = order_row(servers.admin_database_url, order.order_uid)

        # A marker published after the repeat: once it is announced, the repeat was processed.
        marker = generate_order(random.Random(6002))
        publish(
            servers.kafka_bootstrap,
            ORDERS,
            [message, Message(order.order_uid.encode(), encode_order(marker))],
        )
        eventually(lambda: changes.of(marker.order_uid))

        assert order_row(servers.admin_database_url, order.order_uid) == first
        assert changes.of(order.order_uid) == [created]  # nothing after the first
    assert created.version == 1
    assert [
        (status, version)
        for status, version, _ in events_of(servers.admin_database_url, order.order_uid)
    ] == [("created", 1)]


def test_changed_content_is_a_new_version_announced_with_an_event(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(6003))
    key = order.order_uid.encode()
    events_start = end_offsets(servers.kafka_bootstrap, ORDER_EVENTS)
    publish(servers.kafka_bootstrap, ORDERS, [Message(key, encode_order(order))])
    eventually(lambda: order_row(servers.admin_database_url, order.order_uid))

    changed = msgspec.structs.replace(order, customer_id="changed-customer")
    with listening_to_changes(servers.redis_url) as changes:
        publish(servers.kafka_bootstrap, ORDERS, [Message(key, encode_order(changed))])
        # The creation's own announcement may still arrive after the listener subscribed.
        (announcement,) = eventually(
            lambda: [a for a in changes.of(order.order_uid) if a.version > 1]
        )

    assert announcement.version == 2
    assert announcement.document == encode_order(changed)
    assert order_row(servers.admin_database_url, order.order_uid)[0] == 2
    events = [
        decode_event(m.value)
        for m in read_from(servers.kafka_bootstrap, ORDER_EVENTS, events_start, count=2, key=key)
    ]
    assert [(e.status, e.version) for e in events] == [("created", 1), ("created", 2)]
    assert all(e.created_at == order.date_created for e in events)


def test_several_messages_for_one_order_in_one_batch_apply_in_partition_order(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(6004))
    versions = [msgspec.structs.replace(order, customer_id=f"customer-{n}") for n in range(5)]
    key = order.order_uid.encode()

    publish(servers.kafka_bootstrap, ORDERS, [Message(key, encode_order(v)) for v in versions])

    eventually(lambda: (order_row(servers.admin_database_url, order.order_uid) or (0,))[0] == 5)
    (customer,) = query(
        servers.admin_database_url,
        "SELECT customer_id FROM orders WHERE order_uid = %s",
        (order.order_uid,),
    )[0]
    assert customer == "customer-4"


def test_status_lifecycle_and_an_illegal_transition(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(6005))
    uid = order.order_uid
    publish(servers.kafka_bootstrap, ORDERS, [Message(uid.encode(), encode_order(order))])
    eventually(lambda: order_row(servers.admin_database_url, uid))
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)

    with listening_to_changes(servers.redis_url) as changes:
        publish(
            servers.kafka_bootstrap,
            ORDER_STATUS,
            [
                status_message(uid, "cancelled"),
                status_message(uid, "cancelled"),  # a repeat: no-op, not an error
                status_message(uid, "completed"),  # cancelled is terminal
            ],
        )
        (rejected,) = read_from(
            servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=1, key=uid.encode()
        )
        (announcement,) = eventually(lambda: [a for a in changes.of(uid) if a.version > 1])

    headers = dict(rejected.headers)
    assert headers["error.class"] == b"IllegalStatusTransition"
    assert b"cancelled" in headers["error.message"] and b"completed" in headers["error.message"]
    assert headers["source.topic"] == ORDER_STATUS.encode()
    assert order_row(servers.admin_database_url, uid)[:2] == (2, "cancelled")
    assert (announcement.status, announcement.version) == ("cancelled", 2)
    assert [(s, v) for s, v, _ in events_of(servers.admin_database_url, uid)] == [
        ("created", 1),
        ("cancelled", 2),
    ]


def test_a_status_that_arrives_before_its_order_is_applied_when_the_order_arrives(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(6006))
    uid = order.order_uid
    publish(servers.kafka_bootstrap, ORDER_STATUS, [status_message(uid, "completed")])
    eventually(
        lambda: (
            query(
                servers.admin_database_url,
                "SELECT status FROM pending_status_changes WHERE order_uid = %s",
                (uid,),
            )
            == [("completed",)]
        )
    )
    assert order_row(servers.admin_database_url, uid) is None

    publish(servers.kafka_bootstrap, ORDERS, [Message(uid.encode(), encode_order(order))])

    eventually(lambda: order_row(servers.admin_database_url, uid))
    assert order_row(servers.admin_database_url, uid)[:2] == (2, "completed")
    assert (
        query(
            servers.admin_database_url,
            "SELECT 1 FROM pending_status_changes WHERE order_uid = %s",
            (uid,),
        )
        == []
    )
    events = eventually(
        lambda: [e for e in events_of(servers.admin_database_url, uid) if e[2]] or None
    )
    assert [(s, v) for s, v, _ in events_of(servers.admin_database_url, uid)] == [
        ("created", 1),
        ("completed", 2),
    ]
    assert events


def test_unsent_outbox_rows_are_published_and_marked_sent(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    """The state a crash between a commit and the relay leaves behind."""
    events_start = end_offsets(servers.kafka_bootstrap, ORDER_EVENTS)
    query(
        servers.admin_database_url,
        "INSERT INTO order_events (order_uid, status, created_at, version)"
        " VALUES ('left-behind-1', 'created', '2026-01-01T00:00:00Z', 7) RETURNING id",
    )

    eventually(lambda: events_of(servers.admin_database_url, "left-behind-1")[0][2], timeout=30)
    (published,) = read_from(
        servers.kafka_bootstrap, ORDER_EVENTS, events_start, count=1, key=b"left-behind-1"
    )
    event = decode_event(published.value)
    assert (event.order_id, event.status, event.version) == ("left-behind-1", "created", 7)


def test_each_orders_events_are_in_order_on_the_partition_its_key_hashes_to(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    orders = [generate_order(random.Random(6100 + n)) for n in range(12)]
    events_start = end_offsets(servers.kafka_bootstrap, ORDER_EVENTS)
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(o.order_uid.encode(), encode_order(o)) for o in orders],
    )
    publish(
        servers.kafka_bootstrap,
        ORDER_STATUS,
        [status_message(o.order_uid, "completed") for o in orders[::2]],
    )

    uids = {o.order_uid.encode() for o in orders}

    def our_events() -> list[Message]:
        read = read_from(servers.kafka_bootstrap, ORDER_EVENTS, events_start, count=18)
        found = [event for event in read if event.key in uids]
        assert len(found) == 18  # a creation for each order, a completion for six
        return found

    events = eventually(our_events, timeout=40)

    partitions = sorted(events_start)
    by_order: dict[bytes, list[tuple[int | None, int]]] = {}
    for event in events:
        by_order.setdefault(event.key, []).append(
            (event.partition, decode_event(event.value).version)
        )
    for key, placed in by_order.items():
        expected_partition = DefaultPartitioner()(key, partitions, partitions)
        assert [partition for partition, _ in placed] == [expected_partition] * len(placed)
        assert [version for _, version in placed] == list(range(1, len(placed) + 1))
    assert len({partition for placed in by_order.values() for partition, _ in placed}) > 1


def test_the_producers_trace_context_reaches_the_announcement(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(6007))
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"

    with listening_to_changes(servers.redis_url) as changes:
        publish(
            servers.kafka_bootstrap,
            ORDERS,
            [
                Message(
                    order.order_uid.encode(),
                    encode_order(order),
                    (("traceparent", traceparent.encode()),),
                )
            ],
        )
        (announcement,) = eventually(lambda: changes.of(order.order_uid))

    assert announcement.traceparent is not None
    assert announcement.traceparent.split("-")[1] == trace_id


def test_an_unrecorded_trace_stays_out_of_the_announcement_which_says_when_it_committed(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(9606))
    unrecorded = "00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-00"
    published_at = time.time()

    with listening_to_changes(servers.redis_url) as changes:
        publish(
            servers.kafka_bootstrap,
            ORDERS,
            [
                Message(
                    order.order_uid.encode(),
                    encode_order(order),
                    (("traceparent", unrecorded.encode()),),
                )
            ],
        )
        (announcement,) = eventually(lambda: changes.of(order.order_uid))

    # No replica would record a span for it: nothing to carry.
    assert announcement.traceparent is None
    assert announcement.committed_at is not None
    assert published_at <= announcement.committed_at <= time.time()
