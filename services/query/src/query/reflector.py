"""The Reflector of the informer: ListAndWatch between PostgreSQL and the OrderStore.

1. Watch: subscribe to Redis `orders:changes` first, buffering what arrives.
2. List: load every order from one PostgreSQL snapshot, remembering its last change
   sequence; then apply the buffer. No change can fall between the two.
3. Resync: whenever the watch may have missed something (a hole in the sequence, a
   Redis reconnect) and every few seconds as a backstop, load what changed since the
   last sequence seen. Pub/sub is at-most-once; this is what makes it safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_shared.announcements import ChangeAnnouncement, decode_announcement
from order_shared.topics import CHANGES_CHANNEL
from query.order_reader import stream_orders
from query.store import CachedOrder, OrderStore

log = logging.getLogger(__name__)

_SUBSCRIBE_WAIT_SECONDS = 2.0
_RETRY_SECONDS = 1.0


class OrderReflector:
    def __init__(
        self,
        store: OrderStore,
        pool: AsyncConnectionPool,
        redis: Redis,
        *,
        resync_interval: float,
        list_batch_size: int,
    ) -> None:
        self._store = store
        self._pool = pool
        self._redis = redis
        self._resync_interval = resync_interval
        self._list_batch_size = list_batch_size
        self.synced = asyncio.Event()
        self.last_seq = 0
        self._listed = False
        self._buffer: list[ChangeAnnouncement] = []
        self._subscribed = asyncio.Event()
        self._resync_requested = asyncio.Event()

    async def run(self) -> None:
        """ListAndWatch until cancelled."""
        watch = asyncio.create_task(self._watch(), name="reflector-watch")
        try:
            with contextlib.suppress(TimeoutError):
                # Without Redis we still list: the page must work from PostgreSQL alone,
                # and the watch resyncs once it manages to subscribe.
                await asyncio.wait_for(self._subscribed.wait(), _SUBSCRIBE_WAIT_SECONDS)
            await self._until_done(self._list)
            await self._resync_loop()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _list(self) -> None:
        count = await self._load_changes_since(0)
        self._listed = True
        buffered, self._buffer = self._buffer, []
        for announcement in sorted(buffered, key=lambda a: a.seq):
            self._apply_announcement(announcement)
        log.info("listed %d orders up to change %d", count, self.last_seq)
        self.synced.set()

    async def _resync_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync_requested.wait(), self._resync_interval)
            self._resync_requested.clear()
            try:
                await self._load_changes_since(self.last_seq)
            except Exception as error:
                log.warning("resync from change %d failed: %s", self.last_seq, error)

    async def _load_changes_since(self, since_seq: int) -> int:
        count = 0
        async with self._pool.connection() as connection, connection.transaction():
            last_seq, orders = await stream_orders(connection, since_seq, self._list_batch_size)
            async for order_uid, entry in orders:
                self._store.apply(order_uid, entry)
                count += 1
        self.last_seq = max(self.last_seq, last_seq)
        if count and since_seq:
            log.info("resynced %d orders changed after %d", count, since_seq)
        return count

    async def _watch(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANGES_CHANNEL)
                    self._subscribed.set()
                    if self._listed:
                        self._resync_requested.set()  # what was said while we were away
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._on_message(message["data"])
            except (RedisError, OSError) as error:
                log.warning("watch on %s lost: %s; resubscribing", CHANGES_CHANNEL, error)
                await asyncio.sleep(_RETRY_SECONDS)

    def _on_message(self, raw: bytes) -> None:
        try:
            announcement = decode_announcement(raw)
        except msgspec.DecodeError as error:
            log.warning("ignored a malformed announcement: %s", error)
            return
        if not self._listed:
            self._buffer.append(announcement)
        else:
            self._apply_announcement(announcement)

    def _apply_announcement(self, announcement: ChangeAnnouncement) -> None:
        document = announcement.document
        if document is None:
            self._store.forget(announcement.order_uid, announcement.version)
        else:
            self._store.apply(
                announcement.order_uid,
                CachedOrder(announcement.version, announcement.seq, document),
            )
        if announcement.seq == self.last_seq + 1:
            self.last_seq = announcement.seq
        elif announcement.seq > self.last_seq + 1:
            log.info(
                "change %d announced after %d: resyncing the gap", announcement.seq, self.last_seq
            )
            self._resync_requested.set()

    @staticmethod
    async def _until_done(step) -> None:
        while True:
            try:
                await step()
                return
            except Exception as error:
                log.warning("listing orders failed: %s; retrying", error)
                await asyncio.sleep(_RETRY_SECONDS)
