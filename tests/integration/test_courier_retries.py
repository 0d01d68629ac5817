"""Retries that end, on the real stack: an order whose answers stay unusable is parked with
its reason, a retry round keeps its orders to itself until it has put them back, and a
record whose key and value disagree is rejected like any other bad record."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from order_shared.events import OrderEvent, encode_event
from order_shared.topics import ORDER_EVENTS
from tests.courier_io import (
    CourierUnderTest,
    consumed_everything,
    frozen_gateway,
    isolated_courier,
    publish_events,
    unknown_orders_created,
)
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, publish


def test_an_order_whose_answers_stay_unusable_is_parked_with_its_reason(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """Failed on main: the order was asked about for ever and stayed `pending`
    ('pending' != 'parked')."""
    with isolated_courier(servers, query_replicas[0], RETRY_MAX_ATTEMPTS="3") as courier:
        api = courier.api
        (event,) = unknown_orders_created("never-ingested", 1)
        publish_events(servers, ORDER_EVENTS, [event])

        def parked() -> dict:
            found = api.assignment(event.order_id)
            assert found is not None and found["state"] == "parked", found
            return found

        found = eventually(parked, timeout=60)
        assert "not_found" in found["reason"]
        assert api.metric('courier_retries_parked_total{reason="not_found"}') == 1
        eventually(lambda: api.metric("courier_parked_orders") == 1)
        (attempts,) = courier.rows("SELECT attempts FROM courier_retries")[0]
        # Parked: no longer asked about.
        time.sleep(2)
        assert courier.rows("SELECT attempts FROM courier_retries") == [(attempts,)]

        # An event naming it again starts its count afresh.
        publish_events(servers, ORDER_EVENTS, [event])
        eventually(lambda: api.assignment(event.order_id)["state"] in ("pending", "parked"))
        eventually(lambda: api.metric('courier_retries_parked_total{reason="not_found"}') == 2)


def test_a_record_whose_key_and_value_name_two_orders_is_kept_as_rejected(
    servers: Servers, courier: CourierUnderTest
) -> None:
    """Failed on main: the key's order was looked at, pinned to the value's version, and
    nothing was kept as rejected (0 rows != 1)."""
    key_id, value_id = f"key-{uuid.uuid4().hex[:8]}", f"value-{uuid.uuid4().hex[:8]}"
    event = OrderEvent(value_id, "created", datetime.now(UTC), 7)
    publish(servers.kafka_bootstrap, ORDER_EVENTS, [Message(key_id.encode(), encode_event(event))])

    eventually(lambda: consumed_everything(servers, courier), timeout=30)
    kept = courier.rows("SELECT key, reason FROM rejected_order_events")
    assert len(kept) == 1, kept
    ((key, reason),) = kept
    assert key == key_id.encode() and key_id in reason and value_id in reason
    assert courier.api.assignment(key_id) is None
    assert courier.api.assignment(value_id) is None


def test_a_retry_round_puts_its_orders_back_before_another_replica_could_claim_them(
    servers: Servers,
) -> None:
    """Each status request runs into the 2 s timeout, one at a time: 20 orders would take
    40 s. Failed on main: the lease was 10 s, so the orders were claimable by any replica
    while the round that held them still asked about them ("20 orders claimable ...")."""
    with (
        frozen_gateway(servers) as gateway,
        isolated_courier(
            servers,
            gateway,
            GATEWAY_CONCURRENCY="1",
            GATEWAY_TIMEOUT_SECONDS="2",
            GATEWAY_ROUND_SECONDS="6",
        ) as courier,
    ):
        ids = [f"lease-{uuid.uuid4().hex[:8]}-{n}" for n in range(20)]
        courier.rows(
            "INSERT INTO courier_retries (order_id, next_attempt_at, last_error)"
            " SELECT unnest(%s::text[]), now(), 'queued by the test' RETURNING order_id",
            (ids,),
        )
        # The retry worker claims all of them in one round (it takes up to 100).
        eventually(
            lambda: (
                courier.rows("SELECT count(*) FROM courier_retries WHERE next_attempt_at > now()")
                == [(20,)]
            )
        )
        deadline = time.monotonic() + 120
        while True:
            rows = courier.rows("SELECT attempts, next_attempt_at <= now() FROM courier_retries")
            in_round_and_due = [attempts for attempts, due in rows if attempts == 0 and due]
            assert not in_round_and_due, (
                f"{len(in_round_and_due)} orders claimable by another replica while the round "
                "that leased them is still asking about them"
            )
            if all(attempts >= 1 for attempts, _ in rows):
                break
            assert time.monotonic() < deadline, "the round never put its orders back"
            time.sleep(0.3)
        reasons = {reason for (reason,) in courier.rows("SELECT last_error FROM courier_retries")}
        assert all(reason.startswith("timeout") for reason in reasons), reasons
