"""SQL of `courier_retries`: orders whose status could not be learnt yet, each with when to
try again. Queued before the Kafka offset moves past the event, so nothing is lost."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential, capped, with jitter: a broken gateway is asked ever less often."""

    initial_seconds: float
    max_seconds: float


@dataclass(frozen=True, slots=True)
class DueRetry:
    order_id: str
    min_version: int


async def queue(
    connection: AsyncConnection, order_id: str, min_version: int, reason: str, backoff: Backoff
) -> None:
    """Queue the order, or push its next attempt back if it is queued already. The version
    wanted only grows: an answer older than an event seen is no answer."""
    await connection.execute(
        """
        INSERT INTO courier_retries AS r (order_id, min_version, next_attempt_at, last_error)
        VALUES (%(order_id)s, %(min_version)s,
                now() + make_interval(secs => %(initial)s * (0.5 + random() / 2)), %(reason)s)
        ON CONFLICT (order_id) DO UPDATE
           SET min_version = greatest(r.min_version, excluded.min_version),
               attempts = r.attempts + 1,
               next_attempt_at = now() + make_interval(
                   secs => least(%(max)s, %(initial)s * power(2, least(r.attempts + 1, 30)))
                           * (0.5 + random() / 2)),
               last_error = excluded.last_error
        """,
        {
            "order_id": order_id,
            "min_version": min_version,
            "reason": reason,
            "initial": backoff.initial_seconds,
            "max": backoff.max_seconds,
        },
    )


async def settle(connection: AsyncConnection, order_id: str, version: int) -> None:
    """The order was reconciled at `version`: drop its retry unless it waits for a newer one."""
    await connection.execute(
        "DELETE FROM courier_retries WHERE order_id = %s AND min_version <= %s",
        (order_id, version),
    )


async def claim_due(
    connection: AsyncConnection, limit: int, lease_seconds: float
) -> list[DueRetry]:
    """Take up to `limit` due retries. Each is leased (its next attempt pushed back) so that
    another replica skips it, and comes back by itself if this process dies with it."""
    cursor = await connection.execute(
        """
        UPDATE courier_retries SET next_attempt_at = now() + make_interval(secs => %s)
         WHERE order_id IN (SELECT order_id FROM courier_retries
                             WHERE next_attempt_at <= now()
                             ORDER BY next_attempt_at LIMIT %s
                             FOR UPDATE SKIP LOCKED)
        RETURNING order_id, min_version
        """,
        (lease_seconds, limit),
    )
    return [DueRetry(order_id, min_version) for order_id, min_version in await cursor.fetchall()]


async def count(connection: AsyncConnection) -> int:
    cursor = await connection.execute("SELECT count(*) FROM courier_retries")
    (queued,) = await cursor.fetchone()
    return queued
