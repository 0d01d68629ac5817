"""Who may open a stream: at most `max_streams` on this replica and `max_per_address` from
one client address; beyond either, the request is answered 503 with `Retry-After`.

Behind a proxy every connection comes from the proxy's address, so the client is read
from `X-Forwarded-For`, but only as far as trusted proxies wrote it: walking the header
from its end (the entry the nearest proxy added), the first address that is not a trusted
proxy is the client. A client talking straight to the replica cannot pick its address by
sending the header itself, since its own address is not trusted.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections import Counter
from collections.abc import Iterator, Sequence

from litestar.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class StreamRefused(Exception):
    """No stream for this client now; the message says which limit it met."""


class StreamAdmission:
    def __init__(
        self, max_streams: int, max_per_address: int, trusted_proxies: Sequence[Network]
    ) -> None:
        self._max_streams = max_streams
        self._max_per_address = max_per_address
        self._trusted = tuple(trusted_proxies)
        self._per_address: Counter[str] = Counter()
        self.open = 0
        self.refused: Counter[str] = Counter()

    @contextlib.contextmanager
    def admitted(self, scope: Scope) -> Iterator[None]:
        """Hold a place for one stream of this request's client, or raise StreamRefused."""
        address = self.client_address(scope)
        if self.open >= self._max_streams:
            self.refused["replica"] += 1
            raise StreamRefused(f"this replica serves {self._max_streams} streams already")
        if self._per_address[address] >= self._max_per_address:
            self.refused["address"] += 1
            raise StreamRefused(f"{self._max_per_address} streams are open from {address}")
        self.open += 1
        self._per_address[address] += 1
        try:
            yield
        finally:
            self.open -= 1
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]

    def client_address(self, scope: Scope) -> str:
        peer = scope.get("client")
        address = peer[0] if peer else "unknown"
        if not self._is_trusted(address):
            return address
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded = value.decode("latin-1").split(",")
                for hop in reversed(forwarded[-32:]):  # bounded: a header may be long
                    hop = hop.strip()
                    if not self._is_trusted(hop):
                        return hop if _is_address(hop) else address
                break
        return address

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
