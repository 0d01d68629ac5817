"""Rebalances, zombies and replays with real ingestor processes: no record fetched around a
rebalance is lost, an ingestor that lost its partitions cannot overwrite what their new
owner wrote, and a replay of applied records changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
import psycopg

from order_shared.model import encode_order
from order_shared.topics import ORDERS
from tests.harness import Servers, ServiceProcess, eventually, free_port, service_env
from tests.kafka_io import Message, committed_offsets, end_offsets, group_members, publish
from tests.metrics_io import metric_total
from tests.sample_orders import order_messages, sample_orders
from tests.store_io import all_stored_once, events_of, listening_to_changes, order_row, query

GROUP = "order-ingestor"


def customer_of(servers: Servers, order_uid: str) -> str:
    ((customer,),) = query(
        servers.admin_database_url,
        "SELECT customer_id FROM orders WHERE order_uid = %s",
        (order_uid,),
    )
    return customer


def extra_ingestor(servers: Servers, name: str) -> ServiceProcess:
    """An ingestor in the same group, not waited for: it may start while PostgreSQL is down."""
    return ServiceProcess(
        "order-ingestor", name, free_port(), service_env(servers, "order_ingestor")
    )


@contextmanager
def every_order_write_failing(servers: Servers) -> Iterator[None]:
    """PostgreSQL answers every insert into `orders` with a serialization failure, an error
    a writer must wait out; each attempt fails at once, so the ingestor spends its time in
    the waits between attempts, where a rebalance finds it."""
    with psycopg.connect(servers.admin_database_url, autocommit=True) as connection:
        connection.execute(
            "CREATE FUNCTION refuse_order_writes() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'refused for a test' USING ERRCODE = '40001'; END $$"
        )
        connection.execute(
            "CREATE TRIGGER refuse_order_writes BEFORE INSERT ON orders"
            " FOR EACH STATEMENT EXECUTE FUNCTION refuse_order_writes()"
        )
        try:
            yield
        finally:
            connection.execute("DROP TRIGGER refuse_order_writes ON orders")
            connection.execute("DROP FUNCTION refuse_order_writes()")


def test_no_record_is_lost_when_the_group_rebalances_while_writes_wait(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    before, during, after = (
        sample_orders(41101, 30),
        sample_orders(41102, 30),
        sample_orders(41103, 10),
    )
    # Small batches: while the first waits, the next one is already fetched and validated,
    # so the only poll left is the one of the wait itself.
    ingestor.restart(BATCH_MAX_RECORDS="10")
    ingestor.wait_ready()
    try:
        with every_order_write_failing(servers):
            retries = metric_total(ingestor, "ingestor_write_retries_total")
            publish(servers.kafka_bootstrap, ORDERS, order_messages(before))
            # Waits grow to seconds: the ingestor now spends nearly all its time in them.
            eventually(
                lambda: metric_total(ingestor, "ingestor_write_retries_total") >= retries + 6, 60
            )
            joining = extra_ingestor(servers, "ingestor-joining")
            try:
                eventually(
                    lambda: group_members(servers.kafka_bootstrap, GROUP) == ("Stable", 2), 60
                )
                publish(servers.kafka_bootstrap, ORDERS, order_messages(during))
            finally:
                joining.stop()
            eventually(lambda: group_members(servers.kafka_bootstrap, GROUP) == ("Stable", 1), 60)
            # Two more attempts after the rebalance: the remaining ingestor has polled its
            # fresh, unpaused partitions in a wait at least once.
            settled = metric_total(ingestor, "ingestor_write_retries_total")
            eventually(
                lambda: metric_total(ingestor, "ingestor_write_retries_total") >= settled + 2, 60
            )
        publish(servers.kafka_bootstrap, ORDERS, order_messages(after))

        assert eventually(
            lambda: all_stored_once(servers.admin_database_url, before + during + after), timeout=90
        )
    finally:
        ingestor.restart(BATCH_MAX_RECORDS="2000")
        ingestor.wait_ready()


def test_an_ingestor_that_lost_its_partitions_cannot_overwrite_newer_content(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    (order,) = sample_orders(41104, 1)
    newer = msgspec.structs.replace(order, customer_id="written-by-the-new-owner")
    key = order.order_uid.encode()
    ingestor.stop()
    zombie = extra_ingestor(servers, "ingestor-zombie")
    try:
        zombie.wait_ready()
        servers.stop("postgres")
        try:
            publish(servers.kafka_bootstrap, ORDERS, [Message(key, encode_order(order))])
            # The zombie holds the older content and waits for the database ...
            eventually(lambda: metric_total(zombie, "ingestor_write_retries_total") > 0)
            zombie.freeze()  # ... and stops answering: the group expels it.
            ingestor.restart()
            eventually(lambda: group_members(servers.kafka_bootstrap, GROUP) == ("Stable", 1), 90)
            publish(servers.kafka_bootstrap, ORDERS, [Message(key, encode_order(newer))])
        finally:
            servers.start("postgres")
        ingestor.wait_ready()
        eventually(lambda: (order_row(servers.admin_database_url, order.order_uid) or (0,))[0] == 2)

        zombie.thaw()
        # Whatever it did with its old batch (dropped it, or found it stale), it did it.
        eventually(
            lambda: (
                sum(
                    metric_total(zombie, name)
                    for name in (
                        "ingestor_batches_dropped_total",
                        "ingestor_orders_stale_total",
                        "ingestor_orders_written_total",
                    )
                )
                > 0
            ),
            timeout=60,
        )
        eventually(lambda: group_members(servers.kafka_bootstrap, GROUP) == ("Stable", 2), 60)
    finally:
        zombie.thaw()
        zombie.stop()

    assert order_row(servers.admin_database_url, order.order_uid)[0] == 2
    assert customer_of(servers, order.order_uid) == "written-by-the-new-owner"


def test_a_replay_of_two_contents_of_one_order_changes_nothing(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    (order,) = sample_orders(41105, 1)
    newer = msgspec.structs.replace(order, customer_id="the-newer-content")
    key = order.order_uid.encode()
    start = end_offsets(servers.kafka_bootstrap, ORDERS)
    ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="60")
    ingestor.wait_ready()
    try:
        publish(
            servers.kafka_bootstrap,
            ORDERS,
            [Message(key, encode_order(order)), Message(key, encode_order(newer))],
        )
        row = eventually(
            lambda: (
                (order_row(servers.admin_database_url, order.order_uid) or (0,))[0] == 2
                and order_row(servers.admin_database_url, order.order_uid)
            )
        )
        ingestor.kill()  # both contents committed, neither offset
    finally:
        ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="0")
    end = end_offsets(servers.kafka_bootstrap, ORDERS)
    (partition,) = [p for p in end if end[p] != start.get(p, 0)]

    with listening_to_changes(servers.redis_url) as changes:
        ingestor.wait_ready()
        eventually(
            lambda: (
                committed_offsets(servers.kafka_bootstrap, GROUP, ORDERS).get(partition, 0)
                >= end[partition]
            ),
            timeout=60,
        )
        assert changes.of(order.order_uid) == []
    assert order_row(servers.admin_database_url, order.order_uid) == row
    assert customer_of(servers, order.order_uid) == "the-newer-content"
    assert [(s, v) for s, v, _ in events_of(servers.admin_database_url, order.order_uid)] == [
        ("created", 1),
        ("created", 2),
    ]
    assert metric_total(ingestor, "ingestor_orders_stale_total") >= 2
