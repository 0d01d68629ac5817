"""ListAndWatch has no window: the reflector subscribes before it lists, and what is
announced while the list runs is applied after it. Runs the reflector in this process
against the session's PostgreSQL and a Redis of its own (pub/sub channels are global to
a Redis server, so the made-up announcement here reaches no other replica)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest
from redis.asyncio import Redis

from devstack import redis_server
from devstack.process import RunningServer
from order_shared.announcements import ChangeAnnouncement, encode_announcement
from order_shared.database import create_pool
from order_shared.topics import CHANGES_CHANNEL
from query.informer.reflector import OrderReflector
from query.informer.store import OrderStore
from tests.harness import ARTIFACTS, Servers, free_port
from tests.store_io import query


@pytest.fixture(scope="module")
def private_redis_url() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        server = RunningServer(
            redis_server.prepare_server(Path(folder), port),
            ARTIFACTS / "logs" / "redis-private.log",
        )
        try:
            redis_server.wait_until_ready(port)
            yield redis_server.url(port)
        finally:
            server.stop()


async def wait_for(condition) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met within 20 s")


async def test_what_is_announced_while_listing_is_applied_after_the_list(
    servers: Servers, private_redis_url: str
) -> None:
    store = OrderStore(
        max_entries=1_000_000, max_bytes=2**32, ttl_seconds=3600, not_found_ttl_seconds=2
    )
    pool = create_pool(servers.database_url("order_query"), max_size=2, name="query-test")
    await pool.open()
    redis = Redis.from_url(private_redis_url)
    reflector = OrderReflector(store, pool, redis, catch_up_interval=600, list_batch_size=7)
    task: asyncio.Task | None = None
    try:
        with psycopg.connect(servers.admin_database_url) as blocker:
            # The list's first read waits behind this lock: it has not taken its snapshot.
            blocker.execute("LOCK TABLE change_counter IN ACCESS EXCLUSIVE MODE")
            (last_seq,) = blocker.execute("SELECT last_seq FROM change_counter").fetchone()  # type: ignore[misc]
            task = asyncio.create_task(reflector.run())
            await wait_for(lambda: reflector.stats.subscriptions >= 1)

            # A change committed after the snapshot the list will take, announced now.
            late = ChangeAnnouncement(
                "announced-while-listing", 1, last_seq + 1, order=msgspec.Raw(b'{"late":true}')
            )
            await redis.publish(CHANGES_CHANNEL, encode_announcement(late))
            await asyncio.sleep(0.3)
            assert not reflector.synced.is_set()
            assert len(store) == 0
            blocker.rollback()

        await wait_for(reflector.synced.is_set)
        held = store.get("announced-while-listing")
        assert held is not None and held.body == b'{"late":true}'
        assert reflector.last_seq == last_seq + 1
        (count,) = query(servers.admin_database_url, "SELECT count(*) FROM orders")[0]
        assert len(store) == count + 1
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await redis.aclose()
        await pool.close()
