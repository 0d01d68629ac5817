"""Conditional GET: If-None-Match against the order's version (weak comparison, `*`)."""

from __future__ import annotations

from query.http.conditional import entity_tag, if_none_match, is_not_modified


def test_entity_tag_is_the_quoted_version() -> None:
    assert entity_tag(17) == b'"17"'


def test_matching_tags() -> None:
    tag = entity_tag(3)
    assert is_not_modified(b'"3"', tag)
    assert is_not_modified(b'W/"3"', tag)
    assert is_not_modified(b'"1", "2" ,"3"', tag)
    assert is_not_modified(b"*", tag)


def test_other_or_missing_tags_do_not_match() -> None:
    tag = entity_tag(3)
    assert not is_not_modified(None, tag)
    assert not is_not_modified(b'"4"', tag)
    assert not is_not_modified(b'"33"', tag)
    assert not is_not_modified(b"3", tag)
    assert not is_not_modified(b"", tag)


def test_the_header_is_found_among_raw_asgi_headers() -> None:
    headers = [(b"host", b"x"), (b"if-none-match", b'"9"'), (b"accept", b"*/*")]
    assert if_none_match(headers) == b'"9"'
    assert if_none_match([(b"host", b"x")]) is None
