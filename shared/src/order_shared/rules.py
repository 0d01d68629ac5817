"""Business rules an order must satisfy beyond its schema. Each returns what is wrong, with
the JSON path of the field, or nothing. docs/contracts.md lists them and why each is enforced."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pycountry

from order_shared.model import Order

ISO_4217_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)


def _currency_is_iso_4217(order: Order) -> Iterator[str]:
    if order.payment.currency not in ISO_4217_CODES:
        yield f"$.payment.currency: {order.payment.currency!r} is not an ISO 4217 currency code"


def _goods_total_matches_items(order: Order) -> Iterator[str]:
    items_total = sum(item.total_price for item in order.items)
    if order.payment.goods_total != items_total:
        yield (
            f"$.payment.goods_total: {order.payment.goods_total} is not the sum of the items' "
            f"total_price ({items_total})"
        )


def _amount_matches_its_parts(order: Order) -> Iterator[str]:
    payment = order.payment
    parts = payment.goods_total + payment.delivery_cost + payment.custom_fee
    if payment.amount != parts:
        yield (
            f"$.payment.amount: {payment.amount} is not goods_total + delivery_cost + "
            f"custom_fee ({parts})"
        )


def _items_belong_to_the_order(order: Order) -> Iterator[str]:
    for position, item in enumerate(order.items):
        if item.track_number != order.track_number:
            yield (
                f"$.items[{position}].track_number: {item.track_number!r} is not the order's "
                f"track_number {order.track_number!r}"
            )


def _item_rids_are_unique(order: Order) -> Iterator[str]:
    first_seen: dict[str, int] = {}
    for position, item in enumerate(order.items):
        if item.rid in first_seen:
            yield (
                f"$.items[{position}].rid: {item.rid!r} repeats the item at position "
                f"{first_seen[item.rid]}"
            )
        first_seen.setdefault(item.rid, position)


RULES: tuple[Callable[[Order], Iterator[str]], ...] = (
    _currency_is_iso_4217,
    _goods_total_matches_items,
    _amount_matches_its_parts,
    _items_belong_to_the_order,
    _item_rids_are_unique,
)


def rule_violations(order: Order) -> list[str]:
    return [problem for rule in RULES for problem in rule(order)]
