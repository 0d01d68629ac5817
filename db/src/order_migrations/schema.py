"""The schema's migrations, applied and rolled back with yoyo (the maintained tool we chose)."""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations
from yoyo.migrations import descendants

log = logging.getLogger("order_migrations")


def migrations_folder() -> Path:
    """The SQL migrations: inside the installed package when it is a wheel (the image), else
    the repository's db/migrations beside this package's source (a checkout, editable)."""
    packaged = Path(__file__).with_name("migrations")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def yoyo_url(database_url: str) -> str:
    """yoyo names its psycopg 3 backend `postgresql+psycopg`."""
    scheme, rest = database_url.split("://", 1)
    if scheme not in ("postgres", "postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {scheme}://...")
    return f"postgresql+psycopg://{rest}"


def apply_migrations(database_url: str) -> None:
    """Apply every migration not applied yet, under yoyo's lock (one runner at a time)."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(migrations_folder()))
    if not migrations:
        raise RuntimeError(f"no migrations in {migrations_folder()}")
    with backend.lock():
        pending = backend.to_apply(migrations)
        log.info("applying %d of %d migrations", len(pending), len(migrations))
        backend.apply_migrations(pending)


def roll_back_migration(database_url: str, revision: str) -> None:
    """Roll back one applied migration and every applied one that depends on it."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(migrations_folder()))
    targets = [migration for migration in migrations if migration.id == revision]
    if not targets:
        raise ValueError(f"no migration {revision} in {migrations_folder()}")
    chosen = {targets[0], *descendants(targets[0], migrations)}
    with backend.lock():
        backend.rollback_migrations(backend.to_rollback(migrations.filter(chosen.__contains__)))
