-- Card payments through an external gateway, and the outbox of reservation
-- events for the data platform.
--
-- A card payment is a payments row with method 'card' that starts
-- 'pending' and is settled by the gateway's signed callback or, failing
-- that, by asking the gateway (worker/settle.c):
--
--   pending ──success──▶ succeeded            (seats sold, reservation)
--   pending ──failure──▶ failed               (hold released)
--   pending ──success, seats gone──▶ refund_pending ──refund ok──▶ refunded
--   failed  ──late success──────────▶ refund_pending
--   succeeded ──reservation cancelled──▶ refund_pending (card refunds)
--
-- reason says why a payment failed or was refunded, for the buyer;
-- next_check_at is when the settler looks at a pending or refund_pending
-- payment next, attempts how often it has tried.  Balance payments keep
-- their old values (method 'balance', status 'succeeded' or 'refunded').

ALTER TABLE payments
    ADD COLUMN method ENUM('balance', 'card') NOT NULL DEFAULT 'balance'
        AFTER hold_id,
    ADD COLUMN currency CHAR(3) CHARACTER SET ascii NOT NULL DEFAULT 'KRW'
        AFTER amount,
    MODIFY COLUMN status ENUM('succeeded', 'failed', 'refunded', 'pending',
                              'refund_pending')
        NOT NULL DEFAULT 'succeeded',
    ADD COLUMN reason VARCHAR(32) CHARACTER SET ascii NULL AFTER status,
    ADD COLUMN gateway_ref VARCHAR(64) CHARACTER SET ascii NULL,
    ADD COLUMN checkout_url VARCHAR(512) NULL,
    ADD COLUMN next_check_at DATETIME(3) NULL,
    ADD COLUMN attempts INT UNSIGNED NOT NULL DEFAULT 0,
    ADD COLUMN settled_at DATETIME(3) NULL,
    ADD KEY ix_payments_settle (status, next_check_at);

-- A hold is extended at most once, when a card checkout starts.
ALTER TABLE holds
    ADD COLUMN extended TINYINT NOT NULL DEFAULT 0 AFTER expires_at;

-- The outbox: every reservation confirmed, cancelled or refunded writes a
-- row here in the transaction that made the change.  The publisher
-- (worker/outbox.c) copies the rows to a Redis Stream in id order and sets
-- published_at; the id is the event id consumers deduplicate on.
CREATE TABLE outbox (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_type      VARCHAR(64) CHARACTER SET ascii NOT NULL,
    aggregate       VARCHAR(32) CHARACTER SET ascii NOT NULL,
    aggregate_id    BIGINT UNSIGNED NOT NULL,
    payload         LONGTEXT NOT NULL,
    created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    published_at    DATETIME(3) NULL,
    KEY ix_outbox_unpublished (published_at, id),
    CONSTRAINT ck_outbox_payload CHECK (JSON_VALID(payload))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
