"""The figures of a benchmark as data: one JSON file per benchmark beside the printed text.

Each bench module calls `record(name, figures)` once at its end. The file goes into
BENCH_FIGURES_DIR (default `.state/bench`) as `<name>.json`, with what a reader needs to
judge the figures: the command that produced them, when, on how many cores, and the load
average of the machine before and after the run (the machines are shared). The figures
committed under `docs/figures/` are such files; the documentation site draws its charts
from them (`docsite.charts`).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_FOLDER = Path(".state/bench")

# The load average when this process began: the "before" of every benchmark it runs.
_LOAD_AT_START = os.getloadavg()


def folder() -> Path:
    return Path(os.environ.get("BENCH_FIGURES_DIR") or DEFAULT_FOLDER)


def command(name: str) -> str:
    """The command that reproduces the run: the knobs set in the environment, then bench."""
    knobs = sorted(
        (key, value)
        for key, value in os.environ.items()
        if key.startswith("BENCH_") and key != "BENCH_FIGURES_DIR"
    )
    prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in knobs)
    return f"{prefix} python -m bench {name}".strip()


def record(
    name: str, figures: dict[str, Any], load_before: tuple[float, ...] | None = None
) -> Path:
    """Write `<name>.json` with the figures and the conditions they were measured in."""
    document = {
        "benchmark": name,
        "command": command(name),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average": {
            "before": round((load_before or _LOAD_AT_START)[0], 2),
            "after": round(os.getloadavg()[0], 2),
        },
        "figures": figures,
    }
    target = folder() / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2) + "\n")
    print(f"   figures written to {target}", flush=True)
    return target
