"""Rows that no reader can decode (a date outside years 1-9999, stored before validation
refused such dates) stop neither the outbox relay nor later writes to their order."""

from __future__ import annotations

import json
import random

import psycopg

from order_shared.events import decode_event
from order_shared.model import encode_order
from order_shared.topics import ORDER_EVENTS, ORDER_STATUS, ORDERS, ORDERS_DLQ
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, end_offsets, publish, read_from
from tests.store_io import order_row

BEYOND_YEAR_9999 = "10000-01-01T00:00:00Z"


def admin(servers: Servers, statement: str, params: tuple = ()) -> None:
    with psycopg.connect(servers.admin_database_url, autocommit=True) as connection:
        connection.execute(statement, params)


def test_the_relay_skips_an_event_it_cannot_decode_and_publishes_the_rest(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    admin(
        servers,
        "INSERT INTO order_events (order_uid, status, created_at, version)"
        " VALUES ('undecodable-event', 'created', %s, 1)",
        (BEYOND_YEAR_9999,),
    )
    order = generate_order(random.Random(41301))
    key = order.order_uid.encode()
    events_start = end_offsets(servers.kafka_bootstrap, ORDER_EVENTS)

    publish(servers.kafka_bootstrap, ORDERS, [Message(key, encode_order(order))])

    (event,) = read_from(servers.kafka_bootstrap, ORDER_EVENTS, events_start, count=1, key=key)
    assert decode_event(event.value).order_id == order.order_uid
    assert (
        read_from(
            servers.kafka_bootstrap,
            ORDER_EVENTS,
            events_start,
            count=1,
            key=b"undecodable-event",
            timeout=3,
        )
        == []
    )


def test_a_status_change_applies_to_an_order_whose_stored_date_has_no_utc_form(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(41302))
    uid = order.order_uid
    publish(servers.kafka_bootstrap, ORDERS, [Message(uid.encode(), encode_order(order))])
    eventually(lambda: order_row(servers.admin_database_url, uid))
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    admin(
        servers,
        "UPDATE orders SET date_created = %s WHERE order_uid = %s",
        (BEYOND_YEAR_9999, uid),
    )
    try:
        cancel = {"order_uid": uid, "status": "cancelled", "changed_at": "2026-11-21T10:00:00Z"}
        publish(
            servers.kafka_bootstrap,
            ORDER_STATUS,
            [Message(uid.encode(), json.dumps(cancel).encode())],
        )

        eventually(lambda: order_row(servers.admin_database_url, uid)[1] == "cancelled")
        assert end_offsets(servers.kafka_bootstrap, ORDERS_DLQ) == dlq_start
    finally:
        # The query replicas of this session read every changed order; leave none they
        # cannot decode.
        admin(servers, "DELETE FROM orders WHERE order_uid = %s", (uid,))
