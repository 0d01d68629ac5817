"""The integration tests share one database and one `orders` topic per session, and name
their orders by the seed that generates them: two test files generating orders from the
same literal seed store the same order ids, and each then finds the other's orders (a
creation answered 200 instead of 201, an erasure at version 3 instead of 2)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# The helpers that turn a literal seed into orders.
_SEEDED = re.compile(
    r"\b(?:Random|order|an_order|orders_created_in_order|generate_orders)\((\d{3,6})\b"
)


def test_no_two_test_files_generate_orders_from_the_same_seed() -> None:
    files_by_seed: dict[int, set[str]] = defaultdict(set)
    for path in TESTS.rglob("*.py"):
        for seed in _SEEDED.findall(path.read_text()):
            files_by_seed[int(seed)].add(str(path.relative_to(TESTS)))
    shared = {seed: sorted(files) for seed, files in files_by_seed.items() if len(files) > 1}
    assert not shared, f"seeds used by more than one test file: {shared}"
