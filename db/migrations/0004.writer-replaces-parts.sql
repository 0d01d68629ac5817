-- depends: 0003.status-and-outbox
-- An order whose content changed has its delivery and payment rows replaced like its
-- items: deleted and copied anew in the writing transaction.
GRANT DELETE ON deliveries, payments TO order_writer;
