"""The Reflector of the informer: ListAndWatch between PostgreSQL and the OrderStore.

Redis pub/sub is at-most-once: a message published while this replica is disconnected,
frozen or too slow is gone. Correctness therefore rests on PostgreSQL and the gap-free
change sequence, and the watch only makes convergence fast:

1. Watch: subscribe to `orders:changes` first, buffering what arrives.
2. List: load every order from one snapshot, remembering the snapshot's last change
   sequence; then apply the buffer. No change can fall between the two.
3. Catch up on what changed since the last sequence seen whenever the watch may have
   missed something: a hole in the sequence, a (re)subscription (Redis restarted, or
   dropped us for reading too slowly), an overflowing buffer; and every few seconds as a
   backstop (RESYNC_INTERVAL_SECONDS). A catch-up is the list's own statement with a
   higher floor, so it never costs more than a relist; a full relist happens only if the
   database stays behind what was announced (it was replaced by a restore), after which
   nothing held can be trusted.

An erasure is announced like any change (`erased`), and a catch-up reads the erasures
after its floor from `erased_orders` in the same snapshot as the orders; a list needs
none, since erased orders have no rows to list.

A stored order that cannot be decoded (`UnreadableOrder`) is skipped with a log line and
counted; the list and the catch-ups go on with the others.

Names follow client-go's `tools/cache` where the meaning is the same (Reflector, Store,
ListAndWatch, relist). client-go's "resync" is different: it replays the local store to
the handlers and never calls the server. What this reflector does on a gap reads from
PostgreSQL, so it is called a catch-up here; only the setting keeps its old name.

Each catch-up and relist is counted by its cause, and each announcement applied says how
fresh it was (seconds since the ingestor's commit). An announcement of a recorded trace
is applied under an `orders:changes apply` span, a child of the ingestor's span for the
order's record; the others cost one attribute test.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import msgspec
from opentelemetry import trace
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from order_shared.announcements import ChangeAnnouncement, decode_announcement
from order_shared.bucket_counts import BucketCounts
from order_shared.outcomes import OUTCOMES_CHANNEL, RecordOutcome, decode_outcome
from order_shared.telemetry import context_from_traceparent
from order_shared.topics import CHANGES_CHANNEL
from query.informer.order_reader import UnreadableOrder, erased_since, stream_orders
from query.informer.store import CachedOrder, OrderStore
from query.streams.change_feed import OrderChangeFeed

log = logging.getLogger(__name__)
tracer = trace.get_tracer("query")
APPLY_SPAN = f"{CHANGES_CHANNEL} apply"

# A channel's name as redis-py gives it (bytes, or str with decode_responses).
_CHANGES = (CHANGES_CHANNEL.encode(), CHANGES_CHANNEL)
_OUTCOMES = (OUTCOMES_CHANNEL.encode(), OUTCOMES_CHANNEL)
_SUBSCRIBE_WAIT_SECONDS = 2.0
# The watch's own liveness check: a read waits this long, a quiet subscription is pinged
# this often, and one silent for longer than the limit is given up.
_WATCH_READ_SECONDS = 1.0
_WATCH_PING_SECONDS = 5.0
_WATCH_SILENCE_LIMIT_SECONDS = 15.0
_RETRY_SECONDS = 1.0
# Announcements kept while the list runs; past this we drop them and catch up instead.
_MAX_BUFFERED = 100_000
# A database behind what was announced for this long was replaced, not lagging.
_REPLACED_AFTER_SECONDS = 30.0
# Seconds from the ingestor's commit to the apply here: milliseconds when all is well,
# seconds when the replica or Redis fell behind.
FRESHNESS_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Cause:
    """Why a relist or a catch-up ran (the `cause` label of their counters)."""

    START = "start"  # the first list
    DATABASE_REPLACED = "database_replaced"  # behind what was announced for too long
    SEQUENCE_GAP = "sequence_gap"  # an announcement skipped a change number
    SUBSCRIBED = "subscribed"  # the first subscription, or any after a reconnect
    BUFFER_OVERFLOW = "buffer_overflow"  # too much arrived while listing
    INTERVAL = "interval"  # the backstop timer
    RETRY = "retry"  # the last one failed, or the database was behind


@dataclass
class ReflectorStats:
    """Counters for the metrics endpoint: how often coherence had to be restored, and why."""

    relists: Counter[str] = field(default_factory=Counter)
    catch_ups: Counter[str] = field(default_factory=Counter)
    freshness: BucketCounts = field(default_factory=lambda: BucketCounts(FRESHNESS_BOUNDS))
    caught_up_orders: int = 0
    subscriptions: int = 0
    watch_silences: int = 0
    sequence_gaps: int = 0
    announcements_applied: int = 0
    announcements_ignored: int = 0
    announcements_malformed: int = 0
    unreadable_orders: int = 0


class OrderReflector:
    def __init__(
        self,
        store: OrderStore,
        pool: AsyncConnectionPool,
        redis: Redis,
        *,
        catch_up_interval: float,
        list_batch_size: int,
        on_applied: Callable[[ChangeAnnouncement], None] = lambda _: None,
        on_outcome: Callable[[RecordOutcome], None] = lambda _: None,
        on_caught_up: Callable[[], None] = lambda: None,
        feed: OrderChangeFeed | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._redis = redis
        self._catch_up_interval = catch_up_interval
        self._list_batch_size = list_batch_size
        # Told of every announcement once applied: commands waiting to read their write.
        self._on_applied = on_applied
        # Told what the writer did with each record a command asked about (after the
        # changes it speaks of: the ingestor publishes in that order).
        self._on_outcome = on_outcome
        # Told after each catch-up: a command whose change was not heard may answer now.
        self._on_caught_up = on_caught_up
        # Told of every change applied after the first list: the page's live streams.
        self._feed = feed
        self.synced = asyncio.Event()
        self.last_seq = 0
        self.stats = ReflectorStats()
        self._listed = False
        self._buffer: list[ChangeAnnouncement] = []
        self._buffer_overflowed = False
        self._subscribed = asyncio.Event()
        self._catch_up_requested = asyncio.Event()
        self._catch_up_cause = Cause.INTERVAL
        self._behind_since: float | None = None

    async def run(self) -> None:
        """ListAndWatch until cancelled."""
        watch = asyncio.create_task(self._watch(), name="reflector-watch")
        try:
            with contextlib.suppress(TimeoutError):
                # Without Redis we still list: the page must work from PostgreSQL alone,
                # and the watch asks for a catch-up once it manages to subscribe.
                await asyncio.wait_for(self._subscribed.wait(), _SUBSCRIBE_WAIT_SECONDS)
            await self._until_done(self.relist)
            await self._catch_up_loop()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def relist(self, cause: str = Cause.START) -> int:
        """List every order into the store from one snapshot; then apply what the watch
        buffered meanwhile. Returns how many orders were listed."""
        with _collector_paused():
            count, _ = await self._load_changes_since(0)
        self.stats.relists[cause] += 1
        if self._feed is not None:
            if cause == Cause.START:
                self._feed.started(self.last_seq)
            else:
                self._feed.relisted(self.last_seq)
        self._listed = True
        buffered, self._buffer = self._buffer, []
        for announcement in sorted(buffered, key=lambda a: a.seq):
            self._apply(announcement)
        if self._buffer_overflowed:
            self._buffer_overflowed = False
            self._request_catch_up(Cause.BUFFER_OVERFLOW)
        log.info("listed %d orders up to change %d", count, self.last_seq)
        self.synced.set()
        return count

    async def catch_up(self, cause: str = Cause.INTERVAL) -> int:
        """Load what changed since the last sequence seen; returns how many orders."""
        since = self.last_seq
        count, snapshot_seq = await self._load_changes_since(since)
        self.stats.catch_ups[cause] += 1
        if snapshot_seq < since:
            return await self._database_behind(snapshot_seq, since)
        self._behind_since = None
        if count:
            self.stats.caught_up_orders += count
            log.info("caught up on %d orders changed after %d", count, since)
        return count

    async def _database_behind(self, snapshot_seq: int, since: int) -> int:
        # Announcements come from the primary after it commits; a standby may show those
        # commits a little later. Behind for long, though, the database was replaced (a
        # restore): nothing held here can be trusted any more.
        now = time.monotonic()
        if self._behind_since is None:
            self._behind_since = now
            log.warning(
                "the database's last change is %d, behind the %d seen here; waiting for it",
                snapshot_seq,
                since,
            )
        if now - self._behind_since < _REPLACED_AFTER_SECONDS:
            return 0
        log.warning("the database stayed behind: it was replaced; relisting every order")
        self._behind_since = None
        self._store.clear()
        self.last_seq = 0
        return await self.relist(Cause.DATABASE_REPLACED)

    async def _catch_up_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._catch_up_requested.wait(), self._catch_up_interval)
            cause = self._catch_up_cause if self._catch_up_requested.is_set() else Cause.INTERVAL
            self._catch_up_requested.clear()
            try:
                await self.catch_up(cause)
            except Exception as error:
                log.warning("catch-up from change %d failed: %s; retrying", self.last_seq, error)
                await self._request_catch_up_later()
                continue
            if self._behind_since is not None:
                await self._request_catch_up_later()

    async def _request_catch_up_later(self) -> None:
        await asyncio.sleep(_RETRY_SECONDS)
        self._request_catch_up(Cause.RETRY)

    def _request_catch_up(self, cause: str) -> None:
        """Ask for a catch-up; while one is already asked for, its first cause stands."""
        if not self._catch_up_requested.is_set():
            self._catch_up_cause = cause
            self._catch_up_requested.set()

    async def _load_changes_since(self, since_seq: int) -> tuple[int, int]:
        """(orders applied, the snapshot's last change sequence)."""
        count = 0
        async with self._pool.connection() as connection, connection.transaction():
            snapshot_seq, batches = await stream_orders(
                connection, since_seq, self._list_batch_size
            )
            if snapshot_seq < since_seq:
                return 0, snapshot_seq
            apply = self._store.apply
            # A list fills the store; a catch-up's changes also go to the streams.
            feed = self._feed if since_seq else None
            async for orders in batches:
                for order_uid, entry in orders:
                    if type(entry) is UnreadableOrder:
                        self._skip_unreadable(order_uid, entry)
                        continue
                    if apply(order_uid, entry, snapshot_seq) and feed is not None:
                        feed.changed(
                            order_uid, entry.version, entry.seq, entry.status, entry.body, since_seq
                        )
                    count += 1
            if since_seq:  # a list starts from an empty store: nothing to drop
                for order_uid, version, seq in await erased_since(connection, since_seq):
                    erased = self._store.erase(order_uid, version, seq)
                    if erased and feed is not None:
                        feed.erased(order_uid, version, seq, since_seq)
                    count += erased
        self.last_seq = max(self.last_seq, snapshot_seq)
        self._on_caught_up()
        return count, snapshot_seq

    def _skip_unreadable(self, order_uid: str, order: UnreadableOrder) -> None:
        # Served neither from here nor on a miss; the others must not wait for it.
        self.stats.unreadable_orders += 1
        log.error("skipped stored order %s: %s", order_uid, order.reason)

    async def _watch(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANGES_CHANNEL, OUTCOMES_CHANNEL)
                    await self._listen(pubsub)
            except (RedisError, OSError) as error:
                log.warning("watch on %s lost: %s; resubscribing", CHANGES_CHANNEL, error)
                await asyncio.sleep(_RETRY_SECONDS)

    async def _listen(self, pubsub: PubSub) -> None:
        """Apply what the subscription brings. A quiet subscription is asked for a PING
        now and then; one that answers nothing at all for too long (Redis frozen, a
        network that drops packets without a reset) is given up, to subscribe anew:
        a blocking read on it would wait until TCP gives up, hours later."""
        clock = asyncio.get_running_loop().time
        heard_at = pinged_at = clock()
        while True:
            message = await pubsub.get_message(timeout=_WATCH_READ_SECONDS)
            now = clock()
            if message is not None:
                heard_at = now
                if message["type"] == "message":
                    if message["channel"] in _OUTCOMES:
                        self._on_outcome_message(message["data"])
                    else:
                        self._on_message(message["data"])
                elif message["type"] == "subscribe" and message["channel"] in _CHANGES:
                    # Also after redis-py reconnected on its own: either way, whatever
                    # was published before this moment was not heard.
                    self._on_subscribed()
            elif now - heard_at > _WATCH_SILENCE_LIMIT_SECONDS:
                self.stats.watch_silences += 1
                raise ConnectionError(f"no answer on the subscription for {now - heard_at:.0f} s")
            elif now - max(heard_at, pinged_at) >= _WATCH_PING_SECONDS:
                await pubsub.ping()
                pinged_at = now

    def _on_subscribed(self) -> None:
        self.stats.subscriptions += 1
        self._subscribed.set()
        self._request_catch_up(Cause.SUBSCRIBED)

    def _on_message(self, raw: bytes) -> None:
        try:
            announcement = decode_announcement(raw)
        except msgspec.DecodeError as error:
            self.stats.announcements_malformed += 1
            log.warning("ignored a malformed announcement: %s", error)
            return
        if self._listed:
            self._apply(announcement)
        elif len(self._buffer) < _MAX_BUFFERED:
            self._buffer.append(announcement)
        else:
            self._buffer_overflowed = True

    def _on_outcome_message(self, raw: bytes) -> None:
        try:
            outcome = decode_outcome(raw)
        except msgspec.DecodeError as error:
            self.stats.announcements_malformed += 1
            log.warning("ignored a malformed outcome: %s", error)
            return
        if outcome.seq > self.last_seq and self._listed:
            # The change it speaks of was not heard here: catch up on it.
            self._request_catch_up(Cause.SEQUENCE_GAP)
        self._on_outcome(outcome)

    def _apply(self, announcement: ChangeAnnouncement) -> None:
        if announcement.traceparent is None:
            self._apply_untraced(announcement)
            return
        with tracer.start_as_current_span(
            APPLY_SPAN,
            context=context_from_traceparent(announcement.traceparent),
            kind=trace.SpanKind.CONSUMER,
        ) as span:
            applied = self._apply_untraced(announcement)
            if span.is_recording():
                span.set_attributes(
                    {
                        "messaging.system": "redis",
                        "messaging.destination.name": CHANGES_CHANNEL,
                        "order.id": announcement.order_uid,
                        "order.version": announcement.version,
                        "order.change_seq": announcement.seq,
                        "query.applied": applied,
                    }
                )

    def _apply_untraced(self, announcement: ChangeAnnouncement) -> bool:
        """Apply if newer; True if it was. Notice a hole in the sequence."""
        if announcement.committed_at is not None:
            self.stats.freshness.observe(max(0.0, time.time() - announcement.committed_at))
        document = announcement.document
        if announcement.erased:
            applied = self._store.erase(
                announcement.order_uid, announcement.version, announcement.seq
            )
        elif document is None:
            applied = self._store.invalidate(
                announcement.order_uid, announcement.version, announcement.seq
            )
        else:
            applied = self._store.apply(
                announcement.order_uid,
                CachedOrder(
                    announcement.version,
                    announcement.seq,
                    sys.intern(announcement.status),
                    document,
                ),
            )
        if applied:
            self.stats.announcements_applied += 1
        else:
            self.stats.announcements_ignored += 1
        self._on_applied(announcement)
        self._follow_sequence(announcement.seq)
        if applied and self._feed is not None:
            self._tell_feed(announcement, document)
        return applied

    def _tell_feed(self, announcement: ChangeAnnouncement, document: bytes | None) -> None:
        feed = self._feed
        assert feed is not None
        if announcement.erased:
            feed.erased(
                announcement.order_uid, announcement.version, announcement.seq, self.last_seq
            )
        else:
            feed.changed(
                announcement.order_uid,
                announcement.version,
                announcement.seq,
                announcement.status,
                document,
                self.last_seq,
            )

    def _follow_sequence(self, seq: int) -> None:
        if seq == self.last_seq + 1:
            self.last_seq = seq
        elif seq > self.last_seq + 1 and not self._catch_up_requested.is_set():
            self.stats.sequence_gaps += 1
            log.info("change %d announced after %d: catching up on the gap", seq, self.last_seq)
            self._request_catch_up(Cause.SEQUENCE_GAP)

    @staticmethod
    async def _until_done(step: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await step()
                return
            except Exception as error:
                log.warning("listing orders failed: %s; retrying", error)
                await asyncio.sleep(_RETRY_SECONDS)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A list creates millions of objects that all stay: the cyclic garbage collector
    would scan them again and again for nothing (a third of the list's time). Afterwards
    they are frozen out of its sight, which also keeps its pauses short while serving;
    replaced entries are still freed, by reference counting (they hold no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()
