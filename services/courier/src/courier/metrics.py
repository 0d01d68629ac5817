"""Prometheus metrics of the courier service, served at `/metrics`."""

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from order_shared.request_durations import RequestDurations

RECONCILES = Counter(
    "courier_reconciles_total",
    "Orders reconciled toward their status, by what it changed",
    ["outcome"],
)
GATEWAY_ERRORS = Counter(
    "courier_gateway_errors_total",
    "Status requests to the order gateway that gave no usable answer, by kind",
    ["kind"],
)
RETRIES_QUEUED = Counter(
    "courier_retries_queued_total", "Orders put (back) in the retry queue, by reason", ["reason"]
)
RETRIES_PARKED = Counter(
    "courier_retries_parked_total",
    "Orders parked after RETRY_MAX_ATTEMPTS unusable answers, by the last one's kind",
    ["reason"],
)
RETRY_QUEUE = Gauge(
    "courier_retry_queue_orders", "Orders waiting in the retry queue (parked ones apart)"
)
PARKED_ORDERS = Gauge(
    "courier_parked_orders",
    "Orders whose status could not be learnt after RETRY_MAX_ATTEMPTS tries, kept with "
    "their reason until an event names them again",
)
WAITING_ORDERS = Gauge("courier_waiting_orders", "Created orders waiting for a courier")
EVENTS_REJECTED = Counter(
    "courier_events_rejected_total", "order-events records that name no order, kept with a reason"
)
DATABASE_RETRIES = Counter(
    "courier_database_retries_total", "Batches retried after a transient database error"
)
BATCHES_DROPPED = Counter(
    "courier_batches_dropped_total",
    "Batches fetched before a rebalance and not handled: fetched again from the committed "
    "offsets by whoever owns their partitions",
)
CONSUMER_LAG = Gauge(
    "courier_consumer_lag",
    "order-events records on the partition not yet settled and committed by the group: the "
    "partition's end offset minus the group's committed offset, measured every few seconds",
    ["topic", "partition"],
)
UNDECODABLE_FETCHES = Counter(
    "courier_undecodable_fetches_total",
    "Fetches that raised because a batch could not be decoded (a codec library missing, a "
    "corrupt batch): the partitions went back to their committed offsets and the fetch "
    "is tried again after a pause; /readyz names the error until records flow again",
)
BATCH_SECONDS = Histogram(
    "courier_batch_seconds", "Time to reconcile or queue a batch of order-events and commit it"
)
HTTP_DURATIONS = RequestDurations("courier_http_request_duration_seconds")
REGISTRY.register(HTTP_DURATIONS)
CONSUMER_STAGE_SECONDS = Counter(
    "courier_consumer_stage_seconds",
    "Seconds spent in each step of the Kafka consumer's pipeline (order_shared.batch_consumer): "
    "fetch (waiting for and decoding records), prepare (the work before the database, "
    "validation among it; it overlaps the previous batch's handle), handle (making the "
    "batch durable), commit (the offset commit), acknowledge (what follows the commit)",
    ["stage"],
)
