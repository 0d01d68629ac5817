"""Prometheus metrics of the ingestor, served at `/metrics`."""

from prometheus_client import Counter, Gauge, Histogram

ORDERS_WRITTEN = Counter("ingestor_orders_written_total", "Orders created or changed in PostgreSQL")
ORDERS_ERASED = Counter(
    "ingestor_orders_erased_total",
    "Orders erased by a tombstone on `orders` (also counted as written: an erasure is a change)",
)
ORDERS_UNCHANGED = Counter(
    "ingestor_orders_unchanged_total", "Re-delivered orders whose content had not changed"
)
PENDING_STATUSES_DROPPED = Counter(
    "ingestor_pending_statuses_dropped_total",
    "Status changes that waited for an order and were dropped when the order was erased "
    "(they were sent before the erasure: README, Erasing an order)",
)
ORDERS_STALE = Counter(
    "ingestor_orders_stale_total",
    "Order records at or below the source offset their order already holds (replays, "
    "or a batch written late by an ingestor that lost the partition): not applied",
)
MESSAGES_REJECTED = Counter(
    "ingestor_messages_rejected_total", "Messages sent to the dead-letter topic", ["reason"]
)
BATCH_SECONDS = Histogram("ingestor_batch_seconds", "Time to validate, write and commit a batch")
WRITE_RETRIES = Counter(
    "ingestor_write_retries_total",
    "Waits before trying a batch's write or dead letters again, by what went wrong "
    "(a database error class, or DeadLetterUnacknowledged)",
    ["reason"],
)
UNDECODABLE_FETCHES = Counter(
    "ingestor_undecodable_fetches_total",
    "Fetches that raised because a batch could not be decoded (a codec library missing, a "
    "corrupt batch): the partitions went back to their committed offsets and the fetch "
    "is tried again after a pause; /readyz names the error until records flow again",
)
BATCHES_DROPPED = Counter(
    "ingestor_batches_dropped_total",
    "Batches fetched before a rebalance and not written: fetched again from the committed "
    "offsets by whoever owns their partitions",
)
ANNOUNCE_FAILURES = Counter(
    "ingestor_announce_failures_total", "Batches whose Redis announcement failed"
)
EVENTS_UNPUBLISHABLE = Counter(
    "ingestor_events_unpublishable_total",
    "Outbox rows skipped because their created_at has no form in UTC (stored before "
    "validation refused such dates)",
)
EVENTS_PUBLISHED = Counter(
    "ingestor_events_published_total", "Outbox rows published to Kafka order-events"
)
CONSUMER_LAG = Gauge(
    "ingestor_consumer_lag",
    "Records on the partition not yet written and committed by the group: the partition's "
    "end offset minus the group's committed offset, measured every few seconds",
    ["topic", "partition"],
)
OUTBOX_OLDEST_UNSENT_SECONDS = Gauge(
    "ingestor_outbox_oldest_unsent_seconds",
    "How long the oldest outbox event not yet acknowledged by Kafka has waited (0: none)",
)
CONSUMER_STAGE_SECONDS = Counter(
    "ingestor_consumer_stage_seconds",
    "Seconds spent in each step of the Kafka consumer's pipeline (order_shared.batch_consumer): "
    "fetch (waiting for and decoding records), prepare (the work before the database, "
    "validation among it; it overlaps the previous batch's handle), handle (making the "
    "batch durable), commit (the offset commit), acknowledge (what follows the commit)",
    ["stage"],
)
