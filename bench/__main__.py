"""`python -m bench [NAME ...]`: run the benchmarks named (default: all of BENCHMARKS),
in order.

Each is a module `bench/<name>.py` with `main() -> None` that starts what it needs on free
loopback ports (devstack.session), prints its figures, writes them as JSON with the command
and the machine's load (`bench.figures`, into BENCH_FIGURES_DIR, default .state/bench) and
stops everything it started. The documentation site draws its charts from such JSON
committed under docs/figures/.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = [
    "ingest",
    "query",
    "query_shape",
    "courier",
    "commands",
    "invalid_bodies",
    "freshness",
    "tracing",
    "streams",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run the benchmarks and print their figures."
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"{', '.join(BENCHMARKS)} (default: all)"
    )
    chosen = parser.parse_args().names or BENCHMARKS
    if unknown := sorted(set(chosen) - set(BENCHMARKS)):
        parser.error(f"no benchmark {', '.join(unknown)}: one of {', '.join(BENCHMARKS)}")
    for name in chosen:
        print(f"== bench: {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
