"""SQL of `rejected_order_events`: records of `order-events` that name no order, kept whole
with the reason, so that their offsets can be committed and nothing is silently dropped."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str


async def keep(connection: AsyncConnection, rejected: list[RejectedEvent]) -> None:
    """Store them; a replayed record is stored once."""
    async with connection.cursor() as cursor:
        await cursor.executemany(
            'INSERT INTO rejected_order_events (topic, partition, "offset", key, value, reason)'
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(r.topic, r.partition, r.offset, r.key, r.value, r.reason) for r in rejected],
        )
