"""`order-migrate`: the one-shot release job of the `order-migrations` image.

Helm's pre-install/pre-upgrade hook Job, Tilt's `migrations` resource and Compose's
`migrations` service run it. The servers may still be starting, so it waits for each (up to
WAIT_SECONDS), then runs `prepare_release`: migrations as the privileged user of
MIGRATIONS_DATABASE_URL, the `LOGIN_FOR_<GROUP>` logins (development only; production
leaves them unset and the platform creates the logins), the contract's Kafka topics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from tenacity import Retrying, stop_before_delay, wait_exponential

from order_migrations.logins import logins_from_environment
from order_migrations.release import prepare_release
from order_shared.settings import load_settings
from order_shared.telemetry import configure_logging

log = logging.getLogger("order_migrations")

T = TypeVar("T")


class MigrationSettings(BaseSettings):
    """What the job reads; `LOGIN_FOR_*` are read separately (their names are open-ended)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    migrations_database_url: str = Field(pattern=r"^postgres(ql)?://")
    """PostgreSQL as a privileged user that may create roles and tables."""
    kafka_bootstrap_servers: str = Field(min_length=1)
    """The Kafka brokers on which the topics are created."""
    kafka_topic_partitions: int = Field(default=3, ge=1, le=1000)
    """Partitions of each topic created."""
    kafka_topic_replication_factor: int = Field(default=1, ge=1, le=10)
    """Replicas of each topic created."""
    wait_seconds: float = Field(default=300.0, gt=0, le=3600)
    """How long the job waits for PostgreSQL and Kafka to answer."""
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    """The least severe log records written."""


def wait_for(what: str, attempt: Callable[[], T], deadline_seconds: float) -> T:
    """Retry `attempt` until it succeeds or `deadline_seconds` pass: servers start in any
    order. Backs off from half a second to five seconds between attempts."""
    retrying: Retrying = Retrying(
        stop=stop_before_delay(deadline_seconds),
        wait=wait_exponential(multiplier=0.5, max=5.0),
        before_sleep=lambda state: log.info("waiting for %s: %s", what, state.outcome.exception()),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except Exception as error:
        raise TimeoutError(f"{what} did not answer in time: {error}") from error


def _kafka_answers(bootstrap_servers: str) -> None:
    async def probe() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        await admin.start()
        await admin.close()

    asyncio.run(probe())


def main() -> None:
    settings = load_settings(MigrationSettings)
    # JSON lines like every service's, with the password of any URL masked.
    configure_logging(settings.log_level)
    try:
        logins = logins_from_environment(os.environ)
    except ValueError as error:
        sys.exit(f"MigrationSettings: invalid configuration\n  {error}")
    started = time.monotonic()
    database_url = settings.migrations_database_url
    wait_for(
        "PostgreSQL",
        lambda: psycopg.connect(database_url, connect_timeout=5).close(),
        settings.wait_seconds,
    )
    remaining = settings.wait_seconds - (time.monotonic() - started)
    wait_for("Kafka", lambda: _kafka_answers(settings.kafka_bootstrap_servers), remaining)
    prepare_release(
        database_url,
        settings.kafka_bootstrap_servers,
        logins,
        topic_partitions=settings.kafka_topic_partitions,
        topic_replication_factor=settings.kafka_topic_replication_factor,
    )
    log.info("release prepared: schema migrated, logins ensured, topics present")
