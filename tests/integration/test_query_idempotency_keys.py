"""Idempotency keys on the real Redis: a claim is a lease of seconds, apart from the
answer's time to live, and only the request that holds a claim can give it back or keep
its answer in its place."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from query.commands.idempotency import (
    Claimed,
    IdempotencyKeys,
    InProgress,
    StoredAnswer,
    request_fingerprint,
)
from query.commands.redis_refusals import RedisRefusals
from tests.harness import Servers

FINGERPRINT = request_fingerprint("POST", "/api/v1/orders", b"{}")


@pytest.fixture
async def redis(servers: Servers) -> AsyncIterator[Redis]:
    client = Redis.from_url(servers.redis_url)
    yield client
    await client.aclose()


def keys(redis: Redis, lease_seconds: int) -> IdempotencyKeys:
    return IdempotencyKeys(
        redis, ttl_seconds=600, lease_seconds=lease_seconds, refusals=RedisRefusals()
    )


async def test_a_request_whose_lease_ran_out_releases_and_overwrites_no_other_claim(
    redis: Redis,
) -> None:
    """Failed before (a key held for the whole TTL, given back with a plain DEL): request
    A's give-back deleted B's claim, and a third duplicate claimed the key and published."""
    key = secrets.token_hex(8)
    store = keys(redis, lease_seconds=1)
    first = await store.claim("client", key, FINGERPRINT)
    assert isinstance(first, Claimed)
    await asyncio.sleep(1.5)  # the first request's lease runs out
    second = await store.claim("client", key, FINGERPRINT)
    assert isinstance(second, Claimed)

    await store.give_back(first)
    assert isinstance(await store.claim("client", key, FINGERPRINT), InProgress)
    await store.keep(first, StoredAnswer(202, {}, b"first"))
    assert isinstance(await store.claim("client", key, FINGERPRINT), InProgress)

    await store.keep(second, StoredAnswer(202, {}, b"second"))
    assert await store.claim("client", key, FINGERPRINT) == StoredAnswer(202, {}, b"second")


async def test_a_claim_lasts_its_lease_and_a_kept_answer_the_ttl(redis: Redis) -> None:
    key = secrets.token_hex(8)
    store = keys(redis, lease_seconds=5)
    claim = await store.claim("client", key, FINGERPRINT)
    assert isinstance(claim, Claimed)
    assert 0 < await redis.ttl(claim.redis_key) <= 5

    await store.keep(claim, StoredAnswer(202, {}, b"kept"))

    assert 5 < await redis.ttl(claim.redis_key) <= 600


async def test_giving_a_claim_back_frees_the_key_for_a_retry(redis: Redis) -> None:
    key = secrets.token_hex(8)
    store = keys(redis, lease_seconds=30)
    claim = await store.claim("client", key, FINGERPRINT)
    assert isinstance(claim, Claimed)

    await store.give_back(claim)

    assert isinstance(await store.claim("client", key, FINGERPRINT), Claimed)
