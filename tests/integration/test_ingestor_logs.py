"""The ingestor's log as an operator's collector reads it: one JSON object per line, the
order and its trace named where a line is about one order, and neither the database
password nor an order document anywhere."""

from __future__ import annotations

import json
import random
from urllib.parse import urlsplit

from order_shared.model import encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, publish
from tests.metrics_io import metric_total
from tests.store_io import order_row

TRACE_ID = "5af7183fc1d4e2b0a9c8d7e6f5a4b3c2"


def test_log_lines_are_json_name_the_order_and_trace_and_hold_no_secret_or_document(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(7201))
    rejected_uid = "log-rejected-order-1"
    rejected_document = json.dumps({"order_uid": rejected_uid, "track_number": "WBLOGTEST"})
    database_url = servers.database_url("order_ingestor")
    password = urlsplit(database_url).password
    log_start = ingestor.log_path.stat().st_size
    # DEBUG: every library logs what it can; none of it may carry a secret or a document.
    ingestor.restart(LOG_LEVEL="DEBUG")
    ingestor.wait_ready()
    try:
        rejected_before = metric_total(ingestor, "ingestor_messages_rejected_total")
        publish(
            servers.kafka_bootstrap,
            ORDERS,
            [
                Message(order.order_uid.encode(), encode_order(order)),
                Message(
                    rejected_uid.encode(),
                    rejected_document.encode(),
                    (("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()),),
                ),
            ],
        )
        eventually(lambda: order_row(servers.admin_database_url, order.order_uid), timeout=30)
        eventually(
            lambda: metric_total(ingestor, "ingestor_messages_rejected_total") > rejected_before,
            timeout=30,
        )
    finally:
        ingestor.restart(LOG_LEVEL="INFO")
        ingestor.wait_ready()

    with ingestor.log_path.open("rb") as log:
        log.seek(log_start)
        text = log.read().decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(lines) > 10
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    loggers = {line["logger"] for line in lines}
    assert "ingestor.consumer" in loggers  # ours ...
    assert any(name.startswith("aiokafka") for name in loggers)  # ... and the libraries'
    (rejection,) = [line for line in lines if line["message"].startswith("rejected orders")]
    assert rejection["order_id"] == rejected_uid
    assert rejection["trace_id"] == TRACE_ID
    assert len(rejection["span_id"]) == 16

    assert database_url not in text
    assert f":{password}@" not in text
    assert encode_order(order).decode() not in text
    assert order.delivery.email not in text and order.delivery.address not in text
    assert "WBLOGTEST" not in text
