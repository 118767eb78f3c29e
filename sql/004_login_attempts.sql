-- Failed log-ins per account, so that guessing one account's password is
-- slowed down whatever addresses the guesses come from (NGINX limits each
-- address; this limits each e-mail).  One row per e-mail that failed
-- recently: failures counts those since window_start; a success deletes
-- the row, and the window restarts once it has run out.  Unknown e-mails
-- count too, so that the answer does not tell which accounts exist.

CREATE TABLE login_attempts (
    email         VARCHAR(254) NOT NULL PRIMARY KEY,
    failures      INT UNSIGNED NOT NULL,
    window_start  DATETIME NOT NULL,
    KEY ix_login_attempts_window (window_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
