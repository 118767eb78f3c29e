-- Demo data: run after the migrations; running it again changes nothing
-- (every insert is guarded by a unique key or NOT EXISTS).
--
-- Log in with (POST /api/sessions {"email","password"}):
--   admin@ticket.test / admin-pass-1   (role admin)
--   alice@ticket.test / alice-pass-1   (balance 500,000 KRW)
--   bob@ticket.test   / bob-pass-1     (balance 500,000 KRW)
--   carol@ticket.test / carol-pass-1   (balance 0)
-- The hashes are yescrypt, as the worker makes them.

SET time_zone = '+00:00';

INSERT IGNORE INTO users (email, password_hash, name, role) VALUES
    ('admin@ticket.test',
     '$y$j9T$m81RdzupWh5JWlkM$96q0ouGH69k8J2P1OBjyix5a2XsKUB37HK3stcCnoE5',
     'Admin', 'admin'),
    ('alice@ticket.test',
     '$y$j9T$i6kpusOYZwZb2AsS$knXnrlS/11S3YjUEF10.kSAEHnL8gF9GDW9J5SqJru8',
     'Alice', 'user'),
    ('bob@ticket.test',
     '$y$j9T$UfwNuI5WVpmdmIn7$A7YsxIkcoNn8Xt5osM4PKxT/.Nz6exmOZDtjJRAXQDB',
     'Bob', 'user'),
    ('carol@ticket.test',
     '$y$j9T$HZmazMEp6VoL/Vo0$3qX6lfqfYNwT02JM60sLiQrgLsKt.xtVsbaIr9UPHV9',
     'Carol', 'user');

INSERT IGNORE INTO balance_accounts (user_id, balance)
    SELECT id, CASE WHEN email IN ('alice@ticket.test', 'bob@ticket.test')
                    THEN 500000 ELSE 0 END
    FROM users
    WHERE email IN ('admin@ticket.test', 'alice@ticket.test',
                    'bob@ticket.test', 'carol@ticket.test');

INSERT INTO balance_ledger (user_id, amount, kind, balance_after, note)
    SELECT u.id, 500000, 'topup', 500000, 'demo opening balance'
    FROM users u
    WHERE u.email IN ('alice@ticket.test', 'bob@ticket.test')
      AND NOT EXISTS (SELECT 1 FROM balance_ledger l
                      WHERE l.user_id = u.id
                        AND l.note = 'demo opening balance');

-- The arena: 6 sections A..F x 50 rows x 50 seats = 15,000 seats, four
-- price tiers by row.

INSERT IGNORE INTO venues (name, address) VALUES
    ('Seoul Grand Arena', '25 Olympic-ro, Songpa-gu, Seoul'),
    ('Blue Room Hall', '7 Itaewon-ro, Yongsan-gu, Seoul');

INSERT IGNORE INTO price_tiers (venue_id, code, name, price)
    SELECT v.id, t.code, t.name, t.price
    FROM venues v
    JOIN (SELECT 'V' AS code, 'VIP' AS name, 165000 AS price
          UNION ALL SELECT 'R', 'Royal', 132000
          UNION ALL SELECT 'S', 'Standard', 99000
          UNION ALL SELECT 'A', 'Balcony', 66000) t
    WHERE v.name = 'Seoul Grand Arena';

INSERT IGNORE INTO price_tiers (venue_id, code, name, price)
    SELECT v.id, 'G', 'General', 30000
    FROM venues v WHERE v.name = 'Blue Room Hall';

INSERT IGNORE INTO sections (venue_id, name, position)
    WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6)
    SELECT v.id, CHAR(64 + n.i), n.i
    FROM venues v JOIN n
    WHERE v.name = 'Seoul Grand Arena';

INSERT IGNORE INTO sections (venue_id, name, position)
    SELECT v.id, 'Main', 1 FROM venues v WHERE v.name = 'Blue Room Hall';

INSERT IGNORE INTO seat_rows (section_id, name, position)
    WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
    SELECT s.id, CAST(n.i AS CHAR), n.i
    FROM venues v
    JOIN sections s ON s.venue_id = v.id
    JOIN n
    WHERE v.name = 'Seoul Grand Arena';

INSERT IGNORE INTO seat_rows (section_id, name, position)
    SELECT s.id, '1', 1
    FROM venues v JOIN sections s ON s.venue_id = v.id
    WHERE v.name = 'Blue Room Hall';

-- Seats are inserted in map order so that each row's ids are consecutive
-- (the seat map then says "first id" instead of listing them).
INSERT INTO seats (venue_id, row_id, number, tier_id)
    WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
    SELECT v.id, r.id, n.i, t.id
    FROM venues v
    JOIN sections s ON s.venue_id = v.id
    JOIN seat_rows r ON r.section_id = s.id
    JOIN n
    JOIN price_tiers t ON t.venue_id = v.id
        AND t.code = CASE WHEN r.position <= 10 THEN 'V'
                          WHEN r.position <= 25 THEN 'R'
                          WHEN r.position <= 40 THEN 'S'
                          ELSE 'A' END
    WHERE v.name = 'Seoul Grand Arena'
      AND NOT EXISTS (SELECT 1 FROM seats x WHERE x.venue_id = v.id)
    ORDER BY s.position, r.position, n.i;

INSERT INTO seats (venue_id, row_id, number, tier_id)
    WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
    SELECT v.id, r.id, n.i, t.id
    FROM venues v
    JOIN sections s ON s.venue_id = v.id
    JOIN seat_rows r ON r.section_id = s.id
    JOIN n
    JOIN price_tiers t ON t.venue_id = v.id AND t.code = 'G'
    WHERE v.name = 'Blue Room Hall'
      AND NOT EXISTS (SELECT 1 FROM seats x WHERE x.venue_id = v.id)
    ORDER BY n.i;

-- Events and their performances.

INSERT INTO events (title, category, description)
    SELECT d.title, d.category, d.description
    FROM (SELECT 'Aurora: The Northern Lights Tour' AS title,
                 'concert' AS category,
                 'A night of synth-pop under the arena lights.' AS description
          UNION ALL SELECT 'The Clockmaker''s Daughter', 'musical',
                 'A new musical about time, grief and very small gears.'
          UNION ALL SELECT 'Seoul Tigers vs Busan Mariners', 'sports',
                 'League final, first leg.'
          UNION ALL SELECT 'Jazz at the Blue Room', 'concert',
                 'A trio, fifty seats, no microphones.') d
    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.title = d.title);

INSERT IGNORE INTO performances (event_id, venue_id, starts_at, on_sale_at)
    SELECT e.id, v.id, p.starts_at, p.on_sale_at
    FROM (SELECT 'Aurora: The Northern Lights Tour' AS title,
                 'Seoul Grand Arena' AS venue,
                 TIMESTAMP('2027-03-05 10:00:00') AS starts_at,
                 TIMESTAMP('2026-01-10 03:00:00') AS on_sale_at
          UNION ALL SELECT 'Aurora: The Northern Lights Tour',
                 'Seoul Grand Arena', '2027-03-06 10:00:00',
                 '2026-01-10 03:00:00'
          UNION ALL SELECT 'Aurora: The Northern Lights Tour',
                 'Seoul Grand Arena', '2027-03-07 08:00:00',
                 '2026-01-10 03:00:00'
          UNION ALL SELECT 'The Clockmaker''s Daughter',
                 'Seoul Grand Arena', '2027-04-01 10:30:00',
                 '2026-02-01 03:00:00'
          UNION ALL SELECT 'The Clockmaker''s Daughter',
                 'Seoul Grand Arena', '2027-04-02 10:30:00',
                 '2026-02-01 03:00:00'
          UNION ALL SELECT 'The Clockmaker''s Daughter',
                 'Seoul Grand Arena', '2027-04-03 05:00:00',
                 '2027-03-01 03:00:00'
          UNION ALL SELECT 'Seoul Tigers vs Busan Mariners',
                 'Seoul Grand Arena', '2027-05-15 09:00:00',
                 '2026-03-01 03:00:00'
          UNION ALL SELECT 'Seoul Tigers vs Busan Mariners',
                 'Seoul Grand Arena', '2027-05-22 09:00:00',
                 '2026-03-01 03:00:00'
          UNION ALL SELECT 'Jazz at the Blue Room', 'Blue Room Hall',
                 '2027-02-12 11:00:00', '2026-01-01 03:00:00'
          UNION ALL SELECT 'Jazz at the Blue Room', 'Blue Room Hall',
                 '2027-02-13 11:00:00', '2026-01-01 03:00:00') p
    JOIN events e ON e.title = p.title
    JOIN venues v ON v.name = p.venue;

INSERT INTO performance_seats (performance_id, seat_id)
    SELECT p.id, s.id
    FROM performances p
    JOIN seats s ON s.venue_id = p.venue_id
    WHERE NOT EXISTS (SELECT 1 FROM performance_seats x
                      WHERE x.performance_id = p.id)
    ORDER BY p.id, s.id;

UPDATE performances p
   SET p.seats_total = (SELECT COUNT(*) FROM performance_seats x
                        WHERE x.performance_id = p.id)
 WHERE p.seats_total = 0;
