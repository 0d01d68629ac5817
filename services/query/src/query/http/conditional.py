"""Conditional GET: the entity tag of an order is its version, so a client (or a proxy)
that already holds that version gets 304 and no body (RFC 9110, section 13.1.2)."""

from __future__ import annotations

from collections.abc import Iterable


def entity_tag(version: int) -> bytes:
    return b'"%d"' % version


def if_none_match(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The If-None-Match header of raw ASGI headers (names arrive lower-cased)."""
    for name, value in headers:
        if name == b"if-none-match":
            return value
    return None


def is_not_modified(if_none_match: bytes | None, tag: bytes) -> bool:
    """True if the client's If-None-Match names `tag` (weak comparison) or is `*`."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == b"*":
        return True
    return any(
        candidate.strip().removeprefix(b"W/") == tag for candidate in if_none_match.split(b",")
    )


def version_of(tag: str) -> int:
    """The version an entity tag of ours names (`"7"` is 7)."""
    return int(tag.strip().strip('"'))
