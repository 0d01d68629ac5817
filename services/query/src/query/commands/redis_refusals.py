"""Redis refusing the command side's writes: counted, and noted by readiness for a while.

Redis runs with `maxmemory` and `noeviction` (docs/operations/redis-memory.md): nothing
that must stay (a live claim, a rate-limit window) is ever evicted, and when memory is
full Redis refuses writes with an OOM error instead. Commands with an Idempotency-Key
then get 503 and the rate limit is not enforced, so it must be seen: each refusal is
counted in `query_redis_write_refusals_total{what}` and `/readyz` carries a note for a
minute after the last one (a note only: reads are served from memory all the same).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import OutOfMemoryError

# How long readiness mentions the last refusal.
NOTE_SECONDS = 60.0


class RedisRefusals(Collector):
    """The refusals so far, by what was written; a Prometheus collector of them."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {"idempotency": 0, "rate_limit": 0}
        # When (monotonic), what and why the last refusal was.
        self._last: tuple[float, str, str] | None = None

    def note(self, what: str, error: BaseException) -> None:
        """Count `error` if it is Redis refusing a write for want of memory."""
        if isinstance(error, OutOfMemoryError):
            self.counts[what] += 1
            self._last = (time.monotonic(), what, str(error))

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "query_redis_write_refusals",
            "Writes Redis refused because its maxmemory is reached (OOM), by what was "
            "written (idempotency, rate_limit)",
            labels=["what"],
        )
        for what, count in self.counts.items():
            family.add_metric([what], count)
        yield family

    def readiness_note(self) -> str | None:
        if self._last is None or time.monotonic() - self._last[0] > NOTE_SECONDS:
            return None
        at, what, error = self._last
        return (
            f"Redis refused a write ({what}) {time.monotonic() - at:.0f} s ago: {error}; "
            "commands with an Idempotency-Key get 503 and the rate limit is not enforced "
            "until it has memory again"
        )
