"""Apply the SQL migrations in `db/migrations` with yoyo (the maintained tool we chose)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "db" / "migrations"


def yoyo_url(database_url: str) -> str:
    """yoyo names its psycopg 3 backend `postgresql+psycopg`."""
    scheme, rest = database_url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else database_url


def apply_migrations(database_url: str) -> None:
    _run_yoyo("apply", database_url)


def roll_back_migration(database_url: str, revision: str) -> None:
    """Roll back one applied migration (and any that depend on it)."""
    _run_yoyo("rollback", database_url, "--revision", revision)


def _run_yoyo(command: str, database_url: str, *options: str) -> None:
    yoyo = Path(sys.executable).with_name("yoyo")
    subprocess.run(
        [
            str(yoyo),
            command,
            "--batch",
            "--no-config-file",
            "--database",
            yoyo_url(database_url),
            *options,
            str(MIGRATIONS_DIR),
        ],
        check=True,
    )
