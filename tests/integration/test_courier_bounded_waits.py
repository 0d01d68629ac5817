"""Bounded waits with real processes: a gateway that answers nothing holds a batch no
longer than its round, SIGTERM stops the courier mid-batch within a pod's grace period,
a holder of the dispatch lock frozen mid-transaction is ended by PostgreSQL, and the
resync reads what it looks at a page at a time."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from order_shared.topics import ORDER_EVENTS
from tests.courier_io import (
    CourierUnderTest,
    another_replica,
    consumed_everything,
    frozen_gateway,
    isolated_courier,
    orders_created_in_order,
    phone,
    publish_events,
    publish_orders,
    settled,
    unknown_orders_created,
)
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import committed_offsets, start_group_at_end

# Every status request runs into a 2 s timeout, one at a time: 30 events take 60 s.
SLOW_GATEWAY = {"GATEWAY_CONCURRENCY": "1", "GATEWAY_TIMEOUT_SECONDS": "2"}


def test_a_gateway_that_answers_nothing_holds_a_batch_no_longer_than_its_round(
    servers: Servers,
) -> None:
    """Failed on main: the batch waited for every request in turn (60 s), far past the 30 s
    given here (and a 500-record batch would take 250 s, past max.poll.interval.ms)."""
    with (
        frozen_gateway(servers) as gateway,
        isolated_courier(servers, gateway, GATEWAY_ROUND_SECONDS="5", **SLOW_GATEWAY) as courier,
    ):
        events = unknown_orders_created("slow-gateway", 30)
        publish_events(servers, ORDER_EVENTS, events)

        eventually(lambda: consumed_everything(servers, courier), timeout=30)
        queued = {order_id for (order_id,) in courier.rows("SELECT order_id FROM courier_retries")}
        assert queued == {event.order_id for event in events}


def test_sigterm_mid_batch_stops_the_courier_within_the_grace_period(servers: Servers) -> None:
    """Failed on main: SIGTERM was looked at only between batches, so the stop waited for
    the batch's 60 s of requests and the process was killed at 30 s (-9 != 0)."""
    with (
        frozen_gateway(servers) as gateway,
        isolated_courier(servers, gateway, GATEWAY_ROUND_SECONDS="200", **SLOW_GATEWAY) as courier,
    ):
        before = committed_offsets(servers.kafka_bootstrap, courier.group, courier.topic)
        # Published while it is down, the 30 events come in its first batch.
        courier.service.stop()
        publish_events(servers, ORDER_EVENTS, unknown_orders_created("mid-batch", 30))
        courier.service.restart()
        courier.service.wait_ready()
        eventually(lambda: courier.api.metric("courier_gateway_errors_total") >= 1, timeout=60)

        courier.service.stop(timeout=30)  # a pod's grace period; SIGKILL after it

        assert courier.service.process.returncode == 0
        assert "stopped" in courier.service.log_path.read_text()[-3000:]
        # Abandoned uncommitted: the batch is fetched again on restart.
        assert committed_offsets(servers.kafka_bootstrap, courier.group, courier.topic) == before


def _frozen(process: ServiceProcess) -> bool:
    return Path(f"/proc/{process.pid}/stat").read_text().split()[2] == "T"


def test_a_holder_of_the_dispatch_lock_frozen_mid_transaction_is_ended_by_the_server(
    servers: Servers, courier: CourierUnderTest
) -> None:
    """Failed on main: the frozen replica kept the dispatch lock, and the other replica's
    POST /api/v1/couriers waited for it until the client gave up (httpx.ReadTimeout)."""
    api = courier.api
    group = f"{courier.group}-holder"
    start_group_at_end(servers.kafka_bootstrap, group, courier.topic)
    holder = another_replica(
        courier,
        "courier-frozen-holder",
        CONSUMER_GROUP=group,
        FAILPOINT_FREEZE_HOLDING_DISPATCH_LOCK="1",
        DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS="2",
    )
    try:
        holder.wait_ready()
        (order,) = orders_created_in_order(22801, 1)
        publish_orders(servers, [order])  # both replicas look at it; the holder freezes
        eventually(lambda: _frozen(holder), timeout=30)

        added = api.request(
            "POST", "/api/v1/couriers", {"name": "Ada", "phone": phone(22801), "transport": "car"}
        )
        if added.status_code == 503:  # the lock wait gave up before the holder was ended
            added = api.request(
                "POST",
                "/api/v1/couriers",
                {"name": "Ada", "phone": phone(22801), "transport": "car"},
            )
        assert added.status_code == 201, added.text
        # The batch the frozen holder stalled goes on too: the order takes the courier.
        assert settled(courier, order.order_uid, "assigned") == ("assigned", added.json()["id"])
    finally:
        holder.thaw()
        holder.stop()


def test_the_resync_reads_held_orders_a_page_at_a_time(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """More held orders than a page: every one of them is looked at again by the resync."""
    with isolated_courier(servers, query_replicas[0]) as courier:
        ids = [f"held-{uuid.uuid4().hex[:8]}-{n}" for n in range(450)]
        courier.rows(
            "INSERT INTO waiting_orders (order_id, order_created_at)"
            " SELECT unnest(%s::text[]), now() RETURNING order_id",
            (ids,),
        )
        # None of them is known to the gateway: each resync look queues a retry.
        eventually(
            lambda: courier.rows("SELECT count(*) FROM courier_retries") == [(len(ids),)],
            timeout=60,
        )
        assert httpx.get(f"{courier.service.base_url}/readyz", timeout=5).status_code == 200
