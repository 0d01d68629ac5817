"""The courier service's settings, read once at start from the environment (and `.env`)."""

from __future__ import annotations

from pydantic import Field

from order_shared.settings import ConsumerServiceSettings, Port
from order_shared.topics import ORDER_EVENTS


class CourierSettings(ConsumerServiceSettings):
    database_url: str = Field(
        default="postgresql://order_courier_app:order_courier_app@127.0.0.1:5432/orders",
        pattern=r"^postgres(ql)?://",
    )
    host: str = "127.0.0.1"
    port: Port = 8082
    order_events_topic: str = Field(default=ORDER_EVENTS, min_length=1, max_length=249)
    consumer_group: str = Field(default="order-courier", min_length=1)
    # The order service's API: the query service locally, its Service or ingress in a cluster.
    order_gateway_url: str = Field(default="http://127.0.0.1:8080", pattern=r"^https?://[^/]+")
    gateway_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Measured (`bench/courier.py`): httpx's async pool serves 2 to 4 requests at once
    # best; at 8 or 16 it spends more time on its own bookkeeping than on the requests.
    gateway_concurrency: int = Field(default=4, ge=1, le=256)
    # The most one round of status requests (a batch, a retry round, a resync page) may
    # take; what is not answered by then is queued for retry. Well below the consumer's
    # poll interval (order_shared.batch_consumer.MAX_POLL_INTERVAL_SECONDS, 300 s), so a
    # slow gateway never costs the consumer its place in the group.
    gateway_round_seconds: float = Field(default=30.0, gt=0, le=240)
    batch_max_records: int = Field(default=500, ge=1, le=10_000)
    batch_wait_ms: int = Field(default=200, ge=0, le=60_000)
    retry_initial_seconds: float = Field(default=0.5, gt=0, le=3600)
    retry_max_seconds: float = Field(default=30.0, gt=0, le=86_400)
    retry_poll_seconds: float = Field(default=0.5, gt=0, le=3600)
    # Unusable answers (not found, older than the event, unreadable) before an order is
    # parked; a gateway failing as a whole only backs off.
    retry_max_attempts: int = Field(default=20, ge=1, le=10_000)
    resync_interval_seconds: float = Field(default=30.0, gt=0, le=86_400)
    database_pool_size: int = Field(default=4, ge=2, le=100)
    # Ended orders, rejected events and parked retries are pruned once this old.
    retention_days: int = Field(default=30, ge=1, le=36_500)
    prune_interval_seconds: float = Field(default=600.0, gt=0, le=86_400)
    # The dispatch lock is held a few milliseconds by a healthy holder: a frozen one is
    # ended sooner than the ingestor's writer, and a waiter (an API request) gives up
    # with a 503 instead of stalling.
    database_lock_timeout_seconds: float = Field(default=5.0, gt=0, le=3600)
    database_statement_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    database_idle_in_transaction_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
