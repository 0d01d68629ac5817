ALTER TABLE orders DROP COLUMN last_erased_at;
