/*
 * The ticket site: one page, hash routes, plain DOM.
 *
 *   #/                      events (#/?category=concert|musical|sports)
 *   #/events/ID             an event with its performances
 *   #/login, #/signup       (?next=#/... to come back)
 *   #/performances/ID/seats seat selection on the map
 *   #/holds/ID              checkout: the hold's countdown and payment
 *   #/payments/ID           a card payment's outcome (the card company's
 *                           page sends the buyer back here)
 *   #/tickets               my reservations
 *   #/account               balance and top-up
 *
 * Every call goes through api(), which turns the API's
 * {"error":{"code","message"}} into an ApiError; say() turns that into
 * words for a buyer.  A page that polls or ticks registers its timers with
 * later() so that leaving the page stops them.
 */
(function () {
    'use strict';

    var app = document.getElementById('app');
    var nav = document.getElementById('nav');
    var me;                 /* undefined: not asked yet; null: logged out */
    var timers = [];
    var visit = 0;          /* bumps on every route change */
    var flash = null;       /* a notice for the next page shown */
    var QUEUE_NEXT = 'ticket.queue.next';
    var DEFAULT_LIMIT = 4;
    var skew = 0;           /* server clock minus ours, in ms */
    var seatNames = {};     /* performance id -> Promise of Map id -> seat */

    /* --- small helpers ----------------------------------------------------- */

    /* h('div.card#x', {attrs}, child, ...): builds an element. */
    function h(sel, attrs) {
        var m = sel.split(/(?=[.#])/), node = document.createElement(m[0]);
        var kids = Array.prototype.slice.call(arguments, 2), k;

        m.slice(1).forEach(function (part) {
            if (part[0] === '.') {
                node.classList.add(part.slice(1));
            } else {
                node.id = part.slice(1);
            }
        });
        if (attrs && (typeof attrs !== 'object' || attrs instanceof Node
                      || Array.isArray(attrs))) {
            kids.unshift(attrs);
            attrs = null;
        }
        for (k in attrs || {}) {
            var v = attrs[k];
            if (v === undefined || v === null || v === false) {
                continue;
            }
            if (k.slice(0, 2) === 'on') {
                node.addEventListener(k.slice(2), v);
            } else if (k === 'text') {
                node.textContent = v;
            } else if (k === 'value' || k === 'checked' || k === 'disabled') {
                node[k] = v;
            } else if (k === 'style') {
                node.style.cssText = v;
            } else {
                node.setAttribute(k, v === true ? '' : v);
            }
        }
        append(node, kids);
        return node;
    }

    function append(node, kids) {
        kids.forEach(function (kid) {
            if (kid === null || kid === undefined || kid === false) {
                return;
            }
            if (Array.isArray(kid)) {
                append(node, kid);
            } else {
                node.appendChild(kid instanceof Node ? kid
                                 : document.createTextNode(String(kid)));
            }
        });
    }

    function show() {
        app.replaceChildren();
        append(app, Array.prototype.slice.call(arguments));
        window.scrollTo(0, 0);
    }

    function notice(kind, text) {
        return h('div.notice.' + kind, { role: kind === 'error' ? 'alert' : 'status' },
                 h('p', text));
    }

    var wonFormat = new Intl.NumberFormat('ko-KR', { style: 'currency',
                                                     currency: 'KRW' });
    function won(n) {
        return wonFormat.format(n || 0);
    }

    /* Times are shown in the venues' time zone, Seoul. */
    var dateFormat = new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Asia/Seoul', weekday: 'short', day: 'numeric',
        month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
        hourCycle: 'h23'
    });
    function toDate(t) {
        if (t === null || t === undefined || t === '') {
            return null;
        }
        if (typeof t === 'number') {
            return new Date(t < 1e12 ? t * 1000 : t);
        }
        var d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : t.replace(' ', 'T') + 'Z');
        return isNaN(d) ? null : d;
    }
    function when(t) {
        var d = toDate(t);
        return d ? dateFormat.format(d) : '';
    }

    function plural(n, one, many) {
        return n.toLocaleString('en-US') + ' ' + (n === 1 ? one : many);
    }

    function newKey() {
        if (window.crypto && crypto.randomUUID) {
            return crypto.randomUUID();
        }
        var b = new Uint8Array(16);
        crypto.getRandomValues(b);
        return Array.from(b, function (x) {
            return (x + 256).toString(16).slice(1);
        }).join('');
    }

    function later(fn, ms, repeat) {
        var id = repeat ? setInterval(fn, ms) : setTimeout(fn, ms);
        timers.push({ id: id, repeat: repeat });
        return id;
    }

    function stopTimers() {
        timers.forEach(function (t) {
            (t.repeat ? clearInterval : clearTimeout)(t.id);
        });
        timers = [];
    }

    function go(hash) {
        if (location.hash === hash) {
            route();
        } else {
            location.hash = hash;
        }
    }

    function here() {
        return location.hash || '#/';
    }

    /* --- the API ------------------------------------------------------------- */

    function ApiError(status, code, message, body) {
        this.status = status;
        this.code = code;
        this.message = message || '';
        this.body = body;
    }

    /* Resolves {status, data, headers}; rejects with an ApiError. */
    function api(method, path, body, opts) {
        var headers = { Accept: 'application/json' };
        opts = opts || {};
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
        }
        Object.assign(headers, opts.headers || {});
        return fetch(path, {
            method: method,
            headers: headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            credentials: 'same-origin',
            cache: 'no-store'
        }).catch(function () {
            throw new ApiError(0, 'NETWORK');
        }).then(function (res) {
            var date = Date.parse(res.headers.get('Date') || '');
            /* Countdowns follow the server's clock; the header has whole
               seconds only, so small differences are noise. */
            if (!isNaN(date)) {
                skew = Math.abs(date - Date.now()) > 2000 ? date - Date.now() : 0;
            }
            return res.text().then(function (text) {
                var data = null;
                if (text) {
                    try {
                        data = JSON.parse(text);
                    } catch (e) {
                        data = null;
                    }
                }
                if (res.status === 304 || res.ok) {
                    return { status: res.status, data: data, headers: res.headers };
                }
                var err = data && data.error ? data.error : {};
                throw new ApiError(res.status, err.code || 'HTTP_' + res.status,
                                   err.message, data);
            });
        });
    }

    /*
     * A call that creates something or moves money, with an
     * Idempotency-Key.  action (an object the page keeps) remembers the key:
     * repeating the same request after a lost answer (network, 5xx) sends
     * the same key, so the server does the work at most once.  Any real
     * answer ends the key: a success is done, and a refusal is judged
     * afresh next time anyway (the server does not store refusals).
     */
    function apiOnce(action, method, path, body) {
        var sig = method + ' ' + path + ' ' + JSON.stringify(body);
        if (action.sig !== sig || !action.key) {
            action.sig = sig;
            action.key = newKey();
        }
        return api(method, path, body, { headers: { 'Idempotency-Key': action.key } })
            .then(function (r) {
                action.key = null;
                return r;
            }, function (err) {
                if (err.status >= 400 && err.status < 500) {
                    action.key = null;
                }
                throw err;
            });
    }

    /* Words a buyer understands, for an error in a given context. */
    function say(err, context) {
        var code = err && err.code, status = err && err.status;
        var msg = (err && err.message) || '', m;

        switch (code) {
        case 'NETWORK':
            return 'We could not reach the box office. Check your connection and try again.';
        case 'UNAUTHENTICATED':
            return 'Please log in to continue.';
        case 'BAD_CREDENTIALS':
            return 'That e-mail address and password do not match an account.';
        case 'EMAIL_TAKEN':
            return 'There is already an account with this e-mail address. Try logging in instead.';
        case 'VALIDATION':
            if (/password/.test(msg)) {
                return 'Your password needs at least 8 characters.';
            }
            if (/e-?mail/.test(msg)) {
                return 'Please enter a valid e-mail address.';
            }
            if (/name/.test(msg)) {
                return 'Please tell us your name.';
            }
            if (/amount/.test(msg)) {
                return 'Please enter an amount between ₩1,000 and ₩10,000,000.';
            }
            if (/seat/.test(msg)) {
                return 'Please pick between one seat and the most you may buy at once.';
            }
            return 'Some of the details are not right. Please check them and try again.';
        case 'SEAT_UNAVAILABLE':
        case 'SEATS_UNAVAILABLE':
            return 'Sorry, someone else just took ' +
                (context === 'one' ? 'that seat' : 'one or more of those seats') +
                '. They are greyed out now. Please pick other seats.';
        case 'SEAT_LIMIT':
            m = /at most (\d+).*you have (\d+)/.exec(msg);
            return m ? 'One person may have at most ' + m[1] + ' seats for a performance, and you have '
                       + m[2] + ' already.'
                     : 'You have reached the most seats one person may have for this performance.';
        case 'HOLD_EXPIRED':
            return 'Your time to pay ran out, so the seats went back on sale. Please pick your seats again.';
        case 'HOLD_RELEASED':
        case 'HOLD_NOT_ACTIVE':
            return 'This hold is no longer open. Please pick your seats again.';
        case 'HOLD_CONVERTED':
        case 'HOLD_ALREADY_PAID':
            return 'You have already paid for these seats. They are in My tickets.';
        case 'HOLD_NOT_FOUND':
            return 'We could not find that hold. It may have ended already.';
        case 'UNKNOWN_SEAT':
            return 'One of those seats is not part of this performance. Please reload the map and pick again.';
        case 'RESERVATION_NOT_FOUND':
            return 'We could not find those tickets.';
        case 'PERFORMANCE_STARTED':
            return 'The performance has already started, so these tickets can no longer be cancelled.';
        case 'BALANCE_LIMIT':
            return 'That would take your balance over the ₩100,000,000 limit. Please add a smaller amount.';
        case 'UNSUPPORTED_METHOD':
            return 'That way of paying is not available yet. Please pay from your balance.';
        case 'PAYMENT_PENDING':
            return 'A card payment for these seats is already under way. Please finish it on the '
                + 'card company’s page, or wait a moment until it ends.';
        case 'PAYMENT_NOT_FOUND':
            return 'We could not find that payment.';
        case 'IDEMPOTENCY_KEY_REUSED':
            return 'That request was already sent with different details. Please reload the page and try again.';
        case 'INSUFFICIENT_BALANCE':
            return 'Your balance is too low for this order. Top it up below, then pay.';
        case 'NOT_ADMITTED':
        case 'QUEUE_REQUIRED':
            return 'This sale goes through a waiting room. Taking you to the line…';
        case 'NOT_ON_SALE':
            return 'Tickets for this performance are not on sale yet.';
        case 'CANCEL_NOT_ALLOWED':
        case 'NOT_CANCELLABLE':
        case 'TOO_LATE':
            return 'These tickets can no longer be cancelled.';
        case 'ALREADY_PAID':
        case 'ALREADY_CANCELLED':
            return 'That has already been done. Here is how things stand now.';
        case 'NOT_FOUND':
            return context === 'hold'
                ? 'We could not find that hold. It may have ended already.'
                : 'We could not find what you were looking for.';
        case 'FORBIDDEN':
            return 'That belongs to another account.';
        case 'RATE_LIMITED':
        case 'TOO_MANY_REQUESTS':
            return 'Lots of people are buying right now. Please wait a moment and try again.';
        case 'PAYMENT_DECLINED':
            return 'The payment was declined. Nothing was charged.';
        }
        if (status === 429 || status === 503) {
            return 'Lots of people are buying right now. Please wait a moment and try again.';
        }
        if (status >= 500 || status === 0) {
            return 'Something went wrong on our side. Please try again in a moment.';
        }
        return 'That did not work. Please try again.';
    }

    function refreshMe() {
        return api('GET', '/api/me').then(function (r) {
            me = r.data;
            return me;
        }, function (err) {
            if (err.status === 401) {
                me = null;
                return me;
            }
            me = me || null;
            return me;
        }).then(function (user) {
            drawNav();
            return user;
        });
    }

    function drawNav() {
        var links = [h('a', { href: '#/' }, 'Events')];
        if (me) {
            links.push(h('a', { href: '#/tickets' }, 'My tickets'),
                       h('a.who', { href: '#/account', title: 'Balance' },
                         me.name + ' · ' + won(me.balance)),
                       h('button.linkish', { type: 'button', onclick: logout },
                         'Log out'));
        } else {
            links.push(h('a', { href: '#/login' }, 'Log in'),
                       h('a', { href: '#/signup' }, 'Sign up'));
        }
        nav.replaceChildren.apply(nav, links);
    }

    function needLogin() {
        go('#/login?next=' + encodeURIComponent(here()));
    }

    /* The waiting room an API refusal points to: the gate names it. */
    function gateOf(err) {
        var e = err && err.body && err.body.error;
        if (e && e.queue) {
            return e;
        }
        return err && err.code === 'QUEUE_REQUIRED' ? {} : null;
    }

    /* Sends the browser to a room's waiting page; it comes back to next. */
    function toQueue(room, next, err) {
        var gate = gateOf(err) || {};
        var url = gate.queue || '/queue/' + encodeURIComponent(gate.room || room);
        try {
            sessionStorage.setItem(QUEUE_NEXT, next);
        } catch (e) { /* private mode: the query string still says it */ }
        /* join=1: the room puts the visitor in line at once (it answers
           with its page); the page joins by itself anyway if that fails. */
        location.href = url + (url.indexOf('?') < 0 ? '?' : '&')
                        + 'join=1&next=' + encodeURIComponent('/' + next);
    }

    function parseQuery(q) {
        var out = {};
        (q || '').split('&').forEach(function (kv) {
            if (kv) {
                var p = kv.split('=');
                out[decodeURIComponent(p[0])] = decodeURIComponent((p[1] || '').replace(/\+/g, ' '));
            }
        });
        return out;
    }

    function failPage(err, context) {
        show(h('div.card.narrow',
               h('h1', 'Sorry'),
               notice('error', say(err, context)),
               h('div.row',
                 h('button.btn', { type: 'button', onclick: route }, 'Try again'),
                 h('a.btn.ghost', { href: '#/' }, 'All events'))));
    }

    /* --- events ---------------------------------------------------------------- */

    var CATEGORIES = [['', 'All'], ['concert', 'Concerts'],
                      ['musical', 'Musicals'], ['sports', 'Sports']];

    function pageEvents(q) {
        var cat = CATEGORIES.some(function (c) { return c[0] === q.category; }) ? q.category : '';
        var tabs = h('nav.tabs', { 'aria-label': 'Categories' },
            CATEGORIES.map(function (c) {
                return h('a', { href: c[0] ? '#/?category=' + c[0] : '#/',
                                'aria-current': c[0] === cat ? 'page' : null },
                         c[1]);
            }));
        show(h('h1', 'What’s on'), tabs, h('p.loading', 'Loading events…'));
        return api('GET', '/api/events' + (cat ? '?category=' + encodeURIComponent(cat) : ''))
            .then(function (r) {
                var events = r.data.events || [];
                show(h('h1', 'What’s on'), tabs,
                     events.length ? h('div.grid', events.map(eventCard))
                                   : h('p.muted', 'Nothing in this category right now.'));
            });
    }

    function eventCard(e) {
        var span = e.first_starts_at
            ? (e.performances > 1
               ? when(e.first_starts_at).replace(/,? \d\d:\d\d$/, '') + ' – '
                 + when(e.last_starts_at).replace(/,? \d\d:\d\d$/, '')
               : when(e.first_starts_at))
            : 'Dates to be announced';
        return h('article.card.event-card.cat-' + e.category,
                 h('div.band'),
                 h('div.body',
                   h('span.tag.cat-' + e.category, e.category),
                   h('h3', h('a', { href: '#/events/' + e.id }, e.title)),
                   e.description ? h('p.muted.small', e.description) : null,
                   h('p.small', span, h('br'),
                     plural(e.performances, 'performance', 'performances')),
                   h('div.more', h('a.btn.small', { href: '#/events/' + e.id },
                                   'See dates and seats'))));
    }

    function pageEvent(id) {
        return api('GET', '/api/events/' + id).then(function (r) {
            var e = r.data;
            document.title = e.title + ' · Ticket';
            var cat = CATEGORIES.filter(function (c) { return c[0] === e.category; })[0];
            show(h('p.small', h('a', { href: '#/?category=' + e.category },
                                '← ' + (cat ? cat[1] : 'All events'))),
                 h('section.card.cat-' + e.category,
                   h('span.tag.cat-' + e.category, e.category),
                   h('h1', e.title),
                   e.description ? h('p.muted', e.description) : null),
                 h('section.card',
                   h('h2', 'Performances'),
                   e.performances.length
                       ? e.performances.map(perfRow)
                       : h('p.muted', 'No dates yet.')));
        }, function (err) {
            failPage(err);
        });
    }

    function perfRow(p) {
        var left = p.seats_available, total = p.seats_total, action;
        var cls = left === 0 ? '.none' : (left < total / 10 ? '.low' : '');
        var seatsHash = '#/performances/' + p.id + '/seats';

        if (left === 0) {
            action = h('button.btn', { type: 'button', disabled: true }, 'Sold out');
        } else if (p.room) {
            action = h('button.btn', {
                type: 'button',
                onclick: function () {
                    if (!me) {
                        go('#/login?next=' + encodeURIComponent(seatsHash));
                    } else {
                        toQueue(p.room, seatsHash);
                    }
                }
            }, p.on_sale ? 'Join the line' : 'Wait in line');
        } else if (!p.on_sale) {
            action = h('button.btn', { type: 'button', disabled: true },
                       'On sale ' + when(p.on_sale_at));
        } else {
            action = h('a.btn', { href: seatsHash }, 'Choose seats');
        }
        return h('div.perf', { 'data-performance': p.id },
                 h('div',
                   h('div.when', when(p.starts_at)),
                   h('div.muted.small', p.venue ? p.venue.name : ''),
                   h('div.left' + cls, left === 0 ? 'Sold out'
                     : left.toLocaleString('en-US') + ' of ' + plural(total, 'seat', 'seats')
                       + ' left')),
                 h('div.act', action));
    }

    /* --- accounts ---------------------------------------------------------------- */

    function field(label, attrs, hint) {
        var id = 'f-' + attrs.name;
        return h('div.field',
                 h('label', { for: id }, label),
                 h('input', Object.assign({ id: id, required: true }, attrs)),
                 hint ? h('div.hint', hint) : null);
    }

    /* After logging in: back to a page of this site, or its waiting room. */
    function goNext(q) {
        var next = q.next || '#/';
        if (/^\/queue\/[\w.\-]+(\?[^#]*)?$/.test(next)) {
            location.href = next;
        } else {
            go(/^#\//.test(next) ? next : '#/');
        }
    }

    function pageLogin(q) {
        var msg = h('div');
        var form = h('form.card.narrow', { novalidate: true },
            h('h1', 'Log in'),
            msg,
            field('E-mail', { name: 'email', type: 'email', autocomplete: 'username' }),
            field('Password', { name: 'password', type: 'password',
                                autocomplete: 'current-password' }),
            h('button.btn.block', { type: 'submit' }, 'Log in'),
            h('p.small.center', { style: 'margin-top:1rem' }, 'New here? ',
              h('a', { href: '#/signup' + (q.next ? '?next=' + encodeURIComponent(q.next) : '') },
                'Create an account')));
        form.addEventListener('submit', function (ev) {
            ev.preventDefault();
            var btn = form.querySelector('button');
            btn.disabled = true;
            msg.replaceChildren();
            login(form.email.value.trim(), form.password.value).then(function () {
                goNext(q);
            }, function (err) {
                btn.disabled = false;
                msg.replaceChildren(notice('error', say(err)));
            });
        });
        show(form);
        form.email.focus();
    }

    function login(email, password) {
        if (!email || !password) {
            return Promise.reject(new ApiError(400, 'BAD_CREDENTIALS'));
        }
        return api('POST', '/api/sessions', { email: email, password: password })
            .then(refreshMe);
    }

    function pageSignup(q) {
        var msg = h('div');
        var form = h('form.card.narrow', { novalidate: true },
            h('h1', 'Create an account'),
            msg,
            field('Your name', { name: 'name', type: 'text', autocomplete: 'name' }),
            field('E-mail', { name: 'email', type: 'email', autocomplete: 'email' }),
            field('Password', { name: 'password', type: 'password',
                                autocomplete: 'new-password', minlength: 8 },
                  'At least 8 characters.'),
            h('button.btn.block', { type: 'submit' }, 'Sign up'),
            h('p.small.center', { style: 'margin-top:1rem' }, 'Have an account? ',
              h('a', { href: '#/login' + (q.next ? '?next=' + encodeURIComponent(q.next) : '') },
                'Log in')));
        form.addEventListener('submit', function (ev) {
            var name = form.name.value.trim(), email = form.email.value.trim();
            var password = form.password.value, btn = form.querySelector('button');
            ev.preventDefault();
            msg.replaceChildren();
            if (!name) {
                msg.replaceChildren(notice('error', 'Please tell us your name.'));
                return;
            }
            if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
                msg.replaceChildren(notice('error', 'Please enter a valid e-mail address.'));
                return;
            }
            if (password.length < 8) {
                msg.replaceChildren(notice('error', 'Your password needs at least 8 characters.'));
                return;
            }
            btn.disabled = true;
            api('POST', '/api/users', { name: name, email: email, password: password })
                .then(function () { return login(email, password); })
                .then(function () { goNext(q); }, function (err) {
                    btn.disabled = false;
                    msg.replaceChildren(notice('error', say(err)));
                });
        });
        show(form);
        form.name.focus();
    }

    function logout() {
        api('DELETE', '/api/sessions').catch(function () { return null; })
            .then(function () {
                me = null;
                drawNav();
                go('#/');
            });
    }

    /* --- seat selection ----------------------------------------------------------- */

    function loadPerformance(id) {
        return api('GET', '/api/performances/' + id).then(function (r) {
            var p = r.data;
            return api('GET', '/api/events/' + p.event_id).then(function (e) {
                p.event = e.data;
                return p;
            }, function () {
                p.event = { title: 'Performance', category: '' };
                return p;
            });
        });
    }

    function pageSeats(id) {
        var my = visit, perf, map, etag = null, limit = DEFAULT_LIMIT;
        var msg = h('div'), status = h('div.map-status', 'Loading the seat map…');
        var canvas = h('canvas', { 'aria-label': 'Seat map. Drag to move, pinch or scroll to zoom, tap a seat to pick it.' });
        var picked = h('ul.picked#picked');
        var sum = h('span.sum', 'No seats picked');
        var holdBtn = h('button.btn#hold', { type: 'button', disabled: true }, 'Hold seats');
        var legend = h('div.legend');
        var head = h('div');
        var failures = 0, holdAction = {};

        show(h('div.seat-page',
               head, msg,
               legend,
               h('div.map-wrap',
                 canvas,
                 h('div.map-tools',
                   h('button', { type: 'button', title: 'Zoom in', 'aria-label': 'Zoom in',
                                 onclick: function () { map.zoom(1.6); } }, '+'),
                   h('button', { type: 'button', title: 'Zoom out', 'aria-label': 'Zoom out',
                                 onclick: function () { map.zoom(1 / 1.6); } }, '−'),
                   h('button', { type: 'button', title: 'Whole venue', 'aria-label': 'Show the whole venue',
                                 onclick: function () { map.fit(); } }, '⤢')),
                 status),
               h('section.card', { style: 'margin-top:1rem' },
                 h('h2', 'Your seats'), picked)),
             h('div.buybar', h('div.buybar-inner', sum, holdBtn)));

        map = new window.SeatMap(canvas, {
            canAdd: function () {
                if (map.selected.size >= limit) {
                    say_(notice('warn', 'You can pick up to ' + plural(limit, 'seat', 'seats')
                                + ' for this performance.'));
                    return false;
                }
                return true;
            },
            onRefused: function () {
                say_(notice('warn', 'That seat is already taken. Pick one in colour.'));
            },
            onChange: function () {
                msg.replaceChildren();
                drawPicked();
            },
            onHover: function (seat) {
                status.textContent = seat ? seatLabel(seat) + ' · ' + seat.tier.name + ' '
                    + won(seat.tier.price) + (seat.state !== 'available' ? ' · taken' : '')
                    : mapSummary();
            }
        });
        window.seatMap = map;   /* the end-to-end tests find seats through it */

        function say_(node) {
            msg.replaceChildren(node);
        }

        function mapSummary() {
            var l = map.layout, n = 0;
            if (!l) {
                return '';
            }
            for (var i = 0; i < l.count; i++) {
                n += l.state[i] === 0 ? 1 : 0;
            }
            return plural(n, 'seat', 'seats') + ' available of '
                   + l.count.toLocaleString('en-US');
        }

        function drawPicked() {
            var seats = map.selectedSeats(), total = 0;
            picked.replaceChildren.apply(picked, seats.length ? seats.map(function (s) {
                total += s.tier.price;
                return h('li', { 'data-seat': s.id },
                         h('i.dot', { style: 'background:' + window.SeatMap.tierColour(s.tierIndex) }),
                         h('span', seatLabel(s), h('br'), h('span.muted.small', s.tier.name)),
                         h('span.price', won(s.tier.price)),
                         h('button.btn.ghost.small', {
                             type: 'button', 'aria-label': 'Remove ' + seatLabel(s),
                             onclick: function () {
                                 map.selected.delete(s.index);
                                 map.redraw();
                                 drawPicked();
                             }
                         }, '×'));
            }) : [h('li.muted', 'Tap seats on the map to pick up to '
                    + plural(limit, 'seat', 'seats') + '.')]);
            sum.textContent = seats.length
                ? plural(seats.length, 'seat', 'seats') + ' · ' + won(total)
                : 'No seats picked';
            holdBtn.disabled = seats.length === 0;
        }

        /* The map, or only what changed since (ETag). */
        function fetchMap(force) {
            return api('GET', '/api/performances/' + id + '/seats', undefined, {
                headers: etag && !force ? { 'If-None-Match': etag } : {}
            }).then(function (r) {
                if (my !== visit) {
                    return;
                }
                failures = 0;
                if (r.status === 200 && r.data) {
                    etag = r.headers.get('ETag');
                    if (r.data.limit || r.data.max_seats) {
                        limit = r.data.limit || r.data.max_seats;
                    }
                    map.load(r.data);
                    var gone = map.dropTaken();
                    if (gone.length) {
                        say_(notice('warn', (gone.length === 1 ? 'A seat you picked was' : 'Seats you picked were')
                                    + ' just taken by someone else: ' + gone.map(seatLabel).join(', ')
                                    + '. Please pick another.'));
                    }
                    drawPicked();
                }
                status.textContent = mapSummary();
            });
        }

        function gateOrFail(err) {
            if (gateOf(err)) {
                say_(notice('info', say({ code: 'NOT_ADMITTED' })));
                toQueue(perf.room || '', '#/performances/' + id + '/seats', err);
                return true;
            }
            if (err.status === 401) {
                needLogin();
                return true;
            }
            return false;
        }

        /* Polls every few seconds while the page is shown; backs off on errors. */
        function poll() {
            if (my !== visit) {
                return;
            }
            var wait = Math.min(5000 * Math.pow(2, failures), 60000);
            later(function () {
                if (document.hidden) {
                    poll();
                    return;
                }
                fetchMap(false).catch(function (err) {
                    failures++;
                    if (!gateOrFail(err)) {
                        status.textContent = 'Could not refresh the map; trying again soon.';
                    }
                }).then(poll);
            }, wait);
        }

        holdBtn.addEventListener('click', function () {
            var seats = map.selectedSeats();
            if (!me) {
                needLogin();
                return;
            }
            holdBtn.disabled = true;
            holdBtn.textContent = 'Holding…';
            apiOnce(holdAction, 'POST', '/api/performances/' + id + '/holds',
                    { seat_ids: seats.map(function (s) { return s.id; }) })
                .then(function (r) {
                    var hold = r.data.hold || r.data;
                    rememberSeats(id, seats);
                    go('#/holds/' + hold.id);
                }, function (err) {
                    holdBtn.textContent = 'Hold seats';
                    holdBtn.disabled = false;
                    if (gateOrFail(err)) {
                        return;
                    }
                    say_(notice(err.status === 409 ? 'warn' : 'error',
                                say(err, seats.length === 1 ? 'one' : 'many')));
                    if (err.status === 409) {
                        takenFromError(err);
                        fetchMap(true).catch(function () { return null; });
                    }
                });
        });

        /* When the refusal names the seats, grey them at once. */
        function takenFromError(err) {
            var e = err.body && err.body.error, ids = e && (e.seat_ids || e.seats);
            if (Array.isArray(ids)) {
                ids.forEach(function (sid) {
                    var i = map.layout.byId.get(typeof sid === 'object' ? sid.id : sid);
                    if (i !== undefined) {
                        map.layout.state[i] = 1;
                    }
                });
                map.dropTaken();
                drawPicked();
            }
        }

        return loadPerformance(id).then(function (p) {
            perf = p;
            if (p.max_seats_per_user || p.seat_limit || p.max_seats) {
                limit = p.max_seats_per_user || p.seat_limit || p.max_seats;
            }
            document.title = 'Seats · ' + p.event.title;
            head.replaceChildren(
                h('p.small', h('a', { href: '#/events/' + p.event_id }, '← ' + p.event.title)),
                h('h1', 'Pick your seats'),
                h('p.muted', when(p.starts_at), ' · ', p.venue ? p.venue.name : ''));
            return fetchMap(true);
        }).then(function () {
            var l = map.layout, wrap = canvas.parentNode;
            /* As tall as the venue needs at this width, within the screen. */
            wrap.style.height = Math.round(Math.max(240, Math.min(
                wrap.clientWidth * l.height / l.width + 24,
                window.innerHeight * 0.68, 640))) + 'px';
            map.fit();
            legend.replaceChildren.apply(legend, l.tiers.map(function (t, k) {
                return h('span', h('i', { style: 'background:' + window.SeatMap.tierColour(k) }),
                         t.name + ' ' + won(t.price));
            }).concat([
                h('span', h('i', { style: 'background:' + window.SeatMap.HELD_COLOUR }), 'On hold'),
                h('span', h('i', { style: 'background:' + window.SeatMap.SOLD_COLOUR }), 'Sold'),
                h('span', h('i', { style: 'background:' + window.SeatMap.PICK_COLOUR }), 'Your pick')
            ]));
            drawPicked();
            poll();
        }).catch(function (err) {
            if (!perf || !gateOrFail(err)) {
                failPage(err);
            }
        });
    }

    function seatLabel(s) {
        return 'Section ' + s.section + ', row ' + s.row + ', seat ' + s.number;
    }

    /*
     * Holds and reservations name seats by id; the seat map of their
     * performance says where each one is.  The layout never changes, so it
     * is asked for once per performance and page load.
     */
    function loadSeatNames(perfId) {
        if (!seatNames[perfId]) {
            seatNames[perfId] = api('GET', '/api/performances/' + perfId + '/seats')
                .then(function (r) {
                    var names = new Map();
                    r.data.sections.forEach(function (sec) {
                        sec.rows.forEach(function (row) {
                            for (var j = 0; j < row.count; j++) {
                                names.set(row.ids ? row.ids[j] : row.first_id + j, {
                                    section: sec.name, row: row.name,
                                    number: row.numbers ? row.numbers[j] : row.first_number + j
                                });
                            }
                        });
                    });
                    return names;
                }, function () {
                    /* A gated map (the waiting-room turn is over): the
                       names this browser noted when it held the seats. */
                    var names = new Map(), kept;
                    delete seatNames[perfId];
                    try {
                        kept = JSON.parse(localStorage.getItem('ticket.seats.' + perfId) || '{}');
                    } catch (e) {
                        kept = {};
                    }
                    Object.keys(kept).forEach(function (k) { names.set(Number(k), kept[k]); });
                    return names;
                });
        }
        return seatNames[perfId];
    }

    function rememberSeats(perfId, seats) {
        var key = 'ticket.seats.' + perfId, kept;
        try {
            kept = JSON.parse(localStorage.getItem(key) || '{}');
            seats.forEach(function (s) {
                kept[s.id] = { section: s.section, row: s.row, number: s.number };
            });
            localStorage.setItem(key, JSON.stringify(kept));
        } catch (e) { /* names then come from the map, or show as numbers */ }
    }

    function seatName(names, s) {
        var id = typeof s === 'object' ? s.seat_id || s.id : s;
        var n = names && names.get(id);
        return n ? seatLabel(n) : 'Seat #' + id;
    }

    /* --- checkout ------------------------------------------------------------------- */

    function pageHold(id) {
        var my = visit, hold, perf, names, balance = null, expired = false;
        var payAction = {}, cardAction = {}, chargeAction = {}, method = 'balance';
        var msg = h('div'), clock = h('div.countdown#countdown', '--:--');
        var payBtn = h('button.btn.block#pay', { type: 'button' }, 'Pay');
        var topup = h('div.hidden#topup');
        var body = h('div');

        function remaining() {
            var d = toDate(hold.expires_at);
            return d ? Math.max(0, Math.floor((d.getTime() - Date.now() - skew) / 1000)) : 0;
        }

        function tick() {
            if (my !== visit || expired) {
                return;
            }
            var s = remaining();
            clock.textContent = Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
            clock.classList.toggle('soon', s <= 60);
            if (s <= 0) {
                showExpired();
            }
        }

        function showExpired() {
            expired = true;
            stopTimers();
            show(h('div.card.narrow.center#expired',
                   h('h1', 'Time’s up'),
                   notice('warn', 'Your hold on these seats has expired, so they are back on sale '
                          + 'for everyone. Nothing was charged.'),
                   h('a.btn', { href: '#/performances/' + hold.performance_id + '/seats' },
                     'Pick seats again')));
        }

        function drawTopup(shortfall) {
            var amount = Math.max(10000, Math.ceil((shortfall || 0) / 10000) * 10000);
            var input = h('input#topup-amount', { type: 'number', name: 'amount', min: 1000,
                                                  step: 1000, value: amount, inputmode: 'numeric' });
            var tmsg = h('div');
            topup.replaceChildren(
                h('h3', 'Top up your balance'),
                tmsg,
                h('div.field', h('label', { for: 'topup-amount' }, 'Amount (₩)'), input),
                h('button.btn.ghost.block#topup-go', {
                    type: 'button',
                    onclick: function (ev) {
                        var btn = ev.currentTarget, n = parseInt(input.value, 10);
                        if (!(n >= 1000)) {
                            tmsg.replaceChildren(notice('error', 'Please enter an amount of at least ₩1,000.'));
                            return;
                        }
                        btn.disabled = true;
                        charge(n).then(function () {
                            topup.classList.add('hidden');
                            msg.replaceChildren(notice('ok', won(n) + ' added. Your balance is now '
                                                       + won(balance) + '.'));
                            drawSummary();
                        }, function (err) {
                            btn.disabled = false;
                            tmsg.replaceChildren(notice('error', say(err)));
                        });
                    }
                }, 'Add to balance'));
            topup.classList.remove('hidden');
        }

        function drawSummary() {
            var seats = hold.seats || [];
            body.replaceChildren(
                h('table.lines',
                  seats.map(function (s) {
                      return h('tr', h('td', seatName(names, s)),
                               h('td.num', s.price !== undefined ? won(s.price) : ''));
                  }),
                  h('tr.total', h('td', 'Total'), h('td.num#total', won(hold.total)))),
                h('h3', { style: 'margin-top:1.2rem' }, 'How to pay'),
                h('div.methods',
                  h('label.method', h('input#method-balance', { type: 'radio', name: 'method', value: 'balance',
                                                                checked: method === 'balance', onchange: pickMethod }),
                    h('span.grow', 'Balance'),
                    h('span.muted.small#balance', balance === null ? '' : won(balance))),
                  h('label.method',
                    h('input#method-card', { type: 'radio', name: 'method', value: 'card',
                                             checked: method === 'card', onchange: pickMethod }),
                    h('span.grow', 'Card'),
                    h('span.muted.small', 'on the card company’s page'))),
                topup,
                payBtn);
            drawMethod();
        }

        /* What the chosen way of paying needs: a top-up for a balance that
           falls short, nothing for a card. */
        function drawMethod() {
            payBtn.textContent = payLabel();
            if (method === 'card') {
                topup.classList.add('hidden');
            } else if (balance !== null && balance < hold.total && topup.classList.contains('hidden')) {
                msg.replaceChildren(notice('info', 'Your balance (' + won(balance)
                                           + ') does not cover this order yet. Top it up below.'));
                drawTopup(hold.total - balance);
            }
        }

        function payLabel() {
            return 'Pay ' + won(hold.total) + (method === 'card' ? ' by card' : '');
        }

        function pickMethod(ev) {
            method = ev.currentTarget.value;
            msg.replaceChildren();
            drawMethod();
        }

        /* The card company's page takes the payment, then sends the buyer
           back to #/payments/ID, which waits for the outcome. */
        function toCardPage(p) {
            if (p.status === 'pending' && p.checkout_url) {
                stopTimers();
                msg.replaceChildren(notice('info', 'Taking you to the card company’s page…'));
                location.href = cardPageUrl(p.checkout_url, p.id);
            } else {
                go('#/payments/' + p.id);
            }
        }

        function drawResult(res) {
            var r = res.reservation || res;
            stopTimers();
            refreshMe();
            show(h('div.card.narrow#paid',
                   h('h1', 'You’re going!'),
                   notice('ok', 'Payment complete. ' + won(hold.total) + ' was taken from your balance.'),
                   perf ? h('p', h('b', perf.event.title), h('br'), when(perf.starts_at),
                            ' · ', perf.venue ? perf.venue.name : '') : null,
                   h('ul.seats-list', (r.seats || hold.seats || []).map(function (s) {
                       return h('li', seatName(names, s));
                   })),
                   r.id ? h('p.muted.small', 'Reservation number ' + r.id) : null,
                   h('a.btn.block', { href: '#/tickets' }, 'See my tickets')));
        }

        payBtn.addEventListener('click', function () {
            if (expired) {
                return;
            }
            payBtn.disabled = true;
            payBtn.textContent = 'Paying…';
            msg.replaceChildren();
            (method === 'card'
             ? apiOnce(cardAction, 'POST', '/api/payments', { hold_id: hold.id, method: 'card' })
                 .then(function (r) { toCardPage((r.data && r.data.payment) || r.data || {}); })
             : apiOnce(payAction, 'POST', '/api/payments', { hold_id: hold.id, method: 'balance' })
                 .then(function (r) { drawResult(r.data || {}); }))
                .catch(function (err) {
                    if (!(err instanceof ApiError)) {
                        throw err;
                    }
                    payBtn.disabled = false;
                    payBtn.textContent = payLabel();
                    if (err.code === 'HOLD_EXPIRED') {
                        showExpired();
                        return;
                    }
                    if (err.status === 401) {
                        needLogin();
                        return;
                    }
                    if (gateOf(err)) {
                        msg.replaceChildren(notice('warn', 'Your turn in the waiting room has ended. '
                                                   + 'Taking you back to the line…'));
                        later(function () { toQueue(perf && perf.room || '', here(), err); }, 1500);
                        return;
                    }
                    msg.replaceChildren(notice('error', say(err)));
                    if (err.code === 'INSUFFICIENT_BALANCE' && method === 'balance') {
                        loadBalance().then(function () {
                            drawTopup(hold.total - (balance || 0));
                        });
                    }
                });
        });

        function loadBalance() {
            return api('GET', '/api/balance').then(function (r) {
                balance = r.data.balance;
                var b = document.getElementById('balance');
                if (b) {
                    b.textContent = won(balance);
                }
            }, function () { return null; });
        }

        function charge(n) {
            return apiOnce(chargeAction, 'POST', '/api/balance/charges', { amount: n })
                .then(function (r) {
                    balance = r.data && r.data.balance !== undefined ? r.data.balance
                              : (balance || 0) + n;
                    refreshMe();
                });
        }

        function release() {
            api('DELETE', '/api/holds/' + hold.id).catch(function () { return null; })
                .then(function () {
                    go('#/performances/' + hold.performance_id + '/seats');
                });
        }

        if (!me) {
            needLogin();
            return Promise.resolve();
        }
        return api('GET', '/api/holds/' + id).then(function (r) {
            hold = r.data.hold || r.data;
            return Promise.all([
                loadBalance(),
                loadPerformance(hold.performance_id).then(function (p) { perf = p; },
                                                          function () { return null; }),
                loadSeatNames(hold.performance_id).then(function (n) { names = n; })
            ]);
        }).then(function () {
            if (my !== visit) {
                return;
            }
            if (hold.status && hold.status !== 'active') {
                showClosed();
                return;
            }
            show(h('div.narrow',
                   h('h1', 'Checkout'),
                   perf ? h('p.muted', h('b', perf.event.title), h('br'),
                            when(perf.starts_at), ' · ', perf.venue ? perf.venue.name : '') : null,
                   h('div.card.center',
                     h('div.small.muted', 'Your seats are held for'),
                     clock,
                     h('div.small.muted', 'Pay before the time runs out, or they go back on sale.')),
                   msg,
                   h('div.card', body),
                   h('p.center', h('button.linkish', { type: 'button', onclick: release,
                                                       style: 'color:var(--muted)' },
                                   'Release these seats'))));
            drawSummary();
            tick();
            later(tick, 250, true);
        }).catch(function (err) {
            if (err.status === 401) {
                needLogin();
            } else {
                failPage(err, 'hold');
            }
        });

        function showClosed() {
            var st = hold.status;
            show(h('div.card.narrow.center',
                   h('h1', st === 'converted' ? 'Already paid' : 'This hold has ended'),
                   notice(st === 'converted' ? 'ok' : 'warn',
                          st === 'converted' ? 'These seats are yours; your tickets are waiting.'
                          : st === 'expired' ? 'Your time to pay ran out, so the seats went back on sale.'
                          : 'You released these seats.'),
                   st === 'converted' ? h('a.btn', { href: '#/tickets' }, 'See my tickets')
                   : h('a.btn', { href: '#/performances/' + hold.performance_id + '/seats' },
                       'Pick seats again')));
            if (st === 'expired') {
                expired = true;
                app.firstChild.id = 'expired';
            }
        }
    }

    /* --- a card payment's outcome -------------------------------------------------- */

    /* The card company's page, told where to send the buyer back to. */
    function cardPageUrl(checkoutUrl, paymentId) {
        return checkoutUrl + (checkoutUrl.indexOf('?') < 0 ? '?' : '&') + 'return_url='
            + encodeURIComponent(location.origin + location.pathname + '#/payments/' + paymentId);
    }

    /* Why a card payment arrived too late, in words. */
    var LATE = {
        HOLD_EXPIRED: 'Your card payment reached us after your time to pay had run out, '
            + 'so the seats had already gone back on sale.',
        HOLD_RELEASED: 'Your card payment reached us after the seats had been released.',
        SEATS_TAKEN: 'Your card payment reached us after those seats had been sold to someone else.',
        PAYMENT_CLOSED: 'Your card payment reached us after we had already closed it as unsuccessful.'
    };

    function pagePayment(id) {
        var my = visit, started = Date.now(), hold = null, perf = null, names = null;

        if (!me) {
            needLogin();
            return Promise.resolve();
        }

        function seatsPage() {
            return hold && hold.performance_id ? '#/performances/' + hold.performance_id + '/seats' : '#/';
        }

        function perfLine() {
            return perf ? h('p', h('b', perf.event.title), h('br'), when(perf.starts_at),
                            ' · ', perf.venue ? perf.venue.name : '') : null;
        }

        function drawPending(p, trouble) {
            var waited = Date.now() - started;
            show(h('div.card.narrow.center#payment-pending',
                   h('h1', 'Checking your card payment…'),
                   notice(trouble ? 'warn' : 'info', trouble
                          ? 'We lost touch with the box office for a moment. Still checking…'
                          : 'We are waiting for the card company to confirm your payment'
                            + (p ? ' of ' + won(p.amount) : '') + '. This usually takes a few seconds; '
                            + 'please keep this page open.'),
                   p && p.checkout_url && waited > 10000
                       ? h('p.small', 'Closed the card company’s page before finishing? ',
                           h('a', { href: cardPageUrl(p.checkout_url, id) }, 'Go back to it'), '.')
                       : null));
        }

        function loadHold(p) {
            if (!p.hold_id || hold) {
                return Promise.resolve();
            }
            return api('GET', '/api/holds/' + p.hold_id).then(function (r) {
                hold = r.data.hold || r.data;
                return Promise.all([
                    loadPerformance(hold.performance_id).then(function (x) { perf = x; },
                                                              function () { return null; }),
                    loadSeatNames(hold.performance_id).then(function (n) { names = n; },
                                                            function () { return null; })
                ]);
            }).catch(function () { return null; });
        }

        function drawOutcome(p) {
            var refund = p.status === 'refund_pending' || p.status === 'refunded';
            if (p.status === 'succeeded') {
                refreshMe();
                show(h('div.card.narrow#paid',
                       h('h1', 'You’re going!'),
                       notice('ok', 'Payment complete. ' + won(p.amount) + ' was charged to your card.'),
                       perfLine(),
                       hold ? h('ul.seats-list', (hold.seats || []).map(function (s) {
                           return h('li', seatName(names, s));
                       })) : null,
                       p.reservation_id ? h('p.muted.small', 'Reservation number ' + p.reservation_id) : null,
                       h('a.btn.block', { href: '#/tickets' }, 'See my tickets')));
            } else if (p.status === 'failed') {
                show(h('div.card.narrow.center#payment-failed',
                       h('h1', 'The card payment did not go through'),
                       notice('warn', (p.reason === 'DECLINED'
                                       ? 'Your card payment was declined'
                                       : p.reason === 'EXPIRED' || p.reason === 'CHECKOUT_TIMEOUT'
                                       ? 'The card payment was not finished in time'
                                       : p.reason === 'NOT_AT_GATEWAY'
                                       ? 'We could not reach the card company'
                                       : 'The card payment did not go through')
                              + ', so nothing was charged. The seats you picked were released '
                              + 'and are back on sale.'),
                       h('p', 'You can pick seats again and try once more, by card or from your balance.'),
                       h('a.btn', { href: seatsPage() }, 'Pick seats again')));
            } else if (refund && p.reason === 'CANCELLED') {
                show(h('div.card.narrow.center#payment-refund',
                       h('h1', 'Tickets cancelled'),
                       notice('ok', 'These tickets were cancelled, so the ' + won(p.amount)
                              + (p.status === 'refunded' ? ' card payment has been refunded to your card.'
                                 : ' card payment is being refunded to your card.')),
                       h('a.btn', { href: '#/tickets' }, 'My tickets')));
            } else if (refund) {
                show(h('div.card.narrow.center#payment-refund',
                       h('h1', 'Your payment came too late'),
                       notice('warn', (LATE[p.reason] || 'Your card payment reached us too late to '
                                       + 'get you these seats.')
                              + ' You do not have tickets for them.'),
                       h('p', p.status === 'refunded'
                              ? 'The full ' + won(p.amount) + ' has been refunded to your card.'
                              : 'We are refunding the full ' + won(p.amount) + ' to your card. '
                                + 'You do not need to do anything.'),
                       h('a.btn', { href: seatsPage() }, 'Pick seats again')));
            } else {
                failPage(new ApiError(500, 'CLIENT'));
            }
        }

        function poll() {
            if (my !== visit) {
                return;
            }
            api('GET', '/api/payments/' + id).then(function (r) {
                var p = r.data || {};
                if (my !== visit) {
                    return null;
                }
                if (p.status === 'pending') {
                    drawPending(p);
                    later(poll, Date.now() - started < 60000 ? 1000 : 3000);
                    return null;
                }
                return loadHold(p).then(function () {
                    if (my !== visit) {
                        return;
                    }
                    drawOutcome(p);
                    if (p.status === 'refund_pending') {
                        later(poll, 5000);      /* until the refund is through */
                    }
                });
            }, function (err) {
                if (my !== visit) {
                    return;
                }
                if (err.status === 401) {
                    needLogin();
                } else if (err.status === 0 || err.status === 429 || err.status >= 500) {
                    drawPending(null, true);
                    later(poll, 3000);
                } else {
                    failPage(err, 'payment');
                }
            });
        }

        drawPending(null);
        poll();
        return Promise.resolve();
    }

    /* --- my tickets ---------------------------------------------------------------- */

    function pageTickets() {
        var msg = h('div');
        if (flash) {
            msg.appendChild(flash);
            flash = null;
        }
        if (!me) {
            needLogin();
            return Promise.resolve();
        }
        return api('GET', '/api/reservations').then(function (r) {
            var list = r.data.reservations || r.data || [];
            var perfIds = Array.from(new Set(list.map(function (x) { return x.performance_id; })
                                             .filter(Boolean)));
            /* Fill in event names and dates the list may not carry. */
            return Promise.all(perfIds.map(function (pid) {
                return Promise.all([loadPerformance(pid).catch(function () { return null; }),
                                    loadSeatNames(pid)]);
            })).then(function (perfs) {
                var byId = {};
                perfs.forEach(function (p) {
                    if (p[0]) {
                        p[0].names = p[1];
                        byId[p[0].id] = p[0];
                    }
                });
                show(h('h1', 'My tickets'), msg,
                     list.length ? list.map(function (res) { return ticketCard(res, byId, msg); })
                                 : h('div.card', h('p', 'No tickets yet.'),
                                     h('a.btn', { href: '#/' }, 'Find something to see')));
            });
        }, function (err) {
            if (err.status === 401) {
                needLogin();
            } else {
                failPage(err);
            }
        });
    }

    function ticketCard(res, perfs, msg) {
        var p = perfs[res.performance_id] || res.performance || {};
        var ev = p.event || res.event || {};
        var status = res.status || 'confirmed';
        var cls = status === 'confirmed' ? 'confirmed' : (status === 'cancelled' ? 'cancelled' : 'other');
        var canCancel = status === 'confirmed' && res.cancellable !== false
                        && res.can_cancel !== false;
        var act = h('div.row');

        if (canCancel) {
            act.appendChild(h('button.btn.danger.small', {
                type: 'button',
                onclick: function (e) {
                    var b = e.currentTarget;
                    if (!b.dataset.sure) {
                        b.dataset.sure = '1';
                        b.textContent = 'Yes, cancel these tickets';
                        return;
                    }
                    b.disabled = true;
                    api('POST', '/api/reservations/' + res.id + '/cancel')
                        .then(function (r) {
                            var d = r.data || {};
                            var back = d.refund !== undefined ? d.refund
                                       : (d.refunded !== undefined ? d.refunded : res.total);
                            refreshMe();
                            flash = notice('ok', 'Cancelled. ' + won(back)
                                           + ' went back to your balance.');
                            return pageTickets();
                        }, function (err) {
                            b.disabled = false;
                            msg.replaceChildren(notice('error', say(err)));
                        });
                }
            }, 'Cancel tickets'));
        }
        return h('article.card.ticket.cat-' + (ev.category || '') + (status === 'cancelled' ? '.cancelled' : ''),
                 { 'data-reservation': res.id },
                 h('div.row.spread',
                   h('h2', { style: 'margin:0' }, ev.title || res.event_title || ('Reservation ' + res.id)),
                   h('span.state.' + cls, status)),
                 h('p.muted', when(p.starts_at || res.starts_at),
                   (p.venue || res.venue) ? ' · ' + ((p.venue || res.venue).name || '') : ''),
                 h('ul.seats-list', (res.seats || []).map(function (s) {
                     return h('li', seatName(p.names, s));
                 })),
                 h('div.row.spread',
                   h('span', 'Total ', h('b', won(res.total))),
                   act));
    }

    /* --- balance ------------------------------------------------------------------- */

    function pageAccount() {
        var msg = h('div'), topupAction = {};
        if (!me) {
            needLogin();
            return Promise.resolve();
        }
        return api('GET', '/api/balance').then(function (r) {
            var input = h('input#amount', { type: 'number', name: 'amount', min: 1000, step: 1000,
                                            value: 100000, inputmode: 'numeric' });
            var shown = h('div.countdown#balance-now', won(r.data.balance));
            var form = h('form', { novalidate: true },
                         h('div.field', h('label', { for: 'amount' }, 'Top up (₩)'), input),
                         h('button.btn.block', { type: 'submit' }, 'Add to balance'));
            form.addEventListener('submit', function (ev) {
                var n = parseInt(input.value, 10), btn = form.querySelector('button');
                ev.preventDefault();
                if (!(n >= 1000)) {
                    msg.replaceChildren(notice('error', 'Please enter an amount of at least ₩1,000.'));
                    return;
                }
                btn.disabled = true;
                apiOnce(topupAction, 'POST', '/api/balance/charges', { amount: n }).then(function () {
                    return refreshMe();
                }).then(function () {
                    btn.disabled = false;
                    shown.textContent = won(me.balance);
                    msg.replaceChildren(notice('ok', won(n) + ' added.'));
                }, function (err) {
                    btn.disabled = false;
                    msg.replaceChildren(notice('error', say(err)));
                });
            });
            show(h('div.narrow',
                   h('h1', 'Your account'),
                   h('div.card', h('p.muted', me.name + ' · ' + me.email),
                     h('div.small.muted', 'Balance'), shown),
                   msg,
                   h('div.card', form)));
        }, function (err) {
            failPage(err);
        });
    }

    /* --- the router ------------------------------------------------------------------ */

    var routes = [
        [/^#?\/?$/, pageEvents],
        [/^#\/events\/(\d+)$/, pageEvent],
        [/^#\/login$/, pageLogin],
        [/^#\/signup$/, pageSignup],
        [/^#\/performances\/(\d+)\/seats$/, pageSeats],
        [/^#\/holds\/(\d+)$/, pageHold],
        [/^#\/payments\/(\d+)$/, pagePayment],
        [/^#\/tickets$/, pageTickets],
        [/^#\/account$/, pageAccount]
    ];

    function route() {
        var hash = here(), qpos = hash.indexOf('?');
        var path = qpos < 0 ? hash : hash.slice(0, qpos);
        var q = parseQuery(qpos < 0 ? '' : hash.slice(qpos + 1));
        var i, m, out;

        visit++;
        stopTimers();
        window.seatMap = null;
        document.title = 'Ticket';
        for (i = 0; i < routes.length; i++) {
            m = routes[i][0].exec(path);
            if (m) {
                try {
                    out = m[1] ? routes[i][1](m[1], q) : routes[i][1](q);
                } catch (e) {
                    out = Promise.reject(e);
                }
                Promise.resolve(out).catch(function (err) {
                    failPage(err instanceof ApiError ? err : new ApiError(500, 'CLIENT'));
                });
                return;
            }
        }
        show(h('div.card.narrow', h('h1', 'Page not found'),
               h('p', 'There is nothing at this address.'),
               h('a.btn', { href: '#/' }, 'See what’s on')));
    }

    /* The last safety net: a script error still leaves words, not a
       blank or frozen page. */
    function oops() {
        if (!document.getElementById('oops')) {
            app.insertBefore(notice('error', 'Something went wrong on this page. '
                                    + 'Please reload it; nothing you paid for is lost.'), app.firstChild)
                .id = 'oops';
        }
    }
    window.addEventListener('error', oops);
    window.addEventListener('unhandledrejection', oops);
    window.addEventListener('hashchange', route);
    refreshMe().then(route);
}());
