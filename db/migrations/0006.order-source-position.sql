-- depends: 0005.outbox-position
-- Where each order's content came from: the partition and offset of the `orders` record
-- that last changed it. The writer applies a record only if it comes from a later offset
-- of that partition, in the transaction that holds the change counter's lock, so a
-- replay after a crash, or a batch written late by an ingestor that lost the partition in
-- a rebalance, can never bring back older content (the way a Kafka Connect sink makes its
-- upserts safe). NULL on rows written before this migration: the next record is applied.
ALTER TABLE orders
    ADD COLUMN source_partition integer CHECK (source_partition >= 0),
    ADD COLUMN source_offset bigint CHECK (source_offset >= 0);
