"""Charts of the benchmarks' figures, drawn at build time from the JSON that `make bench`
writes (`bench.figures`) and that is committed under `docs/figures/`: a chart is never
pasted by hand, and a new measurement is a new JSON file."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

# Same data, same bytes: no random ids or dates in the SVG.
plt.rcParams["svg.hashsalt"] = "order-service"
plt.rcParams["font.size"] = 9

REPLICA, CEILING = "#3f51b5", "#9e9e9e"
# The servers a query run may have measured (bench.query.FIGURE_KEYS), drawn in this order.
QUERY_SERVERS = [
    ("replica", "replica", REPLICA),
    ("ceiling", "ceiling (raw ASGI)", CEILING),
    ("rsgi_ceiling", "ceiling (raw RSGI)", "#616161"),
    ("go_net_http", "Go net/http", "#00897b"),
]


def _conditions(document: dict[str, Any]) -> str:
    load = document["load_average"]
    return (
        f"{document['cpus']} cores, load average {load['before']} before, {load['after']} after; "
        f"{document['measured_at'][:10]}"
    )


def _hits_per_cpu_second(figures: dict[str, Any]) -> float:
    return 1e6 / figures["cpu_us_per_request"]


def query_chart(document: dict[str, Any]) -> Figure:
    """Throughput per core and p99 of the replica against the references it was measured
    with (the raw ASGI ceiling; in newer runs also the raw RSGI ceiling and Go), per
    scenario. Throughput is drawn as hits per second of the server's own CPU time: on a
    shared machine req/s moves with whatever else takes the server's core, its CPU time
    per request hardly does (bench.query)."""
    scenarios = document["figures"]["scenarios"]
    names = [s["scenario"].replace(", ", "\n", 1) for s in scenarios]
    figure, (rate, tail) = plt.subplots(1, 2, figsize=(9, 3.4))
    positions = range(len(scenarios))
    servers = [server for server in QUERY_SERVERS if server[0] in scenarios[0]]
    width = 0.8 / len(servers)
    for axis, value, label in (
        (rate, _hits_per_cpu_second, "hits per second of one core's CPU"),
        (tail, lambda figures: figures["p99_ms"], "p99 latency (ms)"),
    ):
        for index, (server, server_label, color) in enumerate(servers):
            offset = (index - (len(servers) - 1) / 2) * width
            axis.bar(
                [p + offset for p in positions],
                [value(s[server]) for s in scenarios],
                width,
                label=server_label,
                color=color,
            )
        axis.set_xticks(list(positions), names)
        axis.set_ylabel(label)
        axis.grid(axis="y", alpha=0.3)
    rate.legend(loc="lower left")
    figures = document["figures"]
    tracing = "spans exported at the default sampling" if figures["traced"] else "no exporter"
    figure.suptitle(
        f"Cache hits over {figures['orders']:,} orders, median of {figures['rounds']} rounds, "
        f"{tracing}\n{_conditions(document)}"
    )
    return figure


def ingest_chart(document: dict[str, Any]) -> Figure:
    """The ingestor's rate per batch size against PostgreSQL's COPY of the same rows."""
    figures = document["figures"]
    sizes = figures["batch_sizes"]
    figure, axis = plt.subplots(figsize=(6, 3.2))
    labels = [f"ingestor\nbatches of {s['batch_max_records']:,}" for s in sizes]
    axis.bar(labels, [s["orders_per_second"] for s in sizes], color=REPLICA, width=0.5)
    ceiling = figures["copy_ceiling_orders_per_second"]
    axis.axhline(ceiling, color=CEILING, linestyle="--", label=f"COPY ceiling {ceiling:,}/s")
    axis.axhline(ceiling / 2, color=CEILING, linestyle=":", label="half the ceiling (the aim)")
    for index, size in enumerate(sizes):
        axis.annotate(
            f"{size['ratio_to_copy']:.2f} of COPY",
            (index, size["orders_per_second"]),
            ha="center",
            va="bottom",
        )
    axis.set_ylabel("orders per second")
    axis.set_ylim(0, ceiling * 1.15)
    axis.legend(loc="upper right")
    axis.grid(axis="y", alpha=0.3)
    figure.suptitle(f"{figures['orders']:,} orders to committed rows\n{_conditions(document)}")
    return figure


def freshness_chart(document: dict[str, Any]) -> Figure:
    """Share of orders served by each replica within t of the ingestor's commit."""
    figure, axis = plt.subplots(figsize=(6, 3.2))
    for replica in document["figures"]["replicas"]:
        finite = [b for b in replica["buckets"] if b["le"] != "+Inf"]
        total = replica["applied"] or 1
        axis.step(
            [b["le"] * 1000 for b in finite],
            [b["count"] / total for b in finite],
            where="post",
            label=f"replica {replica['replica']}: p50 {replica['p50_ms']} ms, "
            f"p99 {replica['p99_ms']} ms",
        )
    axis.set_xscale("log")
    axis.set_xlabel("ms from the ingestor's commit to the replica's apply (bucket bounds)")
    axis.set_ylabel("share of orders")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figures = document["figures"]
    figure.suptitle(
        f"{figures['orders']:,} orders at {figures['rate_sent_per_second']:,}/s\n"
        f"{_conditions(document)}"
    )
    return figure


# Benchmark -> how its chart is drawn.
CHARTS: dict[str, Callable[[dict[str, Any]], Figure]] = {
    "query": query_chart,
    "ingest": ingest_chart,
    "freshness": freshness_chart,
}


_ALT = {
    "query": "Hits per CPU-second and p99 of the query replica against its references",
    "ingest": "The ingestor's orders per second against PostgreSQL's COPY of the same rows",
    "freshness": "Share of orders each replica applied within a time of the ingestor's commit",
}


def figure_markdown(folder: Path, name: str) -> str:
    """The chart of benchmark `name` with the command and conditions of its measurement."""
    document = json.loads((folder / f"{name}.json").read_text())
    load = document["load_average"]
    return (
        f"![{_ALT[name]}](figures/{name}.svg)\n\n"
        f"Measured with `{document['command']}` on {document['measured_at'][:10]}, "
        f"{document['cpus']} cores, load average {load['before']} before and "
        f"{load['after']} after; the data: `docs/figures/{name}.json`."
    )


def svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    return buffer.getvalue()


def charts(folder: Path) -> dict[str, bytes]:
    """`<name>.svg` -> its SVG, for every benchmark with figures in `folder`."""
    drawn = {}
    for name, draw in CHARTS.items():
        source = folder / f"{name}.json"
        if source.exists():
            drawn[f"{name}.svg"] = svg(draw(json.loads(source.read_text())))
    return drawn
