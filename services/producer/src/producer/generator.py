"""Realistic generated orders: consistent money (item totals, goods total, amount),
one to five items, plausible names, addresses and dates."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta

from order_shared.model import Delivery, Item, Order, Payment

_FIRST_NAMES = ("Anna", "Boris", "Chen", "Dana", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas")
_LAST_NAMES = ("Ivanova", "Petrov", "Li", "Cohen", "Yilmaz", "Haddad", "Berg", "Sato", "Costa")
_CITIES = (
    ("Kiryat Mozkin", "Kraiot"),
    ("Haifa", "Haifa"),
    ("Kazan", "Tatarstan"),
    ("Almaty", "Almaty"),
    ("Riga", "Riga"),
    ("Tbilisi", "Tbilisi"),
)
_STREETS = ("Ploshad Mira", "Herzl St", "Baumana St", "Abay Ave", "Brivibas iela", "Rustaveli Ave")
_PRODUCTS = (
    ("Mascaras", "Vivienne Sabo"),
    ("Lipstick", "Maybelline"),
    ("Sneakers", "Nike"),
    ("T-shirt", "Uniqlo"),
    ("Phone case", "Spigen"),
    ("Headphones", "Sony"),
    ("Notebook", "Moleskine"),
    ("Tea kettle", "Bosch"),
    ("Backpack", "Deuter"),
)
_CURRENCIES = ("USD", "EUR", "RUB", "KZT", "ILS")
_PROVIDERS = ("wbpay", "stripe", "yookassa")
_BANKS = ("alpha", "sber", "tinkoff", "leumi", "kaspi")
_DELIVERY_SERVICES = ("meest", "cdek", "dhl", "boxberry")


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=length))


def generate_order(rng: random.Random, now: datetime | None = None) -> Order:
    created = (now or datetime.now(UTC)) - timedelta(seconds=rng.randint(0, 30 * 86_400))
    created = created.replace(microsecond=0)
    order_uid = _token(rng, 19)
    track_number = "WB" + "".join(rng.choices(string.ascii_uppercase, k=12))
    items = []
    for _ in range(rng.randint(1, 5)):
        name, brand = rng.choice(_PRODUCTS)
        price = rng.randint(100, 20_000)
        sale = rng.choice((0, 0, 5, 10, 15, 30, 50))
        items.append(
            Item(
                chrt_id=rng.randint(1_000_000, 99_999_999),
                track_number=track_number,
                price=price,
                rid=_token(rng, 21),
                name=name,
                sale=sale,
                size=rng.choice(("0", "S", "M", "L", "XL", "42")),
                total_price=price * (100 - sale) // 100,
                nm_id=rng.randint(100_000, 9_999_999),
                brand=brand,
                status=rng.choice((202, 200, 201)),
            )
        )
    goods_total = sum(item.total_price for item in items)
    delivery_cost = rng.choice((0, 500, 1500))
    custom_fee = rng.choice((0, 0, 0, 100))
    city, region = rng.choice(_CITIES)
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    return Order(
        order_uid=order_uid,
        track_number=track_number,
        entry="WBIL",
        delivery=Delivery(
            name=f"{first} {last}",
            phone=f"+{rng.randint(1, 9)}" + "".join(rng.choices(string.digits, k=10)),
            zip="".join(rng.choices(string.digits, k=7)),
            city=city,
            address=f"{rng.choice(_STREETS)} {rng.randint(1, 200)}",
            region=region,
            email=f"{first.lower()}.{last.lower()}@example.com",
        ),
        payment=Payment(
            transaction=order_uid,
            request_id="",
            currency=rng.choice(_CURRENCIES),
            provider=rng.choice(_PROVIDERS),
            amount=goods_total + delivery_cost + custom_fee,
            payment_dt=int((created + timedelta(minutes=rng.randint(0, 30))).timestamp()),
            bank=rng.choice(_BANKS),
            delivery_cost=delivery_cost,
            goods_total=goods_total,
            custom_fee=custom_fee,
        ),
        items=items,
        locale=rng.choice(("en", "ru", "he")),
        internal_signature="",
        customer_id=_token(rng, 8),
        delivery_service=rng.choice(_DELIVERY_SERVICES),
        shardkey=str(rng.randint(0, 9)),
        sm_id=rng.randint(1, 100),
        date_created=created,
        oof_shard=str(rng.randint(1, 2)),
    )
