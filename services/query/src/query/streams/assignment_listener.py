"""Courier changes for the order streams: the courier service's tables announce, through
PostgreSQL's LISTEN/NOTIFY, the order whose assignment changed (a trigger of migration
0012 notifies `courier_assignments` with the order id, delivered when the courier's
transaction commits, to every listening replica), and the feed relays it to whoever
watches that order as a `courier` event. The page then reads the courier card anew from
the courier API, which stays the one place that knows what an assignment looks like.

One connection per replica, whatever the number of streams; no table is read. A
notification sent while the connection was down is lost, so after every (re)connection
each watched order's courier is marked changed.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg.conninfo import make_conninfo

from order_shared.database import KEEPALIVES
from query.streams.change_feed import OrderChangeFeed

log = logging.getLogger(__name__)

CHANNEL = "courier_assignments"
_RETRY_SECONDS = 1.0


async def listen_for_assignments(database_url: str, feed: OrderChangeFeed) -> None:
    """Relay courier changes to the feed until cancelled, reconnecting as needed."""
    # Notifications are sent on the primary only; a standby refuses LISTEN.
    conninfo = make_conninfo(
        database_url, application_name="query-assignments", target_session_attrs="primary"
    )
    while True:
        try:
            connection = await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, **KEEPALIVES
            )
            async with connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                feed.couriers_unknown()
                async for notification in connection.notifies():
                    feed.courier_changed(notification.payload)
        except (psycopg.Error, OSError) as error:
            log.warning("listening for courier changes failed: %s; retrying", error)
            await asyncio.sleep(_RETRY_SECONDS)
