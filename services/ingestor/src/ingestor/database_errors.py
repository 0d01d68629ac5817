"""Which database errors are about a record's own data, and which are about the database.

Only a refusal of the rows themselves may send a record to the dead-letter topic: a data
exception (SQLSTATE class 22: a value out of range, a character the encoding cannot hold)
or an integrity constraint violation (class 23). Everything else - the server restarting,
a read-only standby after a switchover, a revoked privilege, a table or column that a
migration applied out of order has not made yet, a timeout, a deadlock - says nothing
about the record: the batch waits and is retried, however long that takes, and readiness
and metrics say so.
"""

from __future__ import annotations

import psycopg

_DATA_CLASSES = ("22", "23")


def is_about_the_data(error: BaseException) -> bool:
    """True if PostgreSQL refused the rows themselves."""
    return isinstance(error, psycopg.Error) and (error.sqlstate or "")[:2] in _DATA_CLASSES


def is_about_the_database(error: BaseException) -> bool:
    """True for every other database error: wait, then try the same batch again."""
    return isinstance(error, psycopg.Error) and not is_about_the_data(error)


def reason(error: BaseException) -> str:
    """A short, bounded label for metrics: the error's class name."""
    return type(error).__name__
