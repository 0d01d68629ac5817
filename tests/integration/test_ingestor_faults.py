"""Faults, with real processes stopped and killed: the ingestor loses nothing, writes
nothing twice, dead-letters nothing for a transient error, and resumes by itself."""

from __future__ import annotations

import httpx

from order_shared.model import Order
from order_shared.topics import ORDERS, ORDERS_DLQ
from tests.harness import Servers, ServiceProcess, eventually, start_ingestor
from tests.kafka_io import (
    committed_offsets,
    end_offsets,
    group_members,
    publish,
    publish_and_locate,
)
from tests.metrics_io import metric_total
from tests.sample_orders import order_messages, sample_orders
from tests.store_io import all_stored_once, events_of, listening_to_changes, order_row, query

GROUP = "order-ingestor"


def stored(servers: Servers, batch: list[Order]) -> list[tuple[str, int]]:
    return query(
        servers.admin_database_url,
        "SELECT order_uid, version FROM orders WHERE order_uid = ANY(%s)",
        ([order.order_uid for order in batch],),
    )


def announce_failures(ingestor: ServiceProcess) -> float:
    return metric_total(ingestor, "ingestor_announce_failures_total")


def write_retries(ingestor: ServiceProcess) -> float:
    return metric_total(ingestor, "ingestor_write_retries_total")


def test_postgres_outage_pauses_consumption_and_it_resumes_by_itself(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    batch = sample_orders(7001, 20)
    committed_before = committed_offsets(servers.kafka_bootstrap, GROUP, ORDERS)
    dlq_before = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    retries_before = write_retries(ingestor)

    servers.stop("postgres")
    try:
        publish(servers.kafka_bootstrap, ORDERS, order_messages(batch))
        # Several attempts, each followed by a wait with the partitions paused.
        eventually(lambda: write_retries(ingestor) >= retries_before + 2, timeout=120)

        assert ingestor.process.poll() is None
        assert committed_offsets(servers.kafka_bootstrap, GROUP, ORDERS) == committed_before
        assert end_offsets(servers.kafka_bootstrap, ORDERS_DLQ) == dlq_before
    finally:
        servers.start("postgres")

    assert eventually(lambda: all_stored_once(servers.admin_database_url, batch), timeout=60)
    assert end_offsets(servers.kafka_bootstrap, ORDERS_DLQ) == dlq_before


def test_redis_outage_does_not_stop_writes_and_the_sequence_shows_the_gap(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    first, second = sample_orders(7002, 2)
    failures_before = announce_failures(ingestor)

    servers.stop("redis")
    try:
        publish(servers.kafka_bootstrap, ORDERS, order_messages([first]))
        written = eventually(lambda: order_row(servers.admin_database_url, first.order_uid))
        eventually(lambda: announce_failures(ingestor) > failures_before)
    finally:
        servers.start("redis")

    with listening_to_changes(servers.redis_url) as changes:
        publish(servers.kafka_bootstrap, ORDERS, order_messages([second]))
        (announcement,) = eventually(lambda: changes.of(second.order_uid), timeout=30)

    assert changes.of(first.order_uid) == []  # lost with Redis ...
    assert announcement.seq > written[2]  # ... and a replica that saw less sees the gap


def test_broker_restart_loses_nothing_and_duplicates_nothing(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    before, after = sample_orders(7003, 50), sample_orders(7004, 50)
    publish(servers.kafka_bootstrap, ORDERS, order_messages(before))

    servers.stop("kafka")
    servers.start("kafka")
    publish(servers.kafka_bootstrap, ORDERS, order_messages(after))

    assert eventually(
        lambda: all_stored_once(servers.admin_database_url, before + after), timeout=90
    )
    assert ingestor.process.poll() is None


def test_sigterm_stops_cleanly(servers: Servers, ingestor: ServiceProcess) -> None:
    ingestor.stop(timeout=30)

    assert ingestor.process.returncode == 0
    assert "stopped" in ingestor.log_path.read_text()[-2000:]
    ingestor.restart()
    ingestor.wait_ready()


def test_kill_between_database_commit_and_offset_commit_neither_loses_nor_duplicates(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    (order,) = sample_orders(7005, 1)
    ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="60")
    ingestor.wait_ready()
    try:
        partition, offset = publish_and_locate(
            servers.kafka_bootstrap, ORDERS, order_messages([order])[0]
        )
        row = eventually(lambda: order_row(servers.admin_database_url, order.order_uid), timeout=30)

        ingestor.kill()  # SIGKILL: the row is committed, the offset is not

        assert committed_offsets(servers.kafka_bootstrap, GROUP, ORDERS).get(partition, 0) <= offset
    finally:
        ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="0")
        ingestor.wait_ready()

    with listening_to_changes(servers.redis_url) as changes:
        eventually(
            lambda: (
                committed_offsets(servers.kafka_bootstrap, GROUP, ORDERS).get(partition, 0) > offset
            ),
            timeout=60,
        )
        assert changes.of(order.order_uid) == []  # the replay changed nothing
    assert order_row(servers.admin_database_url, order.order_uid) == row
    assert [(s, v) for s, v, _ in events_of(servers.admin_database_url, order.order_uid)] == [
        ("created", 1)
    ]


def test_two_ingestors_in_one_group_share_the_work_with_the_same_result(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    second = start_ingestor(servers, "ingestor-2")
    try:
        eventually(lambda: group_members(servers.kafka_bootstrap, GROUP) == ("Stable", 2), 60)
        batch = sample_orders(7006, 300)
        publish(servers.kafka_bootstrap, ORDERS, order_messages(batch))

        assert eventually(lambda: all_stored_once(servers.admin_database_url, batch), timeout=60)
        written_by_second = [
            line
            for line in httpx.get(f"{second.base_url}/metrics").text.splitlines()
            if line.startswith("ingestor_orders_written_total")
        ]
        assert written_by_second and float(written_by_second[0].split()[1]) > 0
    finally:
        second.stop()

    (late,) = sample_orders(7007, 1)
    publish(servers.kafka_bootstrap, ORDERS, order_messages([late]))
    assert eventually(lambda: all_stored_once(servers.admin_database_url, [late]), timeout=60)
