"""Progress: the batches fetched and not yet settled (their offsets committed, or dropped
after a rebalance), oldest first. Readiness reports the partitions of a batch that has
waited longer than the deadline - a database or broker away, a record that cannot be
dead-lettered - rather than stay green while nothing moves."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiokafka import TopicPartition


class Progress:
    def __init__(
        self, deadline_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._deadline = deadline_seconds
        self._clock = clock
        # Insertion order is fetch order.
        self._unsettled: dict[int, tuple[float, frozenset[TopicPartition]]] = {}
        self._next_token = 0
        # What the last failed attempt to write or dead-letter said, until one succeeds.
        self.waiting_on: str | None = None

    def fetched(self, partitions: Iterable[TopicPartition]) -> int:
        """A batch was fetched; returns the token that settles it."""
        token = self._next_token
        self._next_token += 1
        self._unsettled[token] = (self._clock(), frozenset(partitions))
        return token

    def settled(self, token: int) -> None:
        self._unsettled.pop(token, None)

    def oldest_age(self) -> float:
        """Seconds the oldest unsettled batch has waited; 0 when there is none."""
        for fetched_at, _ in self._unsettled.values():
            return self._clock() - fetched_at
        return 0.0

    def stalled(self) -> list[str]:
        """The partitions with a batch unsettled for longer than the deadline."""
        now = self._clock()
        stalled: set[TopicPartition] = set()
        for fetched_at, partitions in self._unsettled.values():
            if now - fetched_at <= self._deadline:
                break
            stalled |= partitions
        return sorted(f"{tp.topic}[{tp.partition}]" for tp in stalled)
