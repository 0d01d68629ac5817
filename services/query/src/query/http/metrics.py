"""Prometheus metrics of a query replica: hits and misses, the store's size, what misses
cost PostgreSQL, how often the watch had to be backed up by a catch-up or a relist and why,
how fresh announcements were when applied, and request durations.

The numbers live as plain counters on the objects that count them and are read only when
scraped, so the request path does no more than add to them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from order_shared.request_durations import RequestDurations
from query.commands.redis_refusals import RedisRefusals
from query.informer.informer import OrderInformer
from query.streams.admission import StreamAdmission


class HitCount:
    """Orders answered from memory by the hot path: one integer, bumped per answer."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class _InformerCollector(Collector):
    def __init__(self, informer: OrderInformer, hits: HitCount) -> None:
        self._informer = informer
        self._hits = hits

    def collect(self) -> Iterator[Metric]:
        informer = self._informer
        store, lookup, stats = informer.store, informer.lookup, informer.reflector.stats
        yield CounterMetricFamily(
            "query_cache_hits",
            "Order requests answered from memory (the hot path's and the framework's)",
            self._hits.value + informer.hits,
        )
        yield CounterMetricFamily(
            "query_cache_misses",
            "Order requests for an order not in memory: read from PostgreSQL, or known "
            "missing for a moment",
            informer.misses,
        )
        yield GaugeMetricFamily("query_store_orders", "Orders held in memory", len(store))
        yield GaugeMetricFamily(
            "query_store_bytes", "Approximate bytes the held orders take", store.nbytes
        )
        yield CounterMetricFamily(
            "query_store_evictions", "Orders evicted to stay within capacity", store.evictions
        )
        reads = CounterMetricFamily(
            "query_order_reads",
            "Single orders read from PostgreSQL on a cache miss (one per single-flight)",
            labels=["result"],
        )
        reads.add_metric(["found"], lookup.reads_found)
        reads.add_metric(["not_found"], lookup.reads_not_found)
        reads.add_metric(["unreadable"], lookup.reads_unreadable)
        reads.add_metric(["erased"], lookup.reads_erased)
        yield reads
        yield GaugeMetricFamily(
            "query_order_reads_in_flight", "Miss reads under way", lookup.reads_in_flight
        )
        yield GaugeMetricFamily(
            "query_last_change_seq",
            "Last change sequence applied in order",
            informer.last_seq,
        )
        announcements = CounterMetricFamily(
            "query_announcements", "Change announcements received", labels=["outcome"]
        )
        announcements.add_metric(["applied"], stats.announcements_applied)
        announcements.add_metric(["ignored"], stats.announcements_ignored)
        announcements.add_metric(["malformed"], stats.announcements_malformed)
        yield announcements
        yield CounterMetricFamily(
            "query_sequence_gaps", "Holes seen in the change sequence", stats.sequence_gaps
        )
        yield CounterMetricFamily(
            "query_watch_subscriptions",
            "Subscriptions to the change channel, the first and every reconnect",
            stats.subscriptions,
        )
        yield CounterMetricFamily(
            "query_watch_silences",
            "Subscriptions given up because nothing, not even a PING's answer, came back",
            stats.watch_silences,
        )
        yield CounterMetricFamily(
            "query_unreadable_orders",
            "Stored orders a list or catch-up skipped because a value cannot be decoded",
            stats.unreadable_orders,
        )
        relists = CounterMetricFamily(
            "query_relists", "Full lists from PostgreSQL, by cause", labels=["cause"]
        )
        for cause, count in stats.relists.items():
            relists.add_metric([cause], count)
        yield relists
        catch_ups = CounterMetricFamily(
            "query_catch_ups",
            "Catch-ups from PostgreSQL after a possible miss, by cause",
            labels=["cause"],
        )
        for cause, count in stats.catch_ups.items():
            catch_ups.add_metric([cause], count)
        yield catch_ups
        freshness = HistogramMetricFamily(
            "query_announcement_freshness_seconds",
            "Seconds from the ingestor's database commit to this replica's apply of the "
            "change's announcement",
        )
        stats.freshness.add_to(freshness)
        yield freshness
        yield CounterMetricFamily(
            "query_caught_up_orders", "Orders a catch-up found changed", stats.caught_up_orders
        )


class _StreamCollector(Collector):
    def __init__(self, informer: OrderInformer, admission: StreamAdmission) -> None:
        self._feed = informer.feed
        self._admission = admission

    def collect(self) -> Iterator[Metric]:
        stats = self._feed.stats
        yield GaugeMetricFamily(
            "query_streams_open", "Live streams open on this replica", self._admission.open
        )
        refused = CounterMetricFamily(
            "query_streams_refused",
            "Streams refused (503) by the cap they met: the replica's or an address's",
            labels=["limit"],
        )
        for limit, count in self._admission.refused.items():
            refused.add_metric([limit], count)
        yield refused
        yield CounterMetricFamily(
            "query_stream_overflows",
            "Streams dropped because the client let its buffer fill",
            stats.overflows,
        )
        yield CounterMetricFamily(
            "query_stream_newest_sends",
            "Sends of gathered changes to the newest orders' streams",
            stats.newest_sends,
        )
        yield CounterMetricFamily(
            "query_stream_resume_reloads",
            "Newest orders' streams resumed from before the history, told to reload",
            stats.reloads_on_resume,
        )


class QueryMetrics:
    def __init__(
        self,
        informer: OrderInformer,
        hits: HitCount,
        durations: RequestDurations,
        refusals: RedisRefusals,
        admission: StreamAdmission,
    ) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_InformerCollector(informer, hits))
        self._registry.register(_StreamCollector(informer, admission))
        self._registry.register(durations)
        self._registry.register(refusals)

    def render(self) -> bytes:
        return generate_latest(self._registry)
