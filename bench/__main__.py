"""`python -m bench`: run every benchmark in BENCHMARKS, in order.

Each is a module `bench/<name>.py` with `main() -> None` that starts what it needs on free
loopback ports, prints its figures and stops everything it started.
"""

from __future__ import annotations

import importlib

BENCHMARKS = ["ingest", "query", "courier"]


def main() -> None:
    for name in BENCHMARKS:
        print(f"== bench: {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
