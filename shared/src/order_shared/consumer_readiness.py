"""The readiness of a service that consumes Kafka into PostgreSQL, as its `/readyz` reports
it: ready once the consumer has started and the database answered, while no fetched
batch has waited past the progress deadline and the last fetch could be decoded. When it
is not, the report names what it waits on (the partitions stalled, the last failure of a
wait, the batch that cannot be decoded)."""

from __future__ import annotations

from dataclasses import dataclass, field

from order_shared.progress import Progress
from order_shared.undecodable_batches import UndecodableBatches


@dataclass
class ConsumerReadiness:
    """Set by the service's tasks; `report()` is the `/readyz` body."""

    progress: Progress = field(default_factory=lambda: Progress(deadline_seconds=120.0))
    undecodable: UndecodableBatches | None = None
    consumer_started: bool = False
    database_reachable: bool = False
    # Why PostgreSQL does not answer (every host libpq tried and its refusal), else None.
    database_problem: str | None = None

    def report(self) -> dict[str, object]:
        stalled = self.progress.stalled()
        undecodable = self.undecodable.reason if self.undecodable else None
        return {
            "ready": (
                self.consumer_started
                and self.database_reachable
                and not stalled
                and undecodable is None
            ),
            "consumer_started": self.consumer_started,
            "database_reachable": self.database_reachable,
            "database_problem": self.database_problem,
            "stalled_partitions": stalled,
            "oldest_unsettled_batch_seconds": round(self.progress.oldest_age(), 3),
            "waiting_on": self.progress.waiting_on,
            "undecodable_batch": undecodable,
        }
