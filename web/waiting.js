/*
 * The waiting page's behaviour (queue.html, served by NGINX for a room).
 *
 * It joins the line if the visitor is not in it yet, then polls the
 * room's JSON status at the interval the server names (refresh_seconds),
 * backing off exponentially with jitter when a poll fails, so that a
 * struggling edge is not hammered by its own waiting room.  It shows the
 * place in line, the people ahead and behind, the estimated wait, a
 * progress bar, a countdown to a scheduled opening, and moves on to seat
 * selection as soon as the visitor is admitted.
 */
(function () {
    'use strict';

    var QUEUE_NEXT = 'ticket.queue.next';
    var body = document.body;
    var room = body.getAttribute('data-room');
    var url = location.pathname;
    var refresh = parseInt(body.getAttribute('data-refresh'), 10) || 10;
    var failures = 0;
    var joinTries = 0;
    var opensAt = null;
    var timer = 0;
    var ticker = 0;
    var leaving = false;
    var firstAhead = null;
    var titles = {
        waiting: 'You are in line',
        paused: 'You are in line',
        admitted: 'It is your turn!',
        expired: 'Your place has expired',
        closed: 'The line is not open',
        none: 'Join the line',
        login: 'Log in to join the line'
    };

    /* Where to go once admitted: ?next=/..., else what the site stored
       before sending us here, else the home page.  Only paths on this
       site, so the page cannot be used to send people elsewhere. */
    function destination() {
        var m = /[?&]next=([^&]*)/.exec(location.search), next = null;
        if (m) {
            try {
                next = decodeURIComponent(m[1]);
            } catch (e) {
                next = null;
            }
        }
        if (!next) {
            try {
                next = sessionStorage.getItem(QUEUE_NEXT);
            } catch (e) {
                next = null;
            }
        }
        if (next && next.charAt(0) === '#') {
            next = '/' + next;
        }
        return next && /^\/(?![\/\\])/.test(next) ? next : '/';
    }

    function set(id, text) {
        var el = document.getElementById(id);
        if (el) {
            el.textContent = text;
        }
    }

    function number(n) {
        return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
    }

    function duration(s) {
        if (s < 60) {
            return 'under a minute';
        }
        if (s < 3600) {
            var m = Math.round(s / 60);
            return m + (m === 1 ? ' minute' : ' minutes');
        }
        var h = Math.floor(s / 3600), rest = Math.round((s % 3600) / 60);
        return h + ' h ' + (rest ? rest + ' min' : '');
    }

    function clock(s) {
        var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
        var mm = String(m).padStart(2, '0'), ss = String(sec).padStart(2, '0');
        return h ? h + ':' + mm + ':' + ss : m + ':' + ss;
    }

    function status(name, message) {
        body.setAttribute('data-status', name);
        set('title', titles[name] || 'Waiting room');
        if (message) {
            set('msg', message);
        }
    }

    /* --- the countdown to a scheduled opening ------------------------------- */

    function tickOpening() {
        var left = opensAt ? Math.ceil((opensAt - Date.now()) / 1000) : 0;
        body.classList.toggle('opening', left > 0);
        if (left > 0) {
            set('opens-in', clock(left));
        }
    }

    function setOpening(iso) {
        var t = iso ? Date.parse(iso) : NaN;
        opensAt = isNaN(t) ? null : t;
        if (opensAt) {
            set('opens-at', 'at ' + new Date(opensAt).toLocaleString('en-GB', {
                timeZone: 'Asia/Seoul', weekday: 'short', day: 'numeric', month: 'short',
                hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23'
            }) + ' Seoul time');
        }
        tickOpening();
        if (opensAt && !ticker) {
            ticker = setInterval(tickOpening, 250);
        }
    }

    /* --- showing a standing ---------------------------------------------------- */

    function progress(ahead) {
        var key = 'ticket.queue.first.' + room, pct;
        if (firstAhead === null) {
            try {
                firstAhead = parseInt(sessionStorage.getItem(key), 10);
            } catch (e) {
                firstAhead = NaN;
            }
            if (isNaN(firstAhead)) {
                firstAhead = null;
            }
        }
        if (firstAhead === null || ahead > firstAhead) {
            firstAhead = ahead;
            try {
                sessionStorage.setItem(key, String(ahead));
            } catch (e) { /* the bar then starts from here */ }
        }
        /* Full only once admitted: next in line is not yet in. */
        pct = firstAhead > 0 ? Math.round(100 * (1 - ahead / (firstAhead + 1))) : 95;
        pct = Math.max(3, Math.min(pct, 95));
        document.getElementById('bar').style.width = pct + '%';
        document.getElementById('progress').setAttribute('aria-valuenow', pct);
    }

    function render(j) {
        if (j.refresh_seconds > 0) {
            refresh = j.refresh_seconds;
        }
        setOpening(j.opens_at);
        switch (j.status) {
        case 'waiting':
        case 'paused':
            status(j.status, j.status === 'paused'
                ? 'Admission is paused for a moment. Your place is kept.'
                : (opensAt && opensAt > Date.now()
                   ? 'You are in the line before the sale opens. When it opens, people are let in in order.'
                   : 'People are being let in in order. This page updates itself.'));
            set('position', number(j.position));
            set('ahead', number(j.ahead));
            set('behind', number(j.behind));
            set('wait', j.wait_known && typeof j.wait_seconds === 'number'
                ? duration(j.wait_seconds)
                : (opensAt && opensAt > Date.now() ? 'after opening' : 'estimating…'));
            progress(j.ahead || 0);
            return true;
        case 'admitted':
            admitted();
            return false;
        case 'expired':
            status('expired', 'Your turn has ended: you finished buying, or were away too long. '
                   + 'You can join again at the back of the line.');
            return false;
        case 'closed':
            status('closed', opensAt && opensAt > Date.now()
                ? 'The line for this sale opens shortly before the sale. This page joins it for you as soon as it can.'
                : 'This waiting room is closed.');
            return opensAt && opensAt > Date.now();
        default:
            return true;
        }
    }

    function admitted() {
        var dest = destination();
        status('admitted', 'Thanks for waiting. Taking you to seat selection…');
        document.getElementById('bar').style.width = '100%';
        document.getElementById('go').setAttribute('href', dest);
        try {
            sessionStorage.removeItem('ticket.queue.first.' + room);
        } catch (e) { /* nothing to tidy */ }
        setTimeout(function () { location.replace(dest); }, 800);
    }

    /* --- talking to the room ------------------------------------------------------ */

    function call(method) {
        return fetch(url, {
            method: method,
            headers: { Accept: 'application/json' },
            credentials: 'same-origin',
            cache: 'no-store'
        }).then(function (res) {
            return res.json().catch(function () { return {}; }).then(function (j) {
                return { status: res.status, body: j };
            });
        });
    }

    function schedule(seconds) {
        clearTimeout(timer);
        timer = setTimeout(poll, seconds * 1000);
    }

    /* After a failure: the server's interval doubled per failure, at most
       a minute, with jitter so that a crowd does not retry in step. */
    function backoff() {
        failures++;
        var s = Math.min(refresh * Math.pow(2, failures), 60);
        schedule(s * (0.75 + Math.random() * 0.5));
    }

    function join() {
        joinTries++;
        return call('POST').then(function (r) {
            var code = r.body.error && r.body.error.code;
            if (r.status === 200 || r.status === 201) {
                failures = 0;
                if (render(r.body)) {
                    schedule(refresh);
                }
                return;
            }
            if (code === 'NOT_LOGGED_IN') {
                status('login', 'You need an account to join the line, so that your place and your tickets stay yours.');
                document.getElementById('login').setAttribute(
                    'href', '/#/login?next=' + encodeURIComponent(location.pathname + location.search));
                return;
            }
            if (code === 'ROOM_CLOSED') {
                status('closed', opensAt && opensAt > Date.now()
                    ? 'The line for this sale opens shortly before the sale. This page joins it for you as soon as it can.'
                    : 'This waiting room is not taking people right now.');
                schedule(refresh);
                return;
            }
            if (code === 'QUEUE_FULL') {
                set('msg', 'The line is full right now. We will try again for you in a moment.');
            } else {
                set('msg', 'We could not put you in line just now. Trying again…');
            }
            backoff();
        }, function () {
            set('msg', 'We lost the connection. Trying again…');
            backoff();
        });
    }

    function poll() {
        if (leaving) {
            return;
        }
        call('GET').then(function (r) {
            var code = r.body.error && r.body.error.code;
            if (r.status === 200) {
                failures = 0;
                if (render(r.body)) {
                    /* Closed before the opening: try to join on each tick. */
                    if (r.body.status === 'closed') {
                        join();
                    } else {
                        schedule(refresh);
                    }
                }
                return;
            }
            if (code === 'NOT_IN_QUEUE' || code === 'TOKEN_EXPIRED' || code === 'INVALID_TOKEN'
                || code === 'BAD_TOKEN')
            {
                if (joinTries < 5) {
                    join();
                } else {
                    status('none', 'You are not in line.');
                }
                return;
            }
            set('msg', r.status === 429 || r.status >= 500
                ? 'Lots of people are waiting. Your place is kept; trying again…'
                : 'We could not check your place just now. Trying again…');
            backoff();
        }, function () {
            set('msg', 'We lost the connection. Your place is kept; trying again…');
            backoff();
        });
    }

    document.getElementById('join').addEventListener('submit', function (e) {
        e.preventDefault();
        joinTries = 0;
        join();
    });

    document.getElementById('leave').addEventListener('click', function () {
        leaving = true;
        clearTimeout(timer);
        call('DELETE').catch(function () { return null; }).then(function () {
            location.href = '/';
        });
    });

    if (!room || room.indexOf('{{') === 0) {
        status('closed', 'This page only works inside a waiting room.');
        return;
    }
    status(body.getAttribute('data-status'));
    /* The page came with the standing; JSON says the rest (opens_at). */
    if (body.getAttribute('data-status') === 'none') {
        join();
    } else {
        poll();
    }
}());
