"""`prepare_release`: what every environment needs before the services start."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from order_migrations.logins import Login, ensure_logins
from order_migrations.schema import apply_migrations
from order_shared.topics import ensure_topics


def prepare_release(
    database_url: str,
    kafka_bootstrap_servers: str | None,
    logins: Iterable[Login] = (),
    *,
    topic_partitions: int = 3,
    topic_replication_factor: int = 1,
) -> None:
    """Migrate the schema, ensure the dev logins, create the contract's missing topics.

    Every step is idempotent, so a rerun is harmless. `database_url` is a privileged user
    that owns the schema. Without Kafka (`None`: a stack of storage only) no topics are made.
    """
    apply_migrations(database_url)
    ensure_logins(database_url, logins)
    if kafka_bootstrap_servers is not None:
        asyncio.run(
            ensure_topics(
                kafka_bootstrap_servers,
                partitions=topic_partitions,
                replication_factor=topic_replication_factor,
            )
        )
