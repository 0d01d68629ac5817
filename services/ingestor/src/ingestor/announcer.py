"""Announcement: after a batch commits, one message per changed order on Redis
`orders:changes`, carrying the new document so replicas update without a query (or no
document when only the status changed: replicas then drop their copy and re-read it).

Redis pub/sub is at-most-once, so a failed announcement is logged and dropped:
replicas notice the hole in the change sequence and resync from PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ingestor.batch_writer import OrderChange
from order_shared.announcements import ChangeAnnouncement, encode_announcement
from order_shared.telemetry import current_traceparent
from order_shared.topics import CHANGES_CHANNEL

log = logging.getLogger(__name__)


class ChangeAnnouncer:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def announce(self, changes: Sequence[OrderChange]) -> bool:
        """Publish every change; False if Redis could not take them."""
        if not changes:
            return True
        batch_traceparent = current_traceparent()
        pipeline = self._redis.pipeline(transaction=False)
        for change in changes:
            pipeline.publish(
                CHANGES_CHANNEL,
                encode_announcement(
                    ChangeAnnouncement(
                        order_uid=change.order_uid,
                        version=change.version,
                        seq=change.seq,
                        status=change.status,
                        order=msgspec.Raw(change.document or b"null"),
                        traceparent=change.traceparent or batch_traceparent,
                    )
                ),
            )
        try:
            await pipeline.execute()
        except (RedisError, OSError) as error:
            log.warning(
                "could not announce %d changes (seq %d..%d): %s; replicas will resync",
                len(changes),
                changes[0].seq,
                changes[-1].seq,
                error,
            )
            return False
        return True
