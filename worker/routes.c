/*
 * The route table.  To add an endpoint: write `int h_name(req_t *req)` in
 * the domain's file, declare it in handlers.h and add one line here.
 * First match wins; a path that matches under another method gives 405.
 */

#include "handlers.h"
#include "worker.h"

#define J   ROUTE_JSON_BODY
#define U   ROUTE_AUTH_USER
#define A   ROUTE_AUTH_ADMIN
#define C   ROUTE_AUTH_CLAIM

const route_t  worker_routes[] = {
    { HTTP_GET,    "/api/health",                     h_health, 0 },

    { HTTP_POST,   "/api/users",                      h_users_create, J },
    { HTTP_POST,   "/api/sessions",                   h_sessions_create, J },
    { HTTP_DELETE, "/api/sessions",                   h_sessions_delete, U },
    { HTTP_GET,    "/api/me",                         h_me, U },

    { HTTP_GET,    "/api/events",                     h_events_list, 0 },
    { HTTP_GET,    "/api/events/{id}",                h_event_get, 0 },
    { HTTP_GET,    "/api/performances/{id}",          h_performance_get, 0 },
    { HTTP_GET,    "/api/performances/{id}/seats",    h_performance_seats, 0 },

    { HTTP_POST,   "/api/admin/venues",               h_admin_venues_create,
                                                      A | J },
    { HTTP_POST,   "/api/admin/events",               h_admin_events_create,
                                                      A | J },
    { HTTP_POST,   "/api/admin/performances",
                                      h_admin_performances_create, A | J },
    { HTTP_PUT,    "/api/admin/performances/{id}/room",
                                      h_admin_performance_room_set, A | J },
    { HTTP_DELETE, "/api/admin/performances/{id}/room",
                                      h_admin_performance_room_clear, A },
    /* The booking domain (hold.c, balance.c, payment.c, reservation.c). */
    { HTTP_POST,   "/api/performances/{id}/holds",    h_hold_create, C | J },
    { HTTP_GET,    "/api/holds/{id}",                 h_hold_get, U },
    { HTTP_DELETE, "/api/holds/{id}",                 h_hold_release, U },
    { HTTP_GET,    "/api/balance",                    h_balance_get, U },
    { HTTP_POST,   "/api/balance/charges",            h_balance_charge, U | J },
    { HTTP_GET,    "/api/balance/ledger",             h_balance_ledger, U },
    { HTTP_POST,   "/api/payments",                   h_payment_create, C | J },
    /* The gateway's callback: no session, its signature authenticates. */
    { HTTP_POST,   "/api/payments/callback",          h_payment_callback, 0 },
    { HTTP_GET,    "/api/payments/{id}",              h_payment_get, U },
    { HTTP_GET,    "/api/reservations",               h_reservations_list, U },
    { HTTP_GET,    "/api/reservations/{id}",          h_reservation_get, U },
    { HTTP_POST,   "/api/reservations/{id}/cancel",   h_reservation_cancel,
                                                      U },
    { HTTP_GET,    "/api/admin/audit",                h_admin_audit, A },
};

const size_t  worker_nroutes = sizeof(worker_routes) / sizeof(worker_routes[0]);
