"""The change feed: what the informer applies, fanned out to the streams of this replica.

The reflector tells the feed of every change it applies to the store, whether it came in
an announcement or a catch-up from PostgreSQL (`changed`, `erased`), and of a relist after
the database was replaced (`relisted`); the assignment listener tells it when an order's
courier changed (`courier_changed`). Nothing here reads PostgreSQL or Redis: a stream sees
exactly what the replica's own store sees, in the order it sees it.

Two kinds of stream:

* **One order** (`watch_order`): each change of that order is queued at once for every
  client watching it, encoded once. Its events' ids are the order's versions.
* **The newest orders** (`watch_newest`): changes are gathered per order and sent together
  at most every `newest_interval` seconds (at once when the last send was longer ago), at
  most `NEWEST_PER_SEND` orders a send, the latest changed: one frame, encoded once, for
  every such client. So a client costs one write per interval whatever the rate of
  changes, and the list it shows (the newest orders) is what the latest changes are.
  Its events' ids are the replica's change sequence (`last_seq`) when the change was
  applied: a client that reconnects, here or on another replica, with that id as
  `Last-Event-ID` is sent the changes after it from the recent history (`history_size`
  changes), or one `reload` when the history no longer reaches back that far.

Every client has a small buffer (`Subscription`); a client that lets it fill is sent
`reload` and dropped, and nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from order_shared.model import OrderStatus
from query.streams import frames
from query.streams.subscription import Subscription

# The orders of one send on the newest orders' stream: the page's first page.
NEWEST_PER_SEND = 20


@dataclass(slots=True)
class Change:
    """One applied change, as the history keeps it."""

    event_id: int  # the replica's change sequence once it was applied
    seq: int  # the change's own sequence
    order_uid: str
    version: int
    status: OrderStatus
    document: bytes | None  # None: only the status changed, or erased
    erased: bool = False
    _summary: bytes | None = field(default=None, repr=False)

    def summary_frame(self) -> bytes:
        """The event on the newest orders' stream, encoded once however many send it."""
        if self._summary is None:
            if self.erased:
                self._summary = frames.erased_event(
                    self.order_uid, self.version, event_id=self.event_id
                )
            else:
                self._summary = frames.summary_event(
                    self.event_id, self.order_uid, self.version, self.status, self.document
                )
        return self._summary


@dataclass
class FeedStats:
    """For the metrics endpoint."""

    overflows: int = 0
    newest_sends: int = 0
    reloads_on_resume: int = 0


@dataclass(frozen=True)
class FeedLimits:
    """How much the feed remembers and how much each client may have waiting."""

    history_size: int  # recent changes kept for clients that reconnect
    buffer_size: int  # frames a client may have waiting before it is dropped
    newest_interval: float  # seconds between sends on the newest orders' stream


class OrderChangeFeed:
    def __init__(self, limits: FeedLimits, version_of: Callable[[str], int]) -> None:
        self._history: deque[Change] = deque()
        self._history_size = limits.history_size
        # Every change with a sequence above this one is in the history (None until the
        # first list is in: `started` sets it to what the list covered).
        self.history_floor: int | None = None
        self._buffer_size = limits.buffer_size
        self._newest_interval = limits.newest_interval
        # The version of an order this replica knows (0: none), for courier events.
        self._version_of = version_of
        self._watchers: dict[str, set[Subscription]] = {}
        self._newest: set[Subscription] = set()
        self._pending: dict[str, Change] = {}
        self._send_requested = asyncio.Event()
        self._last_send = 0.0
        self.last_event_id = 0
        self.closed = False
        self._all_ended = asyncio.Event()  # set once closed and every stream has gone
        self.stats = FeedStats()

    # What the informer tells.

    def started(self, listed_seq: int) -> None:
        """The first list is in, up to change `listed_seq`; changes follow from here."""
        self.history_floor = listed_seq
        self.last_event_id = max(self.last_event_id, listed_seq)

    def changed(
        self,
        order_uid: str,
        version: int,
        seq: int,
        status: OrderStatus,
        document: bytes | None,
        event_id: int,
    ) -> None:
        """The store now holds `version` of the order (`document` None: its status
        changed and the document did not)."""
        self._record(Change(event_id, seq, order_uid, version, status, document))
        watchers = self._watchers.get(order_uid)
        if watchers:
            frame = frames.order_event(order_uid, version, status, document)
            self._push(watchers, frame)

    def erased(self, order_uid: str, version: int, seq: int, event_id: int) -> None:
        self._record(Change(event_id, seq, order_uid, version, "created", None, erased=True))
        watchers = self._watchers.get(order_uid)
        if watchers:
            frame = frames.erased_event(order_uid, version, event_id=version)
            self._push(watchers, frame)

    def courier_changed(self, order_uid: str) -> None:
        watchers = self._watchers.get(order_uid)
        if watchers:
            version = self._version_of(order_uid)
            frame = frames.courier_event(order_uid, version)
            self._push(watchers, frame)

    def couriers_unknown(self) -> None:
        """Courier changes may have been missed (the listener reconnected): every watched
        order's courier is to be read again."""
        for order_uid in list(self._watchers):
            self.courier_changed(order_uid)

    def relisted(self, listed_seq: int) -> None:
        """The database was replaced and every order listed anew: nothing sent before
        holds. Every stream is told to reload, and ends."""
        self._history.clear()
        self._pending.clear()
        self.history_floor = listed_seq
        self.last_event_id = listed_seq
        # The newest orders' clients resume from the new list; an order's, from its version.
        for subscription in self._newest:
            subscription.end("relisted", frames.reload_event(listed_seq, "relisted"))
        for subscription in self._subscriptions():
            subscription.end("relisted", frames.reload_event(None, "relisted"))

    def close(self) -> None:
        """The replica stops: every stream ends after what it was sent, and any opened
        from now on ends at once."""
        self.closed = True
        for subscription in self._subscriptions():
            subscription.end("shutdown")

    async def end_streams(self, within: float) -> None:
        """Close, then wait up to `within` seconds for every stream to have ended."""
        self.close()
        if self.streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_ended.wait(), within)

    # What the streams ask.

    @contextlib.contextmanager
    def watch_order(self, order_uid: str) -> Iterator[Subscription]:
        """A subscription to one order's changes."""
        subscription = self._subscription()
        watchers = self._watchers.setdefault(order_uid, set())
        watchers.add(subscription)
        try:
            yield subscription
        finally:
            watchers.discard(subscription)
            if not watchers:
                self._watchers.pop(order_uid, None)
            self._gone()

    @contextlib.contextmanager
    def watch_newest(self, last_event_id: int | None) -> Iterator[Subscription]:
        """A subscription to the newest orders' changes; from a client that saw every
        change up to `last_event_id`, what it missed is queued first (or `reload`); then
        the `position` it stands at."""
        subscription = self._subscription()
        missed = b"" if last_event_id is None else self._missed_since(last_event_id)
        opening = missed + frames.position_event(self.last_event_id)
        subscription.push(opening)
        self._newest.add(subscription)
        try:
            yield subscription
        finally:
            self._newest.discard(subscription)
            self._gone()

    def _gone(self) -> None:
        if self.closed and not self.streams:
            self._all_ended.set()

    def _subscription(self) -> Subscription:
        subscription = Subscription(self._buffer_size)
        if self.closed:
            subscription.end("shutdown")
        return subscription

    def _missed_since(self, last_event_id: int) -> bytes:
        floor = self.history_floor
        if floor is None or last_event_id < floor:
            self.stats.reloads_on_resume += 1
            return frames.reload_event(self.last_event_id, "history")
        latest: dict[str, Change] = {}
        for change in self._history:  # bounded by history_size
            if change.seq > last_event_id:
                latest.pop(change.order_uid, None)
                latest[change.order_uid] = change
        return b"".join(change.summary_frame() for change in _last(latest, NEWEST_PER_SEND))

    async def run(self) -> None:
        """Send the gathered changes to the newest orders' streams, at most every
        `newest_interval` seconds, until cancelled."""
        clock = asyncio.get_running_loop().time
        while True:
            await self._send_requested.wait()
            wait = self._last_send + self._newest_interval - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._send_requested.clear()
            self._send_newest()
            self._last_send = clock()

    def _send_newest(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending or not self._newest:
            return
        frame = b"".join(change.summary_frame() for change in _last(pending, NEWEST_PER_SEND))
        self.stats.newest_sends += 1
        self._push(self._newest, frame)

    def _record(self, change: Change) -> None:
        self.last_event_id = max(self.last_event_id, change.event_id)
        history = self._history
        history.append(change)
        if len(history) > self._history_size:
            dropped = history.popleft()
            if self.history_floor is None or dropped.seq > self.history_floor:
                self.history_floor = dropped.seq
        if self._newest:
            self._pending.pop(change.order_uid, None)
            self._pending[change.order_uid] = change
            self._send_requested.set()

    def _push(self, subscriptions: set[Subscription], frame: bytes) -> None:
        for subscription in list(subscriptions):
            subscription.push(frame)
            if subscription.ended == "overflow":
                self.stats.overflows += 1
                subscriptions.discard(subscription)

    def _subscriptions(self) -> list[Subscription]:
        return [*self._newest, *(s for watchers in self._watchers.values() for s in watchers)]

    @property
    def streams(self) -> int:
        return len(self._newest) + sum(len(w) for w in self._watchers.values())


def _last(changes: dict[str, Change], count: int) -> list[Change]:
    """The `count` changes last inserted, oldest first."""
    values = list(changes.values())
    return values[-count:]
