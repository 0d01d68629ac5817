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
    """PostgreSQL, as a member of the `order_courier` role (the courier tables only)."""
    host: str = "127.0.0.1"
    """The address the courier API, health and metrics listen on."""
    port: Port = 8082
    """Their port."""
    order_events_topic: str = Field(default=ORDER_EVENTS, min_length=1, max_length=249)
    """The topic of the ingestor's order events."""
    consumer_group: str = Field(default="order-courier", min_length=1)
    """The Kafka consumer group of `order-events`."""
    order_gateway_url: str = Field(default="http://127.0.0.1:8080", pattern=r"^https?://[^/]+")
    """The order service's API: the query service (its Service or ingress in a cluster)."""
    gateway_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    """How long one status request may take."""
    # Measured (`bench/courier.py`): httpx's async pool serves 2 to 4 requests at once
    # best; at 8 or 16 it spends more time on its own bookkeeping than on the requests.
    gateway_concurrency: int = Field(default=4, ge=1, le=256)
    """Status requests at once."""
    # The most one round of status requests (a batch, a retry round, a resync page) may
    # take; what is not answered by then is queued for retry. Well below the consumer's
    # poll interval (order_shared.batch_consumer.MAX_POLL_INTERVAL_SECONDS, 300 s), so a
    # slow gateway never costs the consumer its place in the group.
    gateway_round_seconds: float = Field(default=30.0, gt=0, le=240)
    """The most one round of status requests (a batch, a retry round, a resync page) may take; what
    is not answered by then goes to the retry queue. Below the consumer's `max.poll.interval.ms`
    (300 s)."""
    batch_max_records: int = Field(default=500, ge=1, le=10_000)
    """The most `order-events` records one batch takes."""
    batch_wait_ms: int = Field(default=200, ge=0, le=60_000)
    """How long a fetch waits for records."""
    retry_initial_seconds: float = Field(default=0.5, gt=0, le=3600)
    """First backoff of an order whose status could not be learnt (doubling, capped,
    with jitter)."""
    retry_max_seconds: float = Field(default=30.0, gt=0, le=86_400)
    """The longest backoff between attempts."""
    retry_poll_seconds: float = Field(default=0.5, gt=0, le=3600)
    """How often the retry queue is looked at."""
    retry_max_attempts: int = Field(default=20, ge=1, le=10_000)
    """Unusable answers about an order (404, older than its event, unreadable) before it is parked
    with its reason; a gateway failing as a whole (timeouts, 5xx, unreachable) only backs off."""
    resync_interval_seconds: float = Field(default=30.0, gt=0, le=86_400)
    """Every order holding or waiting for a courier is looked at again this often, by one replica
    at a time."""
    database_pool_size: int = Field(default=4, ge=2, le=100)
    """Connections to PostgreSQL."""
    retention_days: int = Field(default=30, ge=1, le=36_500)
    """Ended orders (`closed_orders`, delivered `courier_orders`, `applied_versions`),
    `rejected_order_events` and parked retries older than this are pruned; keep it above `order-
    events`' retention."""
    prune_interval_seconds: float = Field(default=600.0, gt=0, le=86_400)
    """How often one replica prunes."""
    # The dispatch lock is held a few milliseconds by a healthy holder: a frozen one is
    # ended sooner than the ingestor's writer, and a waiter (an API request) gives up
    # with a 503 instead of stalling.
    database_lock_timeout_seconds: float = Field(default=5.0, gt=0, le=3600)
    """PostgreSQL's `lock_timeout`: a frozen holder of the dispatch lock is ended within seconds,
    and an API request waiting for it gives up with a 503."""
    database_statement_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """PostgreSQL's `statement_timeout` for every session of the pool."""
    database_idle_in_transaction_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    """PostgreSQL's `idle_in_transaction_session_timeout` for every session of the pool."""
