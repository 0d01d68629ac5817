"""The schema's migrations, applied and rolled back with yoyo (the maintained tool we chose)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict
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
    """yoyo names its psycopg 3 backend `postgresql+psycopg`; it parses one host only, so
    a URL of several hosts (a primary and its standbys) becomes the host that psycopg
    reaches through it, the writable one under `target_session_attrs=read-write`."""
    scheme = database_url.split("://", 1)[0]
    if scheme not in ("postgres", "postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {scheme}://...")
    return f"postgresql+psycopg://{_one_host(database_url).split('://', 1)[1]}"


def _one_host(database_url: str) -> str:
    params = conninfo_to_dict(database_url)
    if "," not in str(params.get("host", "")):
        return database_url
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        host, port = connection.info.host, connection.info.port
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    login = f"{user}:{quote(str(password), safe='')}" if password is not None else user
    dbname = quote(str(params.pop("dbname", "")), safe="")
    for used in ("host", "hostaddr", "port", "target_session_attrs"):
        params.pop(used, None)
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{login}@{host}:{port}/{dbname}{query}"


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
