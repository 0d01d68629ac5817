"""The couriers `make up` adds through the courier API, so that demo orders get delivered.
A second `make up` finds them there already (409 on their phones) and adds none."""

from __future__ import annotations

import httpx

DEMO_COURIERS = (
    {"name": "Ada Lovelace", "phone": "+15550100001", "transport": "scooter"},
    {"name": "Grace Hopper", "phone": "+15550100002", "transport": "car"},
    {"name": "Alan Turing", "phone": "+15550100003", "transport": "on_foot"},
    {"name": "Edsger Dijkstra", "phone": "+15550100004", "transport": "scooter"},
    {"name": "Barbara Liskov", "phone": "+15550100005", "transport": "car"},
)


def add_demo_couriers(courier_url: str) -> None:
    for courier in DEMO_COURIERS:
        response = httpx.post(f"{courier_url}/api/v1/couriers", json=courier, timeout=10)
        if response.status_code not in (201, 409):
            response.raise_for_status()
