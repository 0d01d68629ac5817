"""Announcement: after a batch commits, one message per changed order on Redis
`orders:changes`, carrying the new document so replicas update without a query (or no
document when only the status changed: replicas then drop their copy and re-read it; or
`erased` when the order was erased: replicas drop it for good).

Redis pub/sub is at-most-once, so a failed announcement is logged and dropped:
replicas notice the hole in the change sequence and resync from PostgreSQL.

After the changes, the outcome of each record that asked for it (a command waiting for
its write) goes to `orders:outcomes`: on the same server and after the announcements, so
a replica subscribed to both channels hears the change before the outcome.

A batch's messages are published by one small Lua script per chunk rather than one
PUBLISH each: subscribers see the same messages, in order, and the ingestor spends a
fraction of the time building commands and reading replies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ingestor.records import OrderChange
from order_shared.announcements import ChangeAnnouncement, encode_announcement
from order_shared.outcomes import OUTCOMES_CHANNEL, RecordOutcome, encode_outcome
from order_shared.telemetry import is_sampled
from order_shared.topics import CHANGES_CHANNEL

log = logging.getLogger(__name__)


_PUBLISH_EACH = """
for index = 2, #ARGV do
    redis.call('PUBLISH', ARGV[1], ARGV[index])
end
return #ARGV - 1
"""
# Redis runs a script alone: a bounded chunk keeps other clients' wait short.
_MESSAGES_PER_SCRIPT = 500


class ChangeAnnouncer:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._publish_each = redis.register_script(_PUBLISH_EACH)

    async def announce(
        self,
        changes: Sequence[OrderChange],
        committed_at: float,
        outcomes: Sequence[RecordOutcome] = (),
    ) -> bool:
        """Publish every change, committed at `committed_at` (Unix seconds), then every
        outcome; False if Redis could not take them. Only recorded traces ride along: a
        replica would make nothing of an unsampled one."""
        if not changes and not outcomes:
            return True
        try:
            for start in range(0, len(changes), _MESSAGES_PER_SCRIPT):
                messages = [
                    encode_announcement(
                        ChangeAnnouncement(
                            order_uid=change.order_uid,
                            version=change.version,
                            seq=change.seq,
                            status=change.status,
                            order=msgspec.Raw(change.document or b"null"),
                            traceparent=(
                                change.traceparent if is_sampled(change.traceparent) else None
                            ),
                            committed_at=committed_at,
                            source_partition=None if change.source is None else change.source[0],
                            source_offset=None if change.source is None else change.source[1],
                            erased=change.erased,
                        )
                    )
                    for change in changes[start : start + _MESSAGES_PER_SCRIPT]
                ]
                await self._publish_each(args=[CHANGES_CHANNEL, *messages])
            for start in range(0, len(outcomes), _MESSAGES_PER_SCRIPT):
                told = [encode_outcome(o) for o in outcomes[start : start + _MESSAGES_PER_SCRIPT]]
                await self._publish_each(args=[OUTCOMES_CHANNEL, *told])
        except (RedisError, OSError) as error:
            log.warning(
                "could not announce %d changes and %d outcomes: %s; replicas will resync",
                len(changes),
                len(outcomes),
                error,
            )
            return False
        return True
