"""Every message the ingestor cannot store goes to `orders.dlq` whole, with its reason,
and the partition moves on: the good message published after the bad ones is stored."""

from __future__ import annotations

import json
import random

import httpx

from order_shared.model import encode_order
from order_shared.topics import MAX_MESSAGE_BYTES, ORDERS, ORDERS_DLQ
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, end_offsets, publish, read_from
from tests.store_io import order_row


def with_changes(document: bytes, **changes: object) -> bytes:
    return json.dumps({**json.loads(document), **changes}).encode()


def test_each_kind_of_bad_message_is_dead_lettered_and_the_next_one_is_processed(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    rng = random.Random(5005)
    good = generate_order(rng)
    base = encode_order(generate_order(rng))
    duplicate_rid = json.loads(base)
    duplicate_rid["items"] = [duplicate_rid["items"][0]] * 2
    duplicate_rid["payment"]["goods_total"] = 2 * duplicate_rid["items"][0]["total_price"]
    duplicate_rid["payment"]["amount"] = (
        duplicate_rid["payment"]["goods_total"]
        + duplicate_rid["payment"]["delivery_cost"]
        + duplicate_rid["payment"]["custom_fee"]
    )
    bad_messages = {
        "not json": (b"this is not json", "MalformedJson"),
        "invalid utf-8": (
            base.replace(b'"entry":"WBIL"', b'"entry":"WB\xff\xfeIL"'),
            "InvalidEncoding",
        ),
        "empty": (b"", "EmptyMessage"),
        # A tombstone keyed by an order id is an erasure (test_order_erasure.py).
        "10 MB": (b'{"order_uid": "' + b"x" * 10_000_000 + b'"}', "MessageTooLarge"),
        "NUL": (base.replace(b'"entry":"WBIL"', b'"entry":"WB\\u0000IL"'), "SchemaViolation"),
        "out of range": (with_changes(base, sm_id=2**70), "SchemaViolation"),
        "wrong type": (with_changes(base, sm_id="99"), "SchemaViolation"),
        "unknown field": (with_changes(base, loyalty_points=5), "SchemaViolation"),
        "duplicate item": (json.dumps(duplicate_rid).encode(), "BusinessRuleViolation"),
    }
    key = good.order_uid.encode()  # one key: one partition, in this order
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    orders_start = end_offsets(servers.kafka_bootstrap, ORDERS)

    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [
            Message(key, value, (("case", name.encode()),))
            for name, (value, _) in bad_messages.items()
        ]
        + [Message(key, encode_order(good))],
    )

    assert eventually(lambda: order_row(servers.admin_database_url, good.order_uid), timeout=60)
    dead = read_from(
        servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=len(bad_messages), key=key
    )
    by_case = {dict(m.headers)["case"].decode(): m for m in dead}
    assert set(by_case) == set(bad_messages)
    offsets = []
    for name, (value, error_class) in bad_messages.items():
        message = by_case[name]
        headers = dict(message.headers)
        assert message.value == value, name  # the original bytes, unchanged
        assert message.key == key
        assert headers["error.class"].decode() == error_class, name
        assert headers["error.message"], name
        assert headers["source.topic"] == b"orders"
        offsets.append((int(headers["source.partition"]), int(headers["source.offset"])))
    (partition,) = {partition for partition, _ in offsets}
    first = orders_start[partition]
    assert sorted(offset for _, offset in offsets) == list(range(first, first + len(bad_messages)))

    metrics = httpx.get(f"{ingestor.base_url}/metrics").text
    assert 'ingestor_messages_rejected_total{reason="MessageTooLarge"}' in metrics
    assert 'ingestor_messages_rejected_total{reason="BusinessRuleViolation"}' in metrics


def test_reasons_name_the_field_and_the_rule(servers: Servers, ingestor: ServiceProcess) -> None:
    order = generate_order(random.Random(5006))
    wrong_total = json.loads(encode_order(order))
    wrong_total["payment"]["amount"] += 1
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)

    key = order.order_uid.encode()
    publish(servers.kafka_bootstrap, ORDERS, [Message(key, json.dumps(wrong_total).encode())])

    (message,) = read_from(servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=1, key=key)
    reason = dict(message.headers)["error.message"].decode()
    assert "$.payment.amount" in reason
    assert "goods_total + delivery_cost + custom_fee" in reason


def test_a_message_the_dead_letter_topic_cannot_take_whole_goes_there_truncated(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    good = generate_order(random.Random(5007))
    key = good.order_uid.encode()
    # Just under the topic's limit: the reason headers push its dead letter over it.
    near_the_limit = b"x" * (MAX_MESSAGE_BYTES - 100)
    # 20 MiB of zeros is a few kilobytes compressed: the topic takes it, no dead letter can.
    compressed = bytes(20 * 1_048_576)
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    orders_start = end_offsets(servers.kafka_bootstrap, ORDERS)

    publish(servers.kafka_bootstrap, ORDERS, [Message(key, near_the_limit)])
    publish(servers.kafka_bootstrap, ORDERS, [Message(key, compressed)], compression_type="gzip")
    publish(servers.kafka_bootstrap, ORDERS, [Message(key, encode_order(good))])

    assert eventually(lambda: order_row(servers.admin_database_url, good.order_uid), timeout=60)
    dead = read_from(servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=2, key=key)
    assert len(dead) == 2
    for message, original in zip(dead, (near_the_limit, compressed), strict=True):
        headers = dict(message.headers)
        assert message.value == original[: len(message.value)]
        assert 0 < len(message.value) < len(original)
        assert headers["error.truncated"] == b"true"
        assert headers["error.class"] == b"MessageTooLarge"
        assert int(headers["original.value.size"]) == len(original)
        assert headers["source.topic"] == b"orders"
        partition = int(headers["source.partition"])
    offsets = [int(dict(message.headers)["source.offset"]) for message in dead]
    assert offsets == [orders_start[partition], orders_start[partition] + 1]
