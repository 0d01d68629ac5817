"""Benchmarks of the product on real servers it starts itself: `make bench`."""
