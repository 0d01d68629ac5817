"""SQL of `courier_retries`: orders whose status could not be learnt yet, each with when to
try again. Queued before the Kafka offset moves past the event, so nothing is lost.

Retries end: an order whose answers keep being unusable (not found, older than its event,
unreadable) is parked after `max_unusable` of them, with the last reason, and waits for
an event to name it again. A gateway failing as a whole (timeouts, 5xx, unreachable) is
not the order's fault: it only backs off, up to `max_seconds` between attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

# What the gateway said that was about the order itself, rather than about the gateway.
UNUSABLE_ANSWERS = frozenset({"not_found", "stale", "bad_answer"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential, capped, with jitter: a broken gateway is asked ever less often; and
    how many unusable answers an order gets before it is parked."""

    initial_seconds: float
    max_seconds: float
    max_unusable: int


@dataclass(frozen=True, slots=True)
class DueRetry:
    order_id: str
    min_version: int


@dataclass(frozen=True, slots=True)
class QueuedRetry:
    """Where an order stands in the queue; what GET /api/v1/assignments/{id} shows."""

    reason: str
    attempts: int
    parked_at: datetime | None


async def queue(
    connection: AsyncConnection,
    order_id: str,
    min_version: int,
    kind: str,
    reason: str,
    policy: RetryPolicy,
    *,
    from_event: bool,
) -> bool:
    """Queue the order, or push its next attempt back if it is queued already. The version
    wanted only grows: an answer older than an event seen is no answer. An event that names
    a parked order again (`from_event`) starts its count afresh. Returns True if the order
    was parked by this attempt."""
    cursor = await connection.execute(
        """
        INSERT INTO courier_retries AS r (order_id, min_version, next_attempt_at, last_error,
                                          attempts, unusable_answers, parked_at)
        VALUES (%(order_id)s, %(min_version)s,
                now() + make_interval(secs => %(initial)s * (0.5 + random() / 2)), %(reason)s,
                1, %(unusable)s, CASE WHEN %(unusable)s >= %(limit)s THEN now() END)
        ON CONFLICT (order_id) DO UPDATE
           SET min_version = greatest(r.min_version, excluded.min_version),
               attempts = CASE WHEN %(from_event)s AND r.parked_at IS NOT NULL THEN 1
                               ELSE r.attempts + 1 END,
               unusable_answers = %(unusable)s + CASE
                   WHEN %(from_event)s AND r.parked_at IS NOT NULL THEN 0
                   ELSE r.unusable_answers END,
               parked_at = CASE
                   WHEN %(from_event)s AND r.parked_at IS NOT NULL
                       THEN CASE WHEN %(unusable)s >= %(limit)s THEN now() END
                   WHEN r.unusable_answers + %(unusable)s >= %(limit)s
                       THEN coalesce(r.parked_at, now()) END,
               next_attempt_at = now() + make_interval(secs => CASE
                   WHEN %(from_event)s AND r.parked_at IS NOT NULL THEN %(initial)s
                   ELSE least(%(max)s, %(initial)s * power(2, least(r.attempts, 30))) END
                   * (0.5 + random() / 2)),
               last_error = excluded.last_error
        RETURNING r.parked_at = now()
        """,
        {
            "order_id": order_id,
            "min_version": min_version,
            "reason": reason,
            "unusable": int(kind in UNUSABLE_ANSWERS),
            "limit": policy.max_unusable,
            "from_event": from_event,
            "initial": policy.initial_seconds,
            "max": policy.max_seconds,
        },
    )
    row = await cursor.fetchone()
    return bool(row and row[0])


async def settle(connection: AsyncConnection, order_id: str, version: int) -> None:
    """The tables agree with the order at `version`: drop its retry (parked or not) unless
    it waits for a newer one."""
    await connection.execute(
        "DELETE FROM courier_retries WHERE order_id = %s AND min_version <= %s",
        (order_id, version),
    )


async def claim_due(
    connection: AsyncConnection, limit: int, lease_seconds: float
) -> list[DueRetry]:
    """Take up to `limit` due retries. Each is leased (its next attempt pushed back past
    the longest a round can take) so that another replica skips it, and comes back by
    itself if this process dies with it."""
    cursor = await connection.execute(
        """
        UPDATE courier_retries SET next_attempt_at = now() + make_interval(secs => %s)
         WHERE order_id IN (SELECT order_id FROM courier_retries
                             WHERE next_attempt_at <= now() AND parked_at IS NULL
                             ORDER BY next_attempt_at LIMIT %s
                             FOR UPDATE SKIP LOCKED)
        RETURNING order_id, min_version
        """,
        (lease_seconds, limit),
    )
    return [DueRetry(order_id, min_version) for order_id, min_version in await cursor.fetchall()]


async def read(connection: AsyncConnection, order_id: str) -> QueuedRetry | None:
    cursor = await connection.execute(
        "SELECT last_error, attempts, parked_at FROM courier_retries WHERE order_id = %s",
        (order_id,),
    )
    row = await cursor.fetchone()
    return None if row is None else QueuedRetry(*row)


async def count(connection: AsyncConnection) -> tuple[int, int]:
    """(orders waiting to be retried, orders parked)."""
    cursor = await connection.execute(
        "SELECT count(*) FILTER (WHERE parked_at IS NULL), count(*) FILTER (WHERE parked_at"
        " IS NOT NULL) FROM courier_retries"
    )
    queued, parked = await cursor.fetchone()
    return queued, parked
