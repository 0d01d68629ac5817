-- Orders, normalized after the order document, with what the services need to
-- stay coherent: a status, a per-order version, a content hash for idempotent
-- re-delivery, and a global change sequence.

CREATE TABLE change_counter (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq bigint NOT NULL CHECK (last_seq >= 0)
);
-- Gap-free and in commit order: each writing transaction takes this row's lock,
-- so a reader that saw sequence N never later finds a commit numbered below N.
INSERT INTO change_counter (singleton, last_seq) VALUES (true, 0);

CREATE TABLE orders (
    order_uid          text PRIMARY KEY,
    track_number       text NOT NULL,
    entry              text NOT NULL,
    locale             text NOT NULL,
    internal_signature text NOT NULL,
    customer_id        text NOT NULL,
    delivery_service   text NOT NULL,
    shardkey           text NOT NULL,
    sm_id              bigint NOT NULL,
    date_created       timestamptz NOT NULL,
    oof_shard          text NOT NULL,
    status             text NOT NULL DEFAULT 'created'
                       CHECK (status IN ('created', 'cancelled', 'completed')),
    status_changed_at  timestamptz NOT NULL DEFAULT now(),
    version            bigint NOT NULL CHECK (version >= 1),
    change_seq         bigint NOT NULL UNIQUE,
    content_hash       bytea NOT NULL,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_newest_first ON orders (date_created DESC, order_uid DESC);

CREATE TABLE deliveries (
    order_uid text PRIMARY KEY REFERENCES orders ON DELETE CASCADE,
    name      text NOT NULL,
    phone     text NOT NULL,
    zip       text NOT NULL,
    city      text NOT NULL,
    address   text NOT NULL,
    region    text NOT NULL,
    email     text NOT NULL
);

CREATE TABLE payments (
    order_uid     text PRIMARY KEY REFERENCES orders ON DELETE CASCADE,
    transaction   text NOT NULL,
    request_id    text NOT NULL,
    currency      text NOT NULL,
    provider      text NOT NULL,
    amount        bigint NOT NULL,
    payment_dt    bigint NOT NULL,
    bank          text NOT NULL,
    delivery_cost bigint NOT NULL,
    goods_total   bigint NOT NULL,
    custom_fee    bigint NOT NULL
);

CREATE TABLE items (
    order_uid    text NOT NULL REFERENCES orders ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position >= 0),
    chrt_id      bigint NOT NULL,
    track_number text NOT NULL,
    price        bigint NOT NULL,
    rid          text NOT NULL,
    name         text NOT NULL,
    sale         integer NOT NULL,
    size         text NOT NULL,
    total_price  bigint NOT NULL,
    nm_id        bigint NOT NULL,
    brand        text NOT NULL,
    status       integer NOT NULL,
    PRIMARY KEY (order_uid, position)
);
