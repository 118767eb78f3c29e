-- Audit rows of the booking domain carry the performance, the seat and the
-- user they concern, so that operators can ask "what happened to seat 12
-- of performance 3" or "everything about user 7" through an index instead
-- of digging in the JSON.  actor_user_id stays "who did it" (NULL for the
-- sweeper); user_id is "whose hold, balance or reservation it was".

ALTER TABLE audit_log
    ADD COLUMN performance_id BIGINT UNSIGNED NULL AFTER entity_id,
    ADD COLUMN seat_id BIGINT UNSIGNED NULL AFTER performance_id,
    ADD COLUMN user_id BIGINT UNSIGNED NULL AFTER seat_id,
    ADD KEY ix_audit_log_performance (performance_id, seat_id, id),
    ADD KEY ix_audit_log_seat (seat_id, id),
    ADD KEY ix_audit_log_user (user_id, id);

-- Every hold and every sale bumps performances.seat_version in its
-- transaction (the seat map's ETag).  A foreign key from holds or
-- reservations to performances makes each INSERT take a shared lock on
-- that same performance row first, so two concurrent holds of one
-- performance would each hold the shared lock and wait for the other's to
-- bump: a deadlock on every pair.  The rows still cannot point at a
-- missing performance: they are only written after reading the
-- performance, performances are never deleted, and their seats reference
-- performance_seats, which references performances.
ALTER TABLE holds DROP FOREIGN KEY fk_holds_performance;
ALTER TABLE reservations DROP FOREIGN KEY fk_reservations_performance;
