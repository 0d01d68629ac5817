"""Reading server-sent event streams from the tests: a reader in a thread of its own that
parses every event as it arrives, and a client that connects and never reads."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class Event:
    kind: str
    id: str | None
    data: Any  # the JSON of `data:`


class EventStreamReader:
    """The events of one stream, gathered by a thread until the stream ends or is closed."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.events: list[Event] = []
        self.comments = 0
        self.status: int | None = None
        self.response_headers: httpx.Headers | None = None
        self.ended = threading.Event()
        self.clean_end = False
        self._opened = threading.Event()
        self._changed = threading.Condition()
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=120))
        self._headers = dict(headers or {})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self._headers) as response:
                self.status = response.status_code
                self.response_headers = response.headers
                self._opened.set()
                if response.status_code != 200:
                    response.read()
                    return
                self._parse(response.iter_lines())
                self.clean_end = True
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self._opened.set()
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def _parse(self, lines: Iterator[str]) -> None:
        kind, event_id, data = "message", None, []
        for line in lines:
            if line == "":
                if data:
                    event = Event(kind, event_id, json.loads("\n".join(data)))
                    with self._changed:
                        self.events.append(event)
                        self._changed.notify_all()
                kind, data = "message", []
            elif line.startswith(":"):
                self.comments += 1
                with self._changed:
                    self._changed.notify_all()
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    kind = value
                elif field == "id":
                    event_id = value
                elif field == "data":
                    data.append(value)

    def opened(self, timeout: float = 10) -> int | None:
        """The response's status, once it came."""
        self._opened.wait(timeout)
        return self.status

    def wait_for(self, check: Callable[[Event], bool], timeout: float = 20) -> Event:
        """The first event that passes `check`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events:
                    if check(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended.is_set():
                    raise AssertionError(
                        f"no such event on {self.url} (stream ended: {self.ended.is_set()}); "
                        f"got {self.events[-10:]}"
                    )
                self._changed.wait(remaining)

    def wait_until_ended(self, timeout: float = 20) -> bool:
        return self.ended.wait(timeout)

    def close(self) -> None:
        self._client.close()
        self._thread.join(timeout=5)


@contextmanager
def reading(url: str, headers: Mapping[str, str] | None = None) -> Iterator[EventStreamReader]:
    reader = EventStreamReader(url, headers)
    try:
        yield reader
    finally:
        reader.close()


@contextmanager
def stuck_client(url: str) -> Iterator[socket.socket]:
    """A client that asks for the stream and then reads nothing at all: its receive
    buffer is tiny, so the server's writes back up at once."""
    parts = urlsplit(url)
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    connection.connect((parts.hostname, parts.port))
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    try:
        yield connection
    finally:
        connection.close()


def is_order(order_uid: str, **fields: Any) -> Callable[[Event], bool]:
    def check(event: Event) -> bool:
        return (
            event.kind == "order"
            and event.data.get("order_uid") == order_uid
            and all(event.data.get(name) == value for name, value in fields.items())
        )

    return check
