"""Orders for the browser tests: unique documents, published to the real Kafka and
waited for until the page's query replica serves them."""

from __future__ import annotations

import copy
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from order_shared.topics import ORDER_STATUS, ORDERS
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, publish


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def order_like(template: dict, order_uid: str, **fields: object) -> dict:
    """A copy of `template` with a new id (and payment transaction) and `fields` replaced."""
    document = copy.deepcopy(template)
    document["order_uid"] = order_uid
    document["payment"]["transaction"] = order_uid
    document.update(fields)
    return document


def publish_orders(servers: Servers, replica: ServiceProcess, documents: list[dict]) -> None:
    """Publish to the `orders` topic, then wait until `replica` serves every one."""
    messages = [
        Message(document["order_uid"].encode(), json.dumps(document).encode())
        for document in documents
    ]
    # Playwright's sync API keeps an event loop running on this thread; publish() needs
    # its own, so it runs on another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(publish, servers.kafka_bootstrap, ORDERS, messages).result()

    def all_served() -> bool:
        for document in documents:
            url = f"{replica.base_url}/api/v1/orders/{document['order_uid']}"
            if httpx.get(url, timeout=5).status_code != 200:
                return False
        return True

    eventually(all_served, timeout=30)


def publish_status(servers: Servers, replica: ServiceProcess, order_uid: str, status: str) -> None:
    """Publish a status change to `order-status`, then wait until `replica` serves it."""
    change = {"order_uid": order_uid, "status": status, "changed_at": "2026-11-21T10:00:00Z"}
    message = Message(order_uid.encode(), json.dumps(change).encode())
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(publish, servers.kafka_bootstrap, ORDER_STATUS, [message]).result()

    def served() -> bool:
        url = f"{replica.base_url}/api/v1/orders/{order_uid}/status"
        return httpx.get(url, timeout=5).json().get("status") == status

    eventually(served, timeout=30)
