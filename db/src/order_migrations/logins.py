"""Login users of the services, each made a member of its group role (development only).

The group roles themselves (`order_writer`, `order_reader`) come from the migrations; in
production the platform creates the logins and nothing here runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

log = logging.getLogger("order_migrations")

LOGIN_PREFIX = "LOGIN_FOR_"


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    group: str


def logins_from_environment(environ: Mapping[str, str]) -> list[Login]:
    """The logins that `LOGIN_FOR_<GROUP>=URL[,URL...]` variables ask for: the user and
    password of each URL become a login in role `<group>`."""
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


def ensure_logins(database_url: str, logins: Iterable[Login]) -> None:
    """Create each login, or set its password if it exists, and grant it its group role."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for login in logins:
            exists = connection.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (login.user,)
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            connection.execute(
                sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(login.user), sql.Literal(login.password)
                )
            )
            connection.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(login.group), sql.Identifier(login.user)
                )
            )
            log.info("login %s is a member of %s", login.user, login.group)
