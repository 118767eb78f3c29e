/*
 * Accounts and sessions: sign-up, log-in, log-out, who am I.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "handlers.h"
#include "log.h"
#include "worker.h"

/*
 * Checked when the e-mail is unknown, so that a log-in for an unknown
 * address costs as much as one with a wrong password.
 */
static const char  dummy_hash[] =
    "$y$j9T$m81RdzupWh5JWlkM$96q0ouGH69k8J2P1OBjyix5a2XsKUB37HK3stcCnoE5";

typedef struct {
    char         email[256];
    const char  *name;
    char         hash[256];
    int64_t      user_id;
} signup_t;


static void
write_user(jw_t *w, int64_t id, const char *email, const char *name,
    const char *role)
{
    jw_kv_int(w, "id", id);
    jw_kv_str(w, "email", email);
    jw_kv_str(w, "name", name);
    jw_kv_str(w, "role", role);
}


static char *
user_json(int64_t id, const char *email, const char *name, const char *role)
{
    jw_t   w;
    char  *s;

    if (jw_init(&w) != 0) {
        return NULL;
    }
    jw_obj_open(&w);
    write_user(&w, id, email, name, role);
    jw_obj_close(&w);
    s = jw_strdup(&w);
    jw_free(&w);
    return s;
}


static int
signup_tx(req_t *req, void *arg)
{
    signup_t  *su = arg;
    db_res_t   res;
    char      *after;
    int        rc;

    rc = db_exec(req->db, &res,
                 "INSERT INTO users (email, password_hash, name, role)"
                 " VALUES (?, ?, ?, 'user')",
                 "sss", su->email, su->hash, su->name);
    if (rc == DB_DUPLICATE) {
        return resp_error(req, 409, "EMAIL_TAKEN",
                          "an account with this e-mail exists");
    }
    if (rc != DB_OK) {
        return rc;
    }
    su->user_id = (int64_t) res.insert_id;

    rc = db_exec(req->db, NULL,
                 "INSERT INTO balance_accounts (user_id, balance) VALUES (?, 0)",
                 "i", su->user_id);
    if (rc != DB_OK) {
        return rc;
    }

    after = user_json(su->user_id, su->email, su->name, "user");
    if (after == NULL) {
        return DB_ERROR;
    }
    rc = audit_write(req, su->user_id, "user", su->user_id, "create", NULL,
                     after);
    free(after);
    return rc;
}


/* POST /api/users {email, password, name} */
int
h_users_create(req_t *req)
{
    const char  *email, *password, *name;
    signup_t     su;
    jv_err_t     err;
    jw_t         w;
    size_t       i;
    int          rc;

    if (jv_string(req->json, "email", 1, 3, 254, &email, &err) < 0
        || jv_string(req->json, "password", 1, 8, 128, &password, &err) < 0
        || jv_string(req->json, "name", 1, 1, 100, &name, &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    if (!email_is_valid(email)) {
        return resp_error(req, 400, "VALIDATION",
                          "field \"email\" is not an e-mail address");
    }

    memset(&su, 0, sizeof(su));
    for (i = 0; email[i] != '\0'; i++) {
        su.email[i] = (char) tolower((unsigned char) email[i]);
    }
    su.name = name;
    if (password_hash(req, password, su.hash, sizeof(su.hash)) != 0) {
        return resp_error(req, 500, "INTERNAL", "password hashing failed");
    }

    rc = req_tx(req, signup_tx, &su);
    if (rc != 0) {
        return rc;
    }

    if (jw_init(&w) != 0) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    write_user(&w, su.user_id, su.email, su.name, "user");
    jw_obj_close(&w);
    rc = resp_json(req, 201, &w);
    jw_free(&w);
    return rc;
}


static void
set_session_cookie(req_t *req, const char *token, long max_age)
{
    char  cookie[TICKET_TOKEN_MAX_LEN + 128];

    snprintf(cookie, sizeof(cookie),
             SESSION_COOKIE "=%s; Path=/; Max-Age=%ld; HttpOnly; "
             "SameSite=Lax%s", token, max_age,
             req->conf->secure_cookie ? "; Secure" : "");
    resp_header(req, "Set-Cookie", cookie);
}


typedef struct {
    int64_t  user_id;
    int64_t  session_id;
    long     ttl;
    char     key[256];        /* the e-mail, lower case */
} login_t;


static int
login_tx(req_t *req, void *arg)
{
    login_t   *lg = arg;
    db_res_t   res;
    char       after[128];
    int        rc;

    rc = db_exec(req->db, &res,
                 "INSERT INTO sessions (user_id, expires_at)"
                 " VALUES (?, UTC_TIMESTAMP() + INTERVAL ? SECOND)",
                 "ii", lg->user_id, (int64_t) lg->ttl);
    if (rc != DB_OK) {
        return rc;
    }
    lg->session_id = (int64_t) res.insert_id;
    rc = db_exec(req->db, NULL, "DELETE FROM login_attempts WHERE email = ?",
                 "s", lg->key);
    if (rc != DB_OK) {
        return rc;
    }
    snprintf(after, sizeof(after), "{\"user_id\":%lld}",
             (long long) lg->user_id);
    return audit_write(req, lg->user_id, "session", lg->session_id, "create",
                       NULL, after);
}


/*
 * Counts this attempt against the e-mail before the password is checked,
 * so that parallel guesses cannot all slip under the limit; a successful
 * log-in deletes the count (login_tx).  Answers 429 TOO_MANY_ATTEMPTS
 * with Retry-After once the window (login_window) holds more than
 * login_max_failures: the attempt is refused before the password is even
 * checked, also when it is right.  Every address is limited by NGINX too.
 */
static int
login_throttle(req_t *req, const char *email)
{
    db_res_t  res;
    int64_t   failures, wait;
    char      retry[24];
    int       rc;

    /*
     * The window restarts when it has run out: failures goes back to 1,
     * and window_start follows (assignments run left to right, so it sees
     * the new failures; a live row never holds 1 after an increment).
     */
    rc = db_exec(req->db, NULL,
                 "INSERT INTO login_attempts (email, failures, window_start)"
                 " VALUES (?, 1, UTC_TIMESTAMP())"
                 " ON DUPLICATE KEY UPDATE"
                 " failures = IF(window_start <= UTC_TIMESTAMP()"
                 " - INTERVAL ? SECOND, 1, failures + 1),"
                 " window_start = IF(failures = 1, UTC_TIMESTAMP(),"
                 " window_start)",
                 "si", email, (int64_t) req->conf->login_window);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_exec(req->db, &res,
                 "SELECT failures, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(),"
                 " window_start + INTERVAL ? SECOND)"
                 " FROM login_attempts WHERE email = ?",
                 "is", (int64_t) req->conf->login_window, email);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc <= 0) {
        db_res_free(&res);
        return rc;
    }
    failures = db_int(&res, 0);
    wait = db_int(&res, 1);
    db_res_free(&res);

    if (failures <= req->conf->login_max_failures) {
        return 0;
    }
    snprintf(retry, sizeof(retry), "%lld", (long long) (wait < 1 ? 1 : wait));
    resp_header(req, "Retry-After", retry);
    log_info("log-in refused: too many failures for one account");
    return resp_error(req, 429, "TOO_MANY_ATTEMPTS",
                      "too many failed log-ins for this account; "
                      "try again in %s seconds", retry);
}


/* POST /api/sessions {email, password}: log in, set the cookie. */
int
h_sessions_create(req_t *req)
{
    const char      *email, *password;
    ticket_token_t   tok;
    char             hash[256], name[256], role[16], mail[256];
    char             token[TICKET_TOKEN_MAX_LEN + 1];
    login_t          lg;
    db_res_t         res;
    jv_err_t         err;
    jw_t             w;
    time_t           now;
    size_t           i;
    int              rc, found, ok;

    if (jv_string(req->json, "email", 1, 1, 254, &email, &err) < 0
        || jv_string(req->json, "password", 1, 1, 128, &password, &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }

    memset(&lg, 0, sizeof(lg));
    for (i = 0; email[i] != '\0'; i++) {
        lg.key[i] = (char) tolower((unsigned char) email[i]);
    }
    rc = login_throttle(req, lg.key);
    if (rc != 0) {
        return rc;
    }

    rc = db_exec(req->db, &res,
                 "SELECT id, password_hash, name, role, email FROM users"
                 " WHERE email = ?", "s", email);
    if (rc != DB_OK) {
        return rc;
    }
    found = db_fetch(&res);
    if (found < 0) {
        db_res_free(&res);
        return found;
    }
    if (found) {
        lg.user_id = db_int(&res, 0);
        snprintf(hash, sizeof(hash), "%s", db_str(&res, 1, NULL));
        snprintf(name, sizeof(name), "%s", db_str(&res, 2, NULL));
        snprintf(role, sizeof(role), "%s", db_str(&res, 3, NULL));
        snprintf(mail, sizeof(mail), "%s", db_str(&res, 4, NULL));
    }
    db_res_free(&res);

    ok = password_verify(req, password, found ? hash : dummy_hash);
    if (!found || !ok) {
        return resp_error(req, 401, "BAD_CREDENTIALS",
                          "wrong e-mail or password");
    }

    lg.ttl = req->conf->session_ttl;
    rc = req_tx(req, login_tx, &lg);
    if (rc != 0) {
        return rc;
    }

    now = time(NULL);
    memset(&tok, 0, sizeof(tok));
    tok.kind = TICKET_TOKEN_SESSION;
    tok.user_id = (uint64_t) lg.user_id;
    tok.number = (uint64_t) lg.session_id;
    tok.issued_at = now;
    tok.expires_at = now + lg.ttl;
    if (ticket_token_encode(token, sizeof(token), &tok, req->thr->keys[0])
        == 0)
    {
        log_error("session token encoding failed");
        return resp_error(req, 500, "INTERNAL", "token encoding failed");
    }
    set_session_cookie(req, token, lg.ttl);
    resp_header(req, "Cache-Control", "no-store");

    if (jw_init(&w) != 0) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    jw_key(&w, "user");
    jw_obj_open(&w);
    write_user(&w, lg.user_id, mail, name, role);
    jw_obj_close(&w);
    jw_kv_int(&w, "session_id", lg.session_id);
    jw_kv_int(&w, "expires_at", (int64_t) tok.expires_at);
    jw_obj_close(&w);
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


/* DELETE /api/sessions: log out; the session row is revoked. */
int
h_sessions_delete(req_t *req)
{
    int  rc;

    rc = db_exec(req->db, NULL,
                 "UPDATE sessions SET revoked_at = UTC_TIMESTAMP()"
                 " WHERE id = ? AND revoked_at IS NULL",
                 "i", req->user->session_id);
    if (rc != DB_OK) {
        return rc;
    }
    set_session_cookie(req, "", 0);
    return resp_empty(req, 204);
}


/* GET /api/me: the user and the balance. */
int
h_me(req_t *req)
{
    int64_t  balance = 0;
    jw_t     w;
    int      rc;

    rc = db_query_int(req->db, &balance,
                      "SELECT balance FROM balance_accounts WHERE user_id = ?",
                      "i", req->user->id);
    if (rc < 0) {
        return rc;
    }

    if (jw_init(&w) != 0) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    write_user(&w, req->user->id, req->user->email, req->user->name,
               req->user->role);
    jw_kv_int(&w, "balance", balance);
    jw_obj_close(&w);
    resp_header(req, "Cache-Control", "no-store");
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}
