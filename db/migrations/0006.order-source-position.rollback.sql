ALTER TABLE orders DROP COLUMN source_partition, DROP COLUMN source_offset;
