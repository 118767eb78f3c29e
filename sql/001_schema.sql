-- The booking schema: accounts, the catalogue, seat inventory, holds,
-- money, reservations, idempotency and the audit trail.
--
-- Times are DATETIME in UTC (the worker sets time_zone = '+00:00').  Money
-- is BIGINT minor units (KRW).  The migration runner records this file in
-- schema_migrations; it is applied once, so plain CREATE TABLE is right.
--
-- Why a double sale is impossible at the database level:
--   * performance_seats has one row per (performance, seat), the primary
--     key; a seat's state lives only there.  Holding or selling is a
--     conditional UPDATE ... WHERE state = 'available' (or an expired
--     hold), so two transactions cannot both claim it: the second finds
--     the row changed and updates nothing.
--   * A CHECK ties state to its owner: 'held' needs a hold_id, 'sold' a
--     reservation_id, 'available' neither.
--   * reservation_seats carries a generated column `claim` that is 1 while
--     the reservation seat is live and NULL once released, with UNIQUE
--     (performance_id, seat_id, claim): two live reservations of the same
--     seat violate the key (NULLs do not collide, so history is kept).
--   * hold_seats does the same for live holds.

CREATE TABLE users (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email          VARCHAR(254) NOT NULL,
    password_hash  VARCHAR(255) NOT NULL,
    name           VARCHAR(100) NOT NULL,
    role           ENUM('user', 'admin') NOT NULL DEFAULT 'user',
    created_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE sessions (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id     BIGINT UNSIGNED NOT NULL,
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at  DATETIME NOT NULL,
    revoked_at  DATETIME NULL,
    KEY ix_sessions_user (user_id),
    CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE venues (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    address     VARCHAR(255) NULL,
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_venues_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A venue's price tiers; code is one character, used in the seat map.
CREATE TABLE price_tiers (
    id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    venue_id  BIGINT UNSIGNED NOT NULL,
    code      CHAR(1) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name      VARCHAR(50) NOT NULL,
    price     BIGINT NOT NULL,
    UNIQUE KEY uq_price_tiers_code (venue_id, code),
    CONSTRAINT ck_price_tiers_price CHECK (price >= 0),
    CONSTRAINT fk_price_tiers_venue FOREIGN KEY (venue_id) REFERENCES venues (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE sections (
    id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    venue_id  BIGINT UNSIGNED NOT NULL,
    name      VARCHAR(32) NOT NULL,
    position  INT NOT NULL,
    UNIQUE KEY uq_sections_name (venue_id, name),
    CONSTRAINT fk_sections_venue FOREIGN KEY (venue_id) REFERENCES venues (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE seat_rows (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    section_id  BIGINT UNSIGNED NOT NULL,
    name        VARCHAR(16) NOT NULL,
    position    INT NOT NULL,
    UNIQUE KEY uq_seat_rows_name (section_id, name),
    CONSTRAINT fk_seat_rows_section FOREIGN KEY (section_id)
        REFERENCES sections (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A physical seat.  Its id is what clients send to hold it.
CREATE TABLE seats (
    id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    venue_id  BIGINT UNSIGNED NOT NULL,
    row_id    BIGINT UNSIGNED NOT NULL,
    number    INT NOT NULL,
    tier_id   BIGINT UNSIGNED NOT NULL,
    UNIQUE KEY uq_seats_number (row_id, number),
    KEY ix_seats_venue (venue_id, id),
    CONSTRAINT fk_seats_venue FOREIGN KEY (venue_id) REFERENCES venues (id),
    CONSTRAINT fk_seats_row FOREIGN KEY (row_id) REFERENCES seat_rows (id),
    CONSTRAINT fk_seats_tier FOREIGN KEY (tier_id) REFERENCES price_tiers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE events (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title        VARCHAR(200) NOT NULL,
    category     ENUM('concert', 'musical', 'sports') NOT NULL,
    description  TEXT NULL,
    created_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY ix_events_category (category, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- seat_version is bumped by every change of a seat's state in this
-- performance (performance_seats_changed()); it makes the seat map's ETag.
-- room names the waiting room the sale goes through (NULL: none).
CREATE TABLE performances (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id         BIGINT UNSIGNED NOT NULL,
    venue_id         BIGINT UNSIGNED NOT NULL,
    starts_at        DATETIME NOT NULL,
    on_sale_at       DATETIME NOT NULL,
    room             VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    -- The inventory's size, fixed at creation (venues do not change).
    seats_total      INT UNSIGNED NOT NULL DEFAULT 0,
    seat_version     BIGINT UNSIGNED NOT NULL DEFAULT 1,
    seat_changed_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    created_at       DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_performances_slot (event_id, venue_id, starts_at),
    KEY ix_performances_venue (venue_id),
    CONSTRAINT fk_performances_event FOREIGN KEY (event_id)
        REFERENCES events (id),
    CONSTRAINT fk_performances_venue FOREIGN KEY (venue_id)
        REFERENCES venues (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE holds (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT UNSIGNED NOT NULL,
    performance_id  BIGINT UNSIGNED NOT NULL,
    status          ENUM('active', 'converted', 'released', 'expired')
                    NOT NULL DEFAULT 'active',
    expires_at      DATETIME(3) NOT NULL,
    created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    KEY ix_holds_user (user_id, status),
    KEY ix_holds_expiry (status, expires_at),
    CONSTRAINT fk_holds_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT fk_holds_performance FOREIGN KEY (performance_id)
        REFERENCES performances (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE balance_accounts (
    user_id     BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    balance     BIGINT NOT NULL DEFAULT 0,
    updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    CONSTRAINT ck_balance_nonnegative CHECK (balance >= 0),
    CONSTRAINT fk_balance_accounts_user FOREIGN KEY (user_id)
        REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE payments (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT UNSIGNED NOT NULL,
    hold_id         BIGINT UNSIGNED NULL,
    amount          BIGINT NOT NULL,
    status          ENUM('succeeded', 'failed', 'refunded')
                    NOT NULL DEFAULT 'succeeded',
    created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_payments_hold (hold_id),
    KEY ix_payments_user (user_id),
    CONSTRAINT ck_payments_amount CHECK (amount >= 0),
    CONSTRAINT fk_payments_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT fk_payments_hold FOREIGN KEY (hold_id) REFERENCES holds (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Append-only: every change of a balance is a row here; balance_after is
-- the account's balance once the row applied.  Triggers below refuse
-- UPDATE and DELETE.
CREATE TABLE balance_ledger (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id        BIGINT UNSIGNED NOT NULL,
    amount         BIGINT NOT NULL,
    kind           ENUM('topup', 'payment', 'refund', 'adjustment') NOT NULL,
    balance_after  BIGINT NOT NULL,
    payment_id     BIGINT UNSIGNED NULL,
    note           VARCHAR(255) NULL,
    created_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    KEY ix_balance_ledger_user (user_id, id),
    CONSTRAINT ck_balance_ledger_after CHECK (balance_after >= 0),
    CONSTRAINT fk_balance_ledger_user FOREIGN KEY (user_id)
        REFERENCES users (id),
    CONSTRAINT fk_balance_ledger_payment FOREIGN KEY (payment_id)
        REFERENCES payments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE reservations (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT UNSIGNED NOT NULL,
    performance_id  BIGINT UNSIGNED NOT NULL,
    hold_id         BIGINT UNSIGNED NULL,
    payment_id      BIGINT UNSIGNED NULL,
    status          ENUM('confirmed', 'cancelled') NOT NULL
                    DEFAULT 'confirmed',
    total           BIGINT NOT NULL,
    created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    cancelled_at    DATETIME(3) NULL,
    UNIQUE KEY uq_reservations_hold (hold_id),
    KEY ix_reservations_user (user_id, id),
    KEY ix_reservations_performance (performance_id),
    CONSTRAINT ck_reservations_total CHECK (total >= 0),
    CONSTRAINT fk_reservations_user FOREIGN KEY (user_id)
        REFERENCES users (id),
    CONSTRAINT fk_reservations_performance FOREIGN KEY (performance_id)
        REFERENCES performances (id),
    CONSTRAINT fk_reservations_hold FOREIGN KEY (hold_id)
        REFERENCES holds (id),
    CONSTRAINT fk_reservations_payment FOREIGN KEY (payment_id)
        REFERENCES payments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The inventory of one performance: one row per seat, created with the
-- performance.  hold_expires_at copies the hold's expiry so that the seat
-- map and the claim UPDATE need no join: a 'held' seat whose
-- hold_expires_at has passed counts as available.
CREATE TABLE performance_seats (
    performance_id   BIGINT UNSIGNED NOT NULL,
    seat_id          BIGINT UNSIGNED NOT NULL,
    state            ENUM('available', 'held', 'sold') NOT NULL
                     DEFAULT 'available',
    hold_id          BIGINT UNSIGNED NULL,
    hold_expires_at  DATETIME(3) NULL,
    reservation_id   BIGINT UNSIGNED NULL,
    updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (performance_id, seat_id),
    KEY ix_performance_seats_state (performance_id, state, hold_expires_at),
    KEY ix_performance_seats_hold (hold_id),
    KEY ix_performance_seats_reservation (reservation_id),
    CONSTRAINT ck_performance_seats_owner CHECK (
        (state = 'available' AND hold_id IS NULL AND reservation_id IS NULL)
        OR (state = 'held' AND hold_id IS NOT NULL
            AND hold_expires_at IS NOT NULL AND reservation_id IS NULL)
        OR (state = 'sold' AND reservation_id IS NOT NULL)),
    CONSTRAINT fk_performance_seats_performance FOREIGN KEY (performance_id)
        REFERENCES performances (id),
    CONSTRAINT fk_performance_seats_seat FOREIGN KEY (seat_id)
        REFERENCES seats (id),
    CONSTRAINT fk_performance_seats_hold FOREIGN KEY (hold_id)
        REFERENCES holds (id),
    CONSTRAINT fk_performance_seats_reservation FOREIGN KEY (reservation_id)
        REFERENCES reservations (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- released_at is set when the hold ends without a sale (release, expiry);
-- claim is then NULL and the seat may be held again.
CREATE TABLE hold_seats (
    hold_id         BIGINT UNSIGNED NOT NULL,
    performance_id  BIGINT UNSIGNED NOT NULL,
    seat_id         BIGINT UNSIGNED NOT NULL,
    price           BIGINT NOT NULL,
    released_at     DATETIME(3) NULL,
    claim           TINYINT AS (IF(released_at IS NULL, 1, NULL)) PERSISTENT,
    PRIMARY KEY (hold_id, seat_id),
    UNIQUE KEY uq_hold_seats_claim (performance_id, seat_id, claim),
    CONSTRAINT fk_hold_seats_hold FOREIGN KEY (hold_id) REFERENCES holds (id),
    CONSTRAINT fk_hold_seats_seat FOREIGN KEY (performance_id, seat_id)
        REFERENCES performance_seats (performance_id, seat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- released_at is set when the reservation is cancelled.
CREATE TABLE reservation_seats (
    reservation_id  BIGINT UNSIGNED NOT NULL,
    performance_id  BIGINT UNSIGNED NOT NULL,
    seat_id         BIGINT UNSIGNED NOT NULL,
    price           BIGINT NOT NULL,
    released_at     DATETIME(3) NULL,
    claim           TINYINT AS (IF(released_at IS NULL, 1, NULL)) PERSISTENT,
    PRIMARY KEY (reservation_id, seat_id),
    UNIQUE KEY uq_reservation_seats_claim (performance_id, seat_id, claim),
    CONSTRAINT fk_reservation_seats_reservation FOREIGN KEY (reservation_id)
        REFERENCES reservations (id),
    CONSTRAINT fk_reservation_seats_seat FOREIGN KEY (performance_id, seat_id)
        REFERENCES performance_seats (performance_id, seat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per (user, Idempotency-Key): the first request stores its hash
-- and, once done, its response; a replay with the same hash gets the
-- stored response, a different hash gets 422.
CREATE TABLE idempotency_keys (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id          BIGINT UNSIGNED NOT NULL,
    idem_key         VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin
                     NOT NULL,
    method           VARCHAR(8) NOT NULL,
    path             VARCHAR(255) NOT NULL,
    request_hash     CHAR(64) CHARACTER SET ascii NOT NULL,
    status           ENUM('pending', 'done') NOT NULL DEFAULT 'pending',
    response_status  SMALLINT NULL,
    response_body    MEDIUMTEXT NULL,
    created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_idempotency_keys (user_id, idem_key),
    KEY ix_idempotency_keys_created (created_at),
    CONSTRAINT fk_idempotency_keys_user FOREIGN KEY (user_id)
        REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Append-only (see the triggers): who did what to which row, with the row
-- before and after as JSON text.
CREATE TABLE audit_log (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    actor_user_id  BIGINT UNSIGNED NULL,
    entity         VARCHAR(32) NOT NULL,
    entity_id      BIGINT UNSIGNED NOT NULL,
    action         VARCHAR(32) NOT NULL,
    before_json    LONGTEXT NULL,
    after_json     LONGTEXT NULL,
    request_id     VARCHAR(64) NULL,
    created_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY ix_audit_log_entity (entity, entity_id, id),
    KEY ix_audit_log_actor (actor_user_id, id),
    CONSTRAINT ck_audit_log_before CHECK (before_json IS NULL
                                          OR JSON_VALID(before_json)),
    CONSTRAINT ck_audit_log_after CHECK (after_json IS NULL
                                         OR JSON_VALID(after_json)),
    CONSTRAINT fk_audit_log_actor FOREIGN KEY (actor_user_id)
        REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Single-statement triggers, so that no DELIMITER is needed.
CREATE TRIGGER balance_ledger_no_update BEFORE UPDATE ON balance_ledger
    FOR EACH ROW SIGNAL SQLSTATE '45000'
    SET MESSAGE_TEXT = 'balance_ledger is append-only';
CREATE TRIGGER balance_ledger_no_delete BEFORE DELETE ON balance_ledger
    FOR EACH ROW SIGNAL SQLSTATE '45000'
    SET MESSAGE_TEXT = 'balance_ledger is append-only';
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW SIGNAL SQLSTATE '45000'
    SET MESSAGE_TEXT = 'audit_log is append-only';
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW SIGNAL SQLSTATE '45000'
    SET MESSAGE_TEXT = 'audit_log is append-only';
