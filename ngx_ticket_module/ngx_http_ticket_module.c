/*
 * ngx_http_ticket_module: the module, its directives, configuration,
 * variables, the tick timer and the state saved at exit.
 */

#include "ngx_http_ticket_module.h"
#include "ngx_http_ticket_zone.h"
#include "ngx_http_ticket_redis.h"


static ngx_int_t ngx_http_ticket_add_variables(ngx_conf_t *cf);
static void *ngx_http_ticket_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ticket_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ticket_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ticket_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ticket_init_process(ngx_cycle_t *cycle);
static void ngx_http_ticket_exit_process(ngx_cycle_t *cycle);
static void ngx_http_ticket_exit_master(ngx_cycle_t *cycle);
static void ngx_http_ticket_timer_handler(ngx_event_t *ev);

static char *ngx_http_ticket_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ticket_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ticket_room(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ticket_gate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ticket_queue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ticket_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ticket_queue_page(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_int_t ngx_http_ticket_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_command_t  ngx_http_ticket_commands[] = {

    { ngx_string("ticket_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_ticket_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_ticket_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_room"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_ticket_room,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ticket_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_redis_fallback"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ticket_redis_fallback,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_gate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ticket_gate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_queue"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ticket_queue,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ticket_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ticket_queue_page"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ticket_queue_page,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ticket_module_ctx = {
    ngx_http_ticket_add_variables,         /* preconfiguration */
    ngx_http_ticket_gate_init,             /* postconfiguration */

    ngx_http_ticket_create_main_conf,      /* create main configuration */
    ngx_http_ticket_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ticket_create_loc_conf,       /* create location configuration */
    ngx_http_ticket_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_ticket_module = {
    NGX_MODULE_V1,
    &ngx_http_ticket_module_ctx,           /* module context */
    ngx_http_ticket_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ticket_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ticket_exit_process,          /* exit process */
    ngx_http_ticket_exit_master,           /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_HTTP_TICKET_VAR_USER    0
#define NGX_HTTP_TICKET_VAR_ROOM    1
#define NGX_HTTP_TICKET_VAR_STATUS  2


static ngx_http_variable_t  ngx_http_ticket_vars[] = {

    { ngx_string("ticket_user"), NULL, ngx_http_ticket_variable,
      NGX_HTTP_TICKET_VAR_USER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ticket_room"), NULL, ngx_http_ticket_variable,
      NGX_HTTP_TICKET_VAR_ROOM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ticket_status"), NULL, ngx_http_ticket_variable,
      NGX_HTTP_TICKET_VAR_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};




static ngx_event_t  ngx_http_ticket_timer;


static ngx_int_t
ngx_http_ticket_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ticket_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ticket_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                 *p;
    const char             *name;
    ngx_http_ticket_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ticket_module);

    if (ctx == NULL || ctx->room == NULL) {
        if (data != NGX_HTTP_TICKET_VAR_STATUS) {
            v->not_found = 1;
            return NGX_OK;
        }

        name = ngx_http_ticket_status_name(NGX_HTTP_TICKET_NONE);
        v->data = (u_char *) name;
        v->len = ngx_strlen(name);
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_TICKET_VAR_USER:
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%uL", ctx->user) - p;
        break;

    case NGX_HTTP_TICKET_VAR_ROOM:
        v->data = ctx->room->name.data;
        v->len = ctx->room->name.len;
        break;

    default:
        name = ngx_http_ticket_status_name(ctx->status);
        v->data = (u_char *) name;
        v->len = ngx_strlen(name);
        break;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static void
ngx_http_ticket_cleanup_keys(void *data)
{
    ngx_http_ticket_main_conf_t  *tmcf = data;

    ngx_uint_t  i;

    for (i = 0; i < tmcf->nkeys; i++) {
        ticket_key_destroy(tmcf->keys[i]);
        tmcf->keys[i] = NULL;
    }

    tmcf->nkeys = 0;
}


static void *
ngx_http_ticket_create_main_conf(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_ticket_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ticket_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&tmcf->rooms, cf->pool, 4,
                       sizeof(ngx_http_ticket_room_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&tmcf->zones, cf->pool, 2, sizeof(ngx_shm_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_ticket_cleanup_keys;
    cln->data = tmcf;

    tmcf->redis_fallback = NGX_CONF_UNSET;

    return tmcf;
}


static char *
ngx_http_ticket_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ticket_main_conf_t  *tmcf = conf;

    ngx_uint_t                i;
    ngx_http_ticket_room_t  **rooms;

    rooms = tmcf->rooms.elts;

    if (tmcf->rooms.nelts && tmcf->nkeys == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ticket_room\" \"%V\" needs a \"ticket_secret\"",
                           &rooms[0]->name);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < tmcf->rooms.nelts; i++) {
        if (rooms[i]->shm_zone->shm.size == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ticket_room\" \"%V\" uses unknown "
                               "\"ticket_zone\" \"%V\"",
                               &rooms[i]->name,
                               &rooms[i]->shm_zone->shm.name);
            return NGX_CONF_ERROR;
        }
    }

    if (tmcf->redis == NULL) {
        if (tmcf->redis_fallback == 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ticket_redis_fallback\" needs "
                               "\"ticket_redis\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    tmcf->redis->fallback_local = tmcf->redis_fallback == 1;

    for (i = 0; i < tmcf->rooms.nelts; i++) {
        if (ngx_http_ticket_redis_room(cf, rooms[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_ticket_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ticket_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ticket_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tlcf->gate = NGX_HTTP_TICKET_GATE_UNSET;
     *     tlcf->gate_room = NULL;
     *     tlcf->gate_value = NULL;
     *     tlcf->queue_room = NULL;
     *     tlcf->queue_value = NULL;
     *     tlcf->page = { 0, NULL };
     */

    tlcf->status = NGX_CONF_UNSET;

    return tlcf;
}


static char *
ngx_http_ticket_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ticket_loc_conf_t  *prev = parent;
    ngx_http_ticket_loc_conf_t  *conf = child;

    if (conf->gate == NGX_HTTP_TICKET_GATE_UNSET) {
        conf->gate = prev->gate;
        conf->gate_room = prev->gate_room;
        conf->gate_value = prev->gate_value;
    }

    if (conf->gate == NGX_HTTP_TICKET_GATE_UNSET) {
        conf->gate = NGX_HTTP_TICKET_GATE_OFF;
    }

    ngx_conf_merge_value(conf->status, prev->status, 0);
    ngx_conf_merge_str_value(conf->page, prev->page, "");

    if (conf->page.len == 0) {
        conf->page = ngx_http_ticket_default_page;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ticket_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ticket_main_conf_t  *tmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (ngx_get_conf(cycle->conf_ctx, ngx_http_module) == NULL) {
        return NGX_OK;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ticket_module);

    if (tmcf == NULL || tmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    ngx_http_ticket_timer.handler = ngx_http_ticket_timer_handler;
    ngx_http_ticket_timer.data = tmcf;
    ngx_http_ticket_timer.log = cycle->log;

    /* An exiting worker must not wait for this timer. */
    ngx_http_ticket_timer.cancelable = 1;

    ngx_add_timer(&ngx_http_ticket_timer, TICKET_ADMIT_TICK_MS);

    if (tmcf->redis) {
        return ngx_http_ticket_redis_init_process(cycle, tmcf);
    }

    return NGX_OK;
}


/* A worker process that exits (reload, stop) closes its Redis connection. */
static void
ngx_http_ticket_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ticket_main_conf_t  *tmcf;

    if (ngx_get_conf(cycle->conf_ctx, ngx_http_module) == NULL) {
        return;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ticket_module);

    if (tmcf && tmcf->redis && tmcf->zones.nelts) {
        ngx_http_ticket_redis_exit_process(cycle);
    }
}


/* A stop or restart saves the zones that have a state file. */
static void
ngx_http_ticket_exit_master(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zones;
    ngx_http_ticket_main_conf_t  *tmcf;

    if (ngx_get_conf(cycle->conf_ctx, ngx_http_module) == NULL) {
        return;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ticket_module);

    if (tmcf == NULL) {
        return;
    }

    zones = tmcf->zones.elts;

    for (i = 0; i < tmcf->zones.nelts; i++) {
        if (ngx_http_ticket_zone_save(zones[i], cycle->log) == NGX_OK) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "ticket_zone \"%V\": state saved",
                          &zones[i]->shm.name);
        }
    }
}


static void
ngx_http_ticket_timer_handler(ngx_event_t *ev)
{
    ngx_http_ticket_main_conf_t  *tmcf = ev->data;

    int64_t           now;
    ngx_uint_t        i;
    ngx_shm_zone_t  **zones;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_time_update();
    now = ngx_http_ticket_now_ms();
    zones = tmcf->zones.elts;

    for (i = 0; i < tmcf->zones.nelts; i++) {
        ngx_http_ticket_zone_tick(zones[i], now);
    }

    ngx_add_timer(ev, TICKET_ADMIT_TICK_MS);
}


/*
 * Room and zone names appear in cookie names, JSON, HTML and Prometheus
 * labels: a small alphabet makes them safe everywhere without escaping.
 */
static ngx_uint_t
ngx_http_ticket_name_char(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}


static char *
ngx_http_ticket_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ticket_main_conf_t  *tmcf = conf;

    u_char                      *p;
    ssize_t                      size;
    ngx_str_t                   *value, name, s;
    ngx_uint_t                   i;
    ngx_shm_zone_t              *shm_zone, **zp;
    ngx_http_ticket_zone_ctx_t  *ctx;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        goto invalid;
    }

    name.data = value[1].data + 5;
    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL) {
        goto invalid;
    }

    name.len = p - name.data;
    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (name.len == 0 || size == NGX_ERROR) {
        goto invalid;
    }

    for (i = 0; i < name.len; i++) {
        if (!ngx_http_ticket_name_char(name.data[i])) {
            goto invalid;
        }
    }

    if (size < (ssize_t) (256 * 1024)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: zone \"%V\" is too small "
                           "in \"%V\", at least 256k",
                           &cmd->name, &name, &value[1]);
        return NGX_CONF_ERROR;
    }

    zp = tmcf->zones.elts;

    for (i = 0; i < tmcf->zones.nelts; i++) {
        if (zp[i]->shm.name.len == name.len
            && ngx_strncmp(zp[i]->shm.name.data, name.data, name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: duplicate zone \"%V\"",
                               &cmd->name, &name);
            return NGX_CONF_ERROR;
        }
    }

    shm_zone = ngx_http_ticket_zone_add(cf, &name, size);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "state=", 6) != 0
            || value[2].len == 6)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: invalid value \"%V\", "
                               "expected state=file", &cmd->name, &value[2]);
            return NGX_CONF_ERROR;
        }

        ctx = shm_zone->data;
        ctx->state.data = value[2].data + 6;
        ctx->state.len = value[2].len - 6;

        if (ngx_conf_full_name(cf->cycle, &ctx->state, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (ctx->state.len + sizeof(".tmp") > NGX_MAX_PATH) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: path too long in \"%V\"",
                               &cmd->name, &value[2]);
            return NGX_CONF_ERROR;
        }

        p = ngx_pnalloc(cf->pool, ctx->state.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(p, ctx->state.data, ctx->state.len + 1);
        ctx->state.data = p;
    }

    zp = ngx_array_push(&tmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = shm_zone;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive: invalid value \"%V\", "
                       "expected zone=name:size", &cmd->name, &value[1]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_ticket_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ticket_main_conf_t  *tmcf = conf;

    u_char        *path;
    ngx_str_t     *value, name;
    ngx_uint_t     i;
    const char    *err;
    ticket_key_t  *key;

    if (tmcf->nkeys) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        name = value[i];

        if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        path = ngx_pnalloc(cf->pool, name.len + 1);
        if (path == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(path, name.data, name.len + 1);

        err = "cannot be read";
        key = ticket_key_load((const char *) path, &err);

        if (key == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: key file \"%V\": %s",
                               &cmd->name, &value[i], err);
            return NGX_CONF_ERROR;
        }

        tmcf->keys[tmcf->nkeys++] = key;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_ticket_parse_rate(ngx_str_t *s, ticket_admit_conf_t *admit)
{
    u_char     *slash;
    ngx_int_t   n, period;
    ngx_str_t   unit;

    slash = ngx_strlchr(s->data, s->data + s->len, '/');
    if (slash == NULL) {
        return NGX_ERROR;
    }

    n = ngx_atoi(s->data, slash - s->data);
    if (n <= 0 || n > 0xffffff) {
        return NGX_ERROR;
    }

    unit.data = slash + 1;
    unit.len = s->data + s->len - unit.data;

    if (unit.len == 1 && unit.data[0] == 's') {
        period = 1000;

    } else if (unit.len == 1 && unit.data[0] == 'm') {
        period = 60000;

    } else if (unit.len == 1 && unit.data[0] == 'h') {
        period = 3600000;

    } else {
        period = ngx_parse_time(&unit, 0);
    }

    if (period == NGX_ERROR || period <= 0 || period > 86400000) {
        return NGX_ERROR;
    }

    admit->rate_n = (uint32_t) n;
    admit->rate_period_ms = (uint64_t) period;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ticket_parse_msec(ngx_str_t *s, ngx_msec_t *out)
{
    ngx_int_t  ms;

    ms = ngx_parse_time(s, 0);

    if (ms == NGX_ERROR || ms <= 0) {
        return NGX_ERROR;
    }

    *out = (ngx_msec_t) ms;

    return NGX_OK;
}


static char *
ngx_http_ticket_room(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ticket_main_conf_t  *tmcf = conf;

    u_char                   *p;
    int64_t                   t;
    ngx_int_t                 n;
    ngx_str_t                *value, s, zone;
    ngx_uint_t                i;
    ngx_msec_t                ms;
    ngx_http_ticket_room_t   *room, **rp;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > TICKET_TOKEN_ROOM_MAX) {
        goto invalid_name;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!ngx_http_ticket_name_char(value[1].data[i])) {
            goto invalid_name;
        }
    }

    if (ngx_http_ticket_find_room(tmcf, value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: duplicate room \"%V\"",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    room = ngx_pcalloc(cf->pool, sizeof(ngx_http_ticket_room_t));
    if (room == NULL) {
        return NGX_CONF_ERROR;
    }

    room->name = value[1];
    room->session = 10 * 60 * 1000;
    room->admit.grace_ms = 60 * 1000;
    room->admit.capacity = 0;
    room->prequeue = 3600;
    room->refresh = 10;
    room->queue_ttl = 86400;
    room->access_ttl = 86400;
    ngx_str_null(&zone);

    for (i = 2; i < cf->args->nelts; i++) {
        s = value[i];

        if (ngx_strncmp(s.data, "zone=", 5) == 0) {
            zone.data = s.data + 5;
            zone.len = s.len - 5;

            if (zone.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(s.data, "capacity=", 9) == 0) {
            n = ngx_atoi(s.data + 9, s.len - 9);

            if (n <= 0 || n > 10000000) {
                goto invalid;
            }

            room->admit.capacity = (uint32_t) n;
            continue;
        }

        if (ngx_strncmp(s.data, "rate=", 5) == 0) {
            s.data += 5;
            s.len -= 5;

            if (ngx_http_ticket_parse_rate(&s, &room->admit) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(s.data, "session=", 8) == 0) {
            s.data += 8;
            s.len -= 8;

            if (ngx_http_ticket_parse_msec(&s, &room->session) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(s.data, "grace=", 6) == 0) {
            s.data += 6;
            s.len -= 6;

            if (ngx_http_ticket_parse_msec(&s, &ms) != NGX_OK) {
                goto invalid;
            }

            room->admit.grace_ms = ms;
            continue;
        }

        if (ngx_strncmp(s.data, "opens_at=", 9) == 0
            || ngx_strncmp(s.data, "closes_at=", 10) == 0)
        {
            p = (u_char *) ngx_strchr(s.data, '=') + 1;

            if (ticket_parse_iso8601((char *) p, s.data + s.len - p, &t)
                != 0)
            {
                goto invalid;
            }

            if (s.data[0] == 'o') {
                room->opens_at = (time_t) t;
                room->opens_at_text.data = p;
                room->opens_at_text.len = s.data + s.len - p;

            } else {
                room->closes_at = (time_t) t;
            }

            continue;
        }

        if (ngx_strncmp(s.data, "prequeue=", 9) == 0
            || ngx_strncmp(s.data, "refresh=", 8) == 0
            || ngx_strncmp(s.data, "queue_ttl=", 10) == 0)
        {
            p = (u_char *) ngx_strchr(s.data, '=') + 1;
            s.len = s.data + s.len - p;
            s.data = p;

            n = ngx_parse_time(&s, 1);

            if (n == NGX_ERROR || n <= 0) {
                s = value[i];
                goto invalid;
            }

            switch (value[i].data[0]) {
            case 'p':
                room->prequeue = (time_t) n;
                break;
            case 'r':
                room->refresh = (time_t) n;
                break;
            default:
                room->queue_ttl = (time_t) n;
            }

            continue;
        }

        if (ngx_strncmp(s.data, "queue_url=", 10) == 0) {
            room->queue_url.data = s.data + 10;
            room->queue_url.len = s.len - 10;

            if (room->queue_url.len == 0 || room->queue_url.data[0] != '/') {
                goto invalid;
            }

            for (p = room->queue_url.data; p < s.data + s.len; p++) {
                if (*p <= ' ' || *p == '"' || *p == '<' || *p == '>'
                    || *p == '\\' || *p >= 0x7f)
                {
                    goto invalid;
                }
            }

            continue;
        }

        goto invalid;
    }

    if (zone.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: room \"%V\" needs zone=",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (room->admit.capacity == 0 || room->admit.rate_n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: room \"%V\" needs capacity= "
                           "and rate=", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (room->closes_at && room->opens_at
        && room->closes_at <= room->opens_at)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: room \"%V\" closes_at is not "
                           "after opens_at", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    room->admit.opens_at_ms = (int64_t) room->opens_at * 1000;

    room->shm_zone = ngx_http_ticket_zone_add(cf, &zone, 0);
    if (room->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (room->queue_url.len == 0) {
        room->queue_url.len = sizeof("/queue/") - 1 + room->name.len;
        room->queue_url.data = ngx_pnalloc(cf->pool, room->queue_url.len);
        if (room->queue_url.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(room->queue_url.data, "/queue/%V", &room->name);
    }

    room->cookie_queue.len = sizeof(NGX_HTTP_TICKET_QUEUE_PREFIX) - 1
                             + room->name.len;
    room->cookie_queue.data = ngx_pnalloc(cf->pool, room->cookie_queue.len);
    room->cookie_access.len = sizeof(NGX_HTTP_TICKET_ACCESS_PREFIX) - 1
                              + room->name.len;
    room->cookie_access.data = ngx_pnalloc(cf->pool, room->cookie_access.len);

    if (room->cookie_queue.data == NULL || room->cookie_access.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(room->cookie_queue.data, NGX_HTTP_TICKET_QUEUE_PREFIX "%V",
                &room->name);
    ngx_sprintf(room->cookie_access.data, NGX_HTTP_TICKET_ACCESS_PREFIX "%V",
                &room->name);

    rp = ngx_array_push(&tmcf->rooms);
    if (rp == NULL) {
        return NGX_CONF_ERROR;
    }

    *rp = room;

    return NGX_CONF_OK;

invalid_name:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive: invalid room name \"%V\" "
                       "(1 to %d of A-Z a-z 0-9 - _ .)",
                       &cmd->name, &value[1], TICKET_TOKEN_ROOM_MAX);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive: invalid value \"%V\" in room \"%V\"",
                       &cmd->name, &value[i], &value[1]);
    return NGX_CONF_ERROR;
}


static ngx_http_ticket_room_t *
ngx_http_ticket_conf_room(ngx_conf_t *cf, ngx_command_t *cmd, ngx_str_t *name)
{
    ngx_http_ticket_room_t       *room;
    ngx_http_ticket_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ticket_module);
    room = ngx_http_ticket_find_room(tmcf, name->data, name->len);

    if (room == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: unknown room \"%V\" "
                           "(declare it with \"ticket_room\" first)",
                           &cmd->name, name);
    }

    return room;
}


static char *
ngx_http_ticket_gate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ticket_loc_conf_t  *tlcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (tlcf->gate != NGX_HTTP_TICKET_GATE_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->gate = NGX_HTTP_TICKET_GATE_OFF;
        return NGX_CONF_OK;
    }

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        tlcf->gate_room = ngx_http_ticket_conf_room(cf, cmd, &value[1]);
        if (tlcf->gate_room == NULL) {
            return NGX_CONF_ERROR;
        }

        tlcf->gate = NGX_HTTP_TICKET_GATE_ROOM;
        return NGX_CONF_OK;
    }

    tlcf->gate_value = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (tlcf->gate_value == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = tlcf->gate_value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tlcf->gate = NGX_HTTP_TICKET_GATE_VARIABLE;

    return NGX_CONF_OK;
}


static char *
ngx_http_ticket_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ticket_loc_conf_t  *tlcf = conf;

    ngx_str_t                         *value;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_compile_complex_value_t   ccv;

    if (tlcf->queue_room || tlcf->queue_value) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        tlcf->queue_room = ngx_http_ticket_conf_room(cf, cmd, &value[1]);
        if (tlcf->queue_room == NULL) {
            return NGX_CONF_ERROR;
        }

    } else {
        /* One location for every room, e.g. from a regex capture. */
        tlcf->queue_value = ngx_palloc(cf->pool,
                                       sizeof(ngx_http_complex_value_t));
        if (tlcf->queue_value == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[1];
        ccv.complex_value = tlcf->queue_value;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ticket_queue_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_ticket_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ticket_loc_conf_t  *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (tlcf->status != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    tlcf->status = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ticket_status_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_ticket_queue_page(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ticket_loc_conf_t  *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->page.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_ticket_load_page(cf, &value[1], &tlcf->page);
}
