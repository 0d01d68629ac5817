"""The demo data that ships inside the producer package: the canonical order of the
original task, so `order-producer --canonical` publishes it from a checkout or an image."""

from __future__ import annotations

from importlib.resources import files

CANONICAL_ORDER_UID = "b563feb7b2b84b6test"


def canonical_order() -> bytes:
    """The canonical order document, byte for byte as the task gave it."""
    return files("producer").joinpath("data", "canonical_order.json").read_bytes()
