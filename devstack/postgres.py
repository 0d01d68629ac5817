"""A PostgreSQL server from Debian's packages, its cluster in a folder of ours.

PostgreSQL refuses to run as root, so when we are root the server runs as the
`postgres` system user that Debian's package creates.

The cluster variant (`make up CLUSTER=1`, the cluster tests) adds a streaming standby:
`clone_standby` copies a running primary with `pg_basebackup` into a replication slot,
`promote` makes the standby the primary, and the primary commits synchronously to its
standby (`require_standby`) so that a promotion loses no acknowledged commit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from devstack.process import ServerCommand
from devstack.readiness import wait_until

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "postgres"
DATABASE = "orders"


def _bin_dir() -> Path:
    found = shutil.which("pg_config")
    if found:
        bindir = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(bindir.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not versions:
        raise RuntimeError("PostgreSQL server not found: install Debian's `postgresql` package")
    return versions[0].parent


def server_user() -> str | None:
    """The user to run the server as: `postgres` when we are root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def prepare_server(data_dir: Path, port: int) -> ServerCommand:
    """Create the cluster on first use; return how to run the server in the foreground."""
    bindir = _bin_dir()
    if not (data_dir / "PG_VERSION").exists():
        _initdb(bindir, data_dir)
    return server_command(data_dir, port)


def _initdb(bindir: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    password_file = data_dir.parent / f".{data_dir.name}.pw"
    password_file.write_text(SUPERUSER_PASSWORD + "\n")
    user = server_user()
    if user:
        shutil.chown(data_dir, user)
        shutil.chown(password_file, user)
    data_dir.chmod(0o700)
    initdb = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        user=user,
        capture_output=True,
        text=True,
    )
    password_file.unlink()
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed for {data_dir}:\n{initdb.stderr}")


def server_command(data_dir: Path, port: int) -> ServerCommand:
    """How to run the server of `data_dir` (a primary, or a standby cloned there)."""
    bindir = _bin_dir()
    argv = [
        str(bindir / "postgres"),
        "-D",
        str(data_dir),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "fsync=on",
        "-c",
        "max_connections=200",
        "-c",
        "shared_buffers=256MB",
        "-c",
        "logging_collector=off",
        "-c",
        "log_min_messages=warning",
        "-c",
        "log_checkpoints=off",
    ]
    # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client to leave.
    return ServerCommand(data_dir.name, argv, user=server_user(), stop_signal=signal.SIGINT)


def slot_name(data_dir: Path) -> str:
    """The replication slot a standby in `data_dir` streams from."""
    return "standby_" + "".join(c if c.isalnum() else "_" for c in data_dir.name.lower())


def clone_standby(data_dir: Path, primary_port: int, *, timeout: float = 120.0) -> None:
    """Make `data_dir` (replaced) a streaming standby of the primary on `primary_port`:
    `pg_basebackup` through a new replication slot, `-R` writing `primary_conninfo`."""
    shutil.rmtree(data_dir, ignore_errors=True)
    slot = slot_name(data_dir)
    with psycopg.connect(admin_url(primary_port, "postgres"), autocommit=True) as connection:
        connection.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s AND NOT active",
            (slot,),
        )
    data_dir.mkdir(parents=True)
    user = server_user()
    if user:
        shutil.chown(data_dir, user)
    data_dir.chmod(0o700)
    backup = subprocess.run(
        [
            str(_bin_dir() / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary_port), "-U", SUPERUSER),
            *("-D", str(data_dir), "-X", "stream", "-R", "-C", "-S", slot),
            "--checkpoint=fast",
        ],
        user=user,
        env={**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if backup.returncode != 0:
        raise RuntimeError(f"pg_basebackup into {data_dir} failed:\n{backup.stderr}")


def is_primary(port: int) -> bool:
    with psycopg.connect(admin_url(port, "postgres"), connect_timeout=2) as connection:
        (in_recovery,) = connection.execute("SELECT pg_is_in_recovery()").fetchone()
        return not in_recovery


def require_standby(primary_port: int, required: bool) -> None:
    """Whether commits on the primary wait until a standby has flushed them
    (`synchronous_standby_names = '*'`): on while a standby streams, off while there is
    none, else every commit would wait for one."""
    with psycopg.connect(admin_url(primary_port, "postgres"), autocommit=True) as connection:
        if required:
            connection.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        else:
            connection.execute("ALTER SYSTEM RESET synchronous_standby_names")
        connection.execute("SELECT pg_reload_conf()")


def promote(standby_port: int) -> None:
    """Promote the standby on `standby_port` (waits until it accepts writes), with no
    standby of its own yet: commits do not wait for one."""
    with psycopg.connect(admin_url(standby_port, "postgres"), autocommit=True) as connection:
        connection.execute("SELECT pg_promote(wait => true, wait_seconds => 60)")
    require_standby(standby_port, required=False)


def wait_until_streaming(primary_port: int, timeout: float = 60.0) -> None:
    """Until a standby streams from the primary on `primary_port`."""

    def streaming() -> bool:
        with psycopg.connect(admin_url(primary_port, "postgres"), connect_timeout=2) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchone()
        if not row or row[0] < 1:
            raise TimeoutError("no standby streaming yet")
        return True

    wait_until(
        streaming,
        what=f"a standby streaming from port {primary_port}",
        timeout=timeout,
        retry_on=(psycopg.OperationalError, TimeoutError),
    )


def admin_url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://{SUPERUSER}:{SUPERUSER_PASSWORD}@127.0.0.1:{port}/{database}"


def service_url(port: int, user: str) -> str:
    return f"postgresql://{user}:{user}@127.0.0.1:{port}/{DATABASE}"


def wait_until_ready(port: int, timeout: float = 60.0) -> None:
    def connects() -> bool:
        with psycopg.connect(admin_url(port, "postgres"), connect_timeout=2):
            return True

    wait_until(
        connects,
        what=f"PostgreSQL on port {port}",
        timeout=timeout,
        retry_on=psycopg.OperationalError,
    )


def create_database(port: int) -> None:
    """Create the `orders` database if it is missing (idempotent)."""
    with psycopg.connect(admin_url(port, "postgres"), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


@contextmanager
def scratch_database(port: int, prefix: str) -> Iterator[str]:
    """A new empty database named `<prefix>_<random>`, as the superuser's URL; dropped
    (with whoever is still connected) on leaving."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = admin_url(port, "postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin_url(port, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )
