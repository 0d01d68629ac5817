"""Histogram buckets counted by hand: each value lands in the first bucket whose bound
holds it (Prometheus's `le`), and a scrape sees them cumulative with the sum."""

from __future__ import annotations

from prometheus_client.core import HistogramMetricFamily

from order_shared.bucket_counts import BucketCounts


def test_values_land_in_cumulative_buckets_by_their_upper_bound() -> None:
    counts = BucketCounts([0.1, 1.0])
    for value in (0.05, 0.1, 0.5, 7.0):
        counts.observe(value)

    family = HistogramMetricFamily("x", "x", labels=["route"])
    counts.add_to(family, ["/a"])

    samples = {(sample.name, sample.labels.get("le")): sample.value for sample in family.samples}
    assert samples[("x_bucket", "0.1")] == 2  # 0.1 itself is "less or equal"
    assert samples[("x_bucket", "1.0")] == 3
    assert samples[("x_bucket", "+Inf")] == 4
    assert samples[("x_count", None)] == 4 == counts.count
    assert samples[("x_sum", None)] == 7.65
