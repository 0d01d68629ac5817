"""Prepare the servers for a release: schema migrations, dev login users, Kafka topics.

One command for every place a release is prepared: the Helm pre-install/pre-upgrade hook
Job, Tilt's `migrations` resource and Compose's one-shot `migrations` service, all from the
`order-migrations` image (db/Dockerfile). Each step is idempotent, so a rerun is harmless.

1. Wait for PostgreSQL, then apply `db/migrations` with yoyo as the privileged user.
2. Dev only: ensure the services' login users exist in their group roles. Each
   `LOGIN_FOR_<GROUP>` variable holds one or more comma-separated database URLs; the user
   and password of each URL become a login in role `<group>` (`LOGIN_FOR_ORDER_WRITER`
   makes `order_writer` members). In production the platform creates the logins and these
   variables are left unset.
3. Wait for Kafka, then create the contract's topics that are missing.

Run locally: `uv run python deploy/migrations/migrate.py` with the variables below set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from order_shared.settings import load_settings
from order_shared.topics import ensure_topics

log = logging.getLogger("migrate")

LOGIN_PREFIX = "LOGIN_FOR_"


def _checkout_migrations() -> Path:
    """db/migrations of the checkout this file is in; images set MIGRATIONS_DIR instead (in
    the image this file is /app/migrate.py, which has no checkout around it)."""
    return Path(__file__).resolve().parents[2] / "db" / "migrations"


T = TypeVar("T")


class MigrationSettings(BaseSettings):
    """What the job reads; `LOGIN_FOR_*` are read separately (their names are open-ended)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    migrations_database_url: str = Field(pattern=r"^postgres(ql)?://")
    kafka_bootstrap_servers: str = Field(min_length=1)
    kafka_topic_partitions: int = Field(default=3, ge=1, le=1000)
    kafka_topic_replication_factor: int = Field(default=1, ge=1, le=10)
    migrations_dir: Path = Field(default_factory=_checkout_migrations)
    wait_seconds: float = Field(default=300.0, gt=0, le=3600)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    group: str


def logins_from_environment(environ: Mapping[str, str]) -> list[Login]:
    """The login users that `LOGIN_FOR_<GROUP>=URL[,URL...]` variables ask for."""
    logins = []
    for name, value in sorted(environ.items()):
        if not name.startswith(LOGIN_PREFIX) or not value.strip():
            continue
        group = name.removeprefix(LOGIN_PREFIX).lower()
        for url in (part.strip() for part in value.split(",")):
            if not url:
                continue
            parts = urlsplit(url)
            if not parts.username or parts.password is None:
                raise ValueError(f"{name}: every URL needs a user and a password")
            logins.append(Login(unquote(parts.username), unquote(parts.password), group))
    return logins


def yoyo_url(database_url: str) -> str:
    """yoyo names its psycopg 3 backend `postgresql+psycopg`."""
    _, rest = database_url.split("://", 1)
    return f"postgresql+psycopg://{rest}"


def wait_for(what: str, attempt: Callable[[], T], deadline: float) -> T:
    """Retry `attempt` until it succeeds or the deadline passes: servers start in any order."""
    delay = 0.5
    while True:
        try:
            return attempt()
        except Exception as error:
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"{what} did not answer in time: {error}") from error
            log.info("waiting for %s: %s", what, error)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def apply_migrations(database_url: str, migrations_dir: Path) -> None:
    from yoyo import get_backend, read_migrations

    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(migrations_dir))
    with backend.lock():
        pending = backend.to_apply(migrations)
        log.info("applying %d of %d migrations", len(pending), len(migrations))
        backend.apply_migrations(pending)


def ensure_logins(database_url: str, logins: list[Login]) -> None:
    """Create or update each login user and grant it its group role (run after migrations)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for login in logins:
            user, group = sql.Identifier(login.user), sql.Identifier(login.group)
            password = sql.Literal(login.password)
            exists = connection.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (login.user,)
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            connection.execute(
                sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(user, password)
            )
            connection.execute(sql.SQL("GRANT {} TO {}").format(group, user))
            log.info("login %s is a member of %s", login.user, login.group)


def main() -> None:
    settings = load_settings(MigrationSettings)
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        logins = logins_from_environment(os.environ)
    except ValueError as error:
        sys.exit(f"MigrationSettings: invalid configuration\n  {error}")
    deadline = time.monotonic() + settings.wait_seconds

    def postgres_answers() -> None:
        psycopg.connect(settings.migrations_database_url, connect_timeout=5).close()

    wait_for("PostgreSQL", postgres_answers, deadline)
    apply_migrations(settings.migrations_database_url, settings.migrations_dir)
    if logins:
        ensure_logins(settings.migrations_database_url, logins)

    def create_topics() -> None:
        asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap_servers,
                partitions=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_topic_replication_factor,
            )
        )

    wait_for("Kafka", create_topics, deadline)
    log.info("release prepared: schema migrated, topics present")


if __name__ == "__main__":
    main()
