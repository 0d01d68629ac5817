"""The write side of the public API: commands become Kafka records for the ingestor (the
only writer of the database), behind bearer tokens, a rate limit and idempotency keys."""
