/*
 * Buying tickets in a real browser, against the whole stack that
 * t/60-web.t starts (NGINX with the waiting room, the worker, MariaDB).
 *
 *   1. Errors read as words, never as JSON.
 *   2. A new user signs up, joins the line before a scheduled opening,
 *      waits until admitted, picks two seats on the 15,000-seat map, tops
 *      up the balance, pays by balance and sees the tickets.
 *   3. A second user, who came to the seat map through the gate, picked
 *      the same two seats and asks for them a moment later: told they are
 *      gone, the map greys them.
 *   4. A hold runs out while its owner watches the countdown.
 *   5. Meanwhile, paying by card on the (mock) card company's page: a
 *      declined card releases the seats, then a card that pays gets the
 *      tickets.
 *
 * Environment: TICKET_BASE_URL, TICKET_PERFORMANCE (the one behind the
 * room), TICKET_HOLD_SECONDS, TICKET_CARD_PERFORMANCE (one without a
 * room, for the card payments).  Prints TAP; screenshots go to
 * build/screenshots/.
 */
'use strict';

const L = require('./lib.js');

const PERF = Number(process.env.TICKET_PERFORMANCE || 1);
const HOLD_SECONDS = Number(process.env.TICKET_HOLD_SECONDS || 20);
const CROWD = Number(process.env.TICKET_CROWD || 0);
const CARD_PERF = Number(process.env.TICKET_CARD_PERFORMANCE || 9);
const stamp = Date.now().toString(36);

async function text(page, selector) {
    return (await page.textContent(selector)) || '';
}

async function noJson(page, what) {
    const body = await page.textContent('body');
    L.ok(!/"error"\s*:|\{"/.test(body), `${what}: no raw JSON on the page`);
}

/* The room's answers fail three times (503): the page keeps the visitor's
   hopes up in words and waits longer after each failure, from the server's
   one-second interval upwards, then joins and goes on. */
async function backoff(browser) {
    const d = await L.buyer(browser);
    const times = [];
    await L.logIn(d.page, { email: 'carol@ticket.test', password: 'carol-pass-1' });
    await d.page.route('**/queue/**', (route) => {
        if (route.request().resourceType() !== 'document' && times.length < 3) {
            times.push(Date.now());
            return route.fulfill({ status: 503, contentType: 'application/json',
                                   body: '{"error":{"code":"BUSY","message":"busy"}}' });
        }
        return route.continue();
    });
    await d.page.goto('/queue/aurora');
    await d.page.waitForFunction(() => /Trying again/i.test(document.getElementById('msg').textContent));
    await noJson(d.page, 'waiting page under errors');
    await d.page.waitForURL((u) => !/\/queue\//.test(u.pathname), { timeout: 20000 });
    const gaps = [times[1] - times[0], times[2] - times[1]];
    L.ok(gaps[0] >= 1400 && gaps[1] >= 2900 && gaps[1] > gaps[0],
         `the waiting page backs off on errors (${gaps.join(' ms, ')} ms)`);
    await d.context.close();
}

/* Holds the seat and pays by card, up to the card company's page (the
   mock gateway's), where the buyer presses "Pay" or "Decline"; the
   gateway sends her back to the site. */
async function payByCard(page, seat, button, shots) {
    await L.clickSeat(page, seat);
    await page.click('#hold');
    await page.waitForSelector('#countdown');
    await page.check('#method-card');
    await page.waitForFunction(() => /by card/.test(document.getElementById('pay').textContent));
    if (shots) {
        await L.shot(page, `${shots}-checkout`);
    }
    await page.click('#pay');
    await page.waitForURL(/\/checkout\/\d+\?return_url=/);
    const gateway = await text(page, 'body');
    if (shots) {
        await L.shot(page, `${shots}-gateway`);
    }
    await page.click(`button[value=${button}]`);
    await page.waitForURL(/#\/payments\/\d+$/);
    return gateway;
}

/* 5. A new buyer, with nothing on her balance, pays by card. */
async function cardPayment(browser) {
    const started = Date.now();
    const d = await L.buyer(browser);
    const p = d.page;
    await L.signUp(p, { name: 'Jun Seo', email: `jun-${stamp}@example.test`,
                        password: 'jun-pass-1' });
    await p.goto(`/#/performances/${CARD_PERF}/seats`);
    await L.mapReady(p);
    const seat = await p.evaluate(() => {
        const l = window.seatMap.layout;
        /* One in the middle of the row, clear of the labels at its ends. */
        const i = Math.floor(l.count / 2);
        const row = l.rows[l.rowOf[i]];
        return { id: l.ids[i], label: `Section ${row.section}, row ${row.name}, seat ${l.numbers[i]}` };
    });

    /* Declined: nothing charged, the seat back on sale, try again. */
    const gateway = await payByCard(p, seat.id, 'failed');
    L.ok(/Test double/.test(gateway) && /Pay/.test(gateway),
         'paying by card goes to the card company\'s page');
    await p.waitForSelector('#payment-failed');
    const failed = await text(p, '#payment-failed');
    L.ok(/declined/.test(failed) && /nothing was charged/.test(failed) && /released/.test(failed),
         'back from a declined card: nothing charged, the seats released, in words');
    await noJson(p, 'declined card');
    await L.shot(p, '16-card-declined');
    await p.click('#payment-failed a');
    await L.mapReady(p);
    await p.waitForFunction((id) => window.seatMap.seatById(id).state === 'available', seat.id);
    L.ok(true, '... and the seat is on the map again');

    /* Paid: the tickets. */
    await payByCard(p, seat.id, 'succeeded', '17-card');
    await p.waitForSelector('#paid');
    L.ok(/charged to your card/.test(await text(p, '#paid')), 'back from the card company: paid by card');
    await L.shot(p, '17-card-paid');
    await p.click('#paid a[href="#/tickets"]');
    await p.waitForSelector('[data-reservation]');
    const ticket = await text(p, '[data-reservation]');
    L.ok(/confirmed/i.test(ticket) && ticket.includes(seat.label),
         `my tickets show the seat paid by card (${seat.label})`);
    L.ok(/₩0/.test(await text(p, '.nav .who')), 'the balance was not touched');
    await L.shot(p, '18-card-tickets');
    const errors = p.consoleErrors.filter((e) => !/Failed to load resource/.test(e));
    L.ok(errors.length === 0, 'no script errors while paying by card');
    if (errors.length) {
        L.diag(errors.join('\n'));
    }
    L.diag(`card payments: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await d.context.close();
}

L.run('buying tickets', async (browser) => {
    /* --- 1. errors in words ------------------------------------------------- */
    const a = await L.buyer(browser);
    const pa = a.page;

    await pa.goto('/');
    await pa.waitForSelector('.event-card');
    L.ok((await pa.$$('.event-card')).length >= 3, 'the events list shows the events');
    await pa.click('.tabs a[href="#/?category=sports"]');
    await pa.waitForFunction(() => document.querySelectorAll('.event-card').length > 0
        && [...document.querySelectorAll('.event-card .tag')].every((t) => t.textContent === 'sports'));
    L.ok(true, 'the category filter shows only sports');
    await L.shot(pa, '01-events-sports');

    await pa.goto('/#/events/999999');
    await pa.waitForSelector('.notice.error');
    L.ok(/could not find/i.test(await text(pa, '.notice.error')),
         'a missing event says so in words');
    await noJson(pa, 'missing event');

    await pa.goto('/#/login');
    await pa.fill('#f-email', 'nobody@example.test');
    await pa.fill('#f-password', 'wrong-password');
    await pa.click('form button[type=submit]');
    await pa.waitForSelector('.notice.error');
    L.ok(/do not match/.test(await text(pa, '.notice.error')),
         'a wrong password is explained');
    await L.shot(pa, '02-login-error');

    /* --- 2. sign up, wait in line, pick, pay, see the tickets ------------------ */
    const mina = { name: 'Mina Park', email: `mina-${stamp}@example.test`,
                   password: 'mina-pass-1' };
    await L.signUp(pa, mina);
    L.ok((await text(pa, '.nav .who')).includes('Mina Park'), 'signed up and logged in');

    /* A crowd is in line already; the room opens later: Mina joins early. */
    const opens = Number(await L.ask('crowd'));
    L.ok(opens > Date.now() / 1000, 'the waiting room has not opened yet');

    await pa.goto(`/#/events/1`);
    await pa.waitForSelector(`[data-performance="${PERF}"] .btn`);
    L.ok(/line/i.test(await text(pa, `[data-performance="${PERF}"] .btn`)),
         'the performance behind a waiting room offers the line');
    await L.shot(pa, '03-event');
    await pa.click(`[data-performance="${PERF}"] .btn`);

    await pa.waitForURL(/\/queue\//);
    await pa.waitForSelector('body[data-status=waiting]');
    await pa.waitForFunction(() => document.body.classList.contains('opening')
                             && /\d:\d\d/.test(document.getElementById('opens-in').textContent));
    L.ok(true, 'the waiting page shows the place in line and a countdown to the opening');
    L.ok((await text(pa, '#position')).trim() === String(CROWD + 1)
         && (await text(pa, '#ahead')).trim() === String(CROWD),
         `in line behind ${CROWD} people`);
    await pa.waitForTimeout(1200);
    await L.shot(pa, '04-waiting');

    /* A second buyer, Bob, comes straight to the seat map: the gate sends
       him to the line, which brings him back when admitted. */
    const b = await L.buyer(browser);
    const pb = b.page;
    await L.logIn(pb, { email: 'bob@ticket.test', password: 'bob-pass-1' });
    await pb.goto(`/#/performances/${PERF}/seats`);
    await pb.waitForURL(/\/queue\//);
    await pb.waitForSelector('body[data-status=waiting]');
    L.ok((await text(pb, '#position')).trim() === String(CROWD + 2),
         'the second buyer is right behind her');
    L.ok((await text(pb, '#ahead')).trim() === String(CROWD + 1), '... with one more ahead');

    /* Both are in line: the room opens in a moment. */
    const opened = Number(await L.ask('open-room'));
    L.ok(opened < opens, 'the opening is brought forward');

    /* The line moves: fewer ahead with each poll, then her turn. */
    const seen = [];
    while (/\/queue\//.test(pa.url())) {
        const ahead = await pa.textContent('#ahead').catch(() => null);
        if (ahead !== null && /^\d+$/.test(ahead.trim())
            && seen[seen.length - 1] !== Number(ahead)) {
            seen.push(Number(ahead));
            if (seen.length === 3) {
                await L.shot(pa, '04b-line-moving');
            }
        }
        await pa.waitForTimeout(100);
    }
    await pa.waitForURL(/#\/performances\/\d+\/seats/, { timeout: 60000 });
    L.ok(seen.length >= 3 && seen.every((n, i) => i === 0 || n < seen[i - 1]),
         `the line moved while she waited (ahead: ${seen.join(', ')})`);
    L.ok(true, 'admitted and moved on to seat selection');
    await L.mapReady(pa);
    const total = await pa.evaluate(() => window.seatMap.layout.count);
    L.ok(total === 15000, `the map has all ${total} seats`);
    await L.shot(pa, '05-seat-map');

    await pb.waitForURL(/#\/performances\/\d+\/seats/, { timeout: 60000 });
    await L.mapReady(pb);
    L.ok(true, 'the second buyer is admitted too');

    /* Both go for the same two seats in the middle of section B. */
    const seats = await pa.evaluate(() => {
        const l = window.seatMap.layout;
        const row = l.rows.findIndex((r) => r.section === 'B' && r.name === '12');
        const ids = [];
        for (let i = 0; i < l.count; i++) {
            if (l.rowOf[i] === row && l.numbers[i] >= 24 && l.numbers[i] <= 25) {
                ids.push(l.ids[i]);
            }
        }
        return ids;
    });
    for (const id of seats) {
        await L.clickSeat(pa, id);
        await L.clickSeat(pb, id);
    }
    L.ok((await pa.$$('#picked li[data-seat]')).length === 2, 'two seats picked on the map');
    L.ok(/2 seats · ₩264,000/.test(await text(pa, '.buybar .sum')),
         'the bar sums up two Royal seats');
    await pa.click('.map-tools button[aria-label="Zoom out"]');
    await pa.waitForTimeout(100);
    await L.shot(pa, '06-seats-picked');

    /* The limit: a fifth seat is refused with a word why. */
    const more = await pa.evaluate(([a]) => {
        const l = window.seatMap.layout;
        const i = l.byId.get(a);
        return [1, 2, 3].map((k) => l.ids[i + 2 + k]);
    }, seats);
    for (const id of more) {
        await L.clickSeat(pa, id);
    }
    L.ok(/up to 4 seats/.test(await text(pa, '.notice')), 'a fifth seat is refused: up to 4');
    for (const id of more.slice(0, 2)) {
        await L.clickSeat(pa, id);     /* tapping again puts them back */
    }
    L.ok((await pa.$$('#picked li[data-seat]')).length === 2, 'back to two seats');

    await pa.click('#hold');
    await pa.waitForSelector('#countdown');
    L.ok(/^\d+:\d\d$/.test((await text(pa, '#countdown')).trim()), 'the hold shows its countdown');

    /* --- 3. the second buyer asks for the same seats -------------------------- */
    await pb.click('#hold');
    await pb.waitForSelector('.notice.warn');
    L.ok(/someone else just took/.test(await text(pb, '.notice.warn')),
         'the second buyer is told the seats are gone');
    await pb.waitForFunction((ids) => ids.every((id) =>
        window.seatMap.seatById(id).state !== 'available'), seats);
    L.ok((await pb.$$('#picked li[data-seat]')).length === 0,
         '... the map greys them and drops them from the picks');
    await noJson(pb, 'seats taken');
    await L.shot(pb, '07-seats-gone');

    /* Back to the first buyer: a new account has no balance yet. */
    await pa.waitForSelector('#topup:not(.hidden)');
    L.ok(/does not cover/.test(await text(pa, '.notice.info')),
         'checkout says the balance does not cover the order');
    await L.shot(pa, '08-checkout');
    await pa.fill('#topup-amount', '300000');
    await pa.click('#topup-go');
    await pa.waitForSelector('.notice.ok');
    L.ok(/₩300,000 added/.test(await text(pa, '.notice.ok')), 'the balance is charged');
    await pa.click('#pay');
    await pa.waitForSelector('#paid');
    L.ok(/Payment complete/.test(await text(pa, '#paid')), 'paid by balance');
    await L.shot(pa, '09-paid');

    await pa.click('#paid a[href="#/tickets"]');
    await pa.waitForSelector('[data-reservation]');
    const ticket = await text(pa, '[data-reservation]');
    L.ok(/confirmed/i.test(ticket) && /Section B, row 12, seat 24/.test(ticket)
         && /seat 25/.test(ticket), 'my tickets show the reservation with both seats');
    L.ok(/₩36,000/.test(await text(pa, '.nav .who')), 'the balance went down by the total');
    await L.shot(pa, '10-my-tickets');

    /* --- 4. a hold runs out in front of its owner ------------------------------- */
    const other = await pb.evaluate((taken) => {
        const l = window.seatMap.layout;
        const i = l.byId.get(taken[1]);
        return [l.ids[i + 3], l.ids[i + 4]];
    }, seats);
    for (const id of other) {
        await L.clickSeat(pb, id);
    }

    /* Meanwhile a third buyer looks at the map (through the line, which
       is open now): it refreshes itself, without a reload, when the seats
       get held. */
    const c = await L.buyer(browser);
    const watcher = c.page;
    await L.logIn(watcher, { email: 'carol@ticket.test', password: 'carol-pass-1' },
                  `#/performances/${PERF}/seats`);
    await watcher.waitForURL(/#\/performances\/\d+\/seats/, { timeout: 30000 });
    await L.mapReady(watcher);
    const before = await watcher.evaluate((ids) => ids.map((id) =>
        window.seatMap.seatById(id).state), other);
    await watcher.evaluate(() => { window.notReloaded = true; });

    await pb.click('#hold');
    await pb.waitForSelector('#countdown');
    await pb.waitForTimeout(1000);
    await L.shot(pb, '11-hold-countdown');

    await watcher.waitForFunction((ids) => window.notReloaded && ids.every((id) =>
        window.seatMap.seatById(id).state === 'held'), other, { timeout: 15000 });
    L.ok(before.every((s) => s === 'available'),
         'another tab shows the seats available, then held, without a reload');
    await c.context.close();
    /* While the hold runs down: a waiting page whose polls fail backs off. */
    await backoff(browser);
    /* ... and someone pays by card. */
    await cardPayment(browser);

    await pb.waitForSelector('#expired', { timeout: (HOLD_SECONDS + 10) * 1000 });
    L.ok(/expired/.test(await text(pb, '#expired')), 'the page says the hold has expired');
    await L.shot(pb, '12-hold-expired');
    await pb.click('#expired a');
    await L.mapReady(pb);
    await pb.waitForFunction((ids) => ids.every((id) =>
        window.seatMap.seatById(id).state === 'available'), other);
    L.ok(true, '... and the seats are back on the map');

    /* --- my tickets: cancel, then log out ------------------------------------------ */
    await pa.goto('/#/tickets');
    await pa.waitForSelector('[data-reservation] .btn.danger');
    await pa.click('[data-reservation] .btn.danger');
    L.ok(/Yes, cancel/.test(await text(pa, '[data-reservation] .btn.danger')),
         'cancelling asks once more');
    await pa.click('[data-reservation] .btn.danger');
    await pa.waitForSelector('.notice.ok');
    L.ok(/₩264,000 went back to your balance/.test(await text(pa, '.notice.ok'))
         && /cancelled/i.test(await text(pa, '[data-reservation] .state')),
         'cancelled tickets show as cancelled, the money back on the balance');
    L.ok(/₩300,000/.test(await text(pa, '.nav .who')), 'the balance is whole again');
    await L.shot(pa, '14-cancelled');
    await pa.click('.nav button');
    await pa.waitForSelector('.nav a[href="#/login"]');
    L.ok(true, 'logged out');

    /* --- a phone ------------------------------------------------------------------ */
    const phone = await L.buyer(browser, { viewport: { width: 390, height: 844 },
                                           deviceScaleFactor: 2, isMobile: true,
                                           hasTouch: true });
    await phone.page.goto('/#/events/1');
    await phone.page.waitForSelector('.perf');
    const overflow = await phone.page.evaluate(() =>
        document.documentElement.scrollWidth > window.innerWidth + 1);
    L.ok(!overflow, 'the event page fits a phone screen');
    await L.shot(phone.page, '13-phone-event');

    /* Logged out, the line first asks for a log-in, then goes on by itself. */
    await phone.page.click(`[data-performance="${PERF}"] .btn`);
    await phone.page.waitForSelector('#f-email');
    await phone.page.fill('#f-email', 'alice@ticket.test');
    await phone.page.fill('#f-password', 'alice-pass-1');
    await phone.page.click('form button[type=submit]');
    await phone.page.waitForURL(/#\/performances\/\d+\/seats/, { timeout: 30000 });
    await L.mapReady(phone.page);
    await L.clickSeat(phone.page, other[0]);
    L.ok((await phone.page.$$('#picked li[data-seat]')).length === 1,
         'on a phone: log in, through the line, a seat picked on the map');
    await L.shot(phone.page, '15-phone-seat-map');

    const errors = [pa, pb, phone.page].flatMap((p) => p.consoleErrors)
        .filter((e) => !/Failed to load resource/.test(e));
    L.ok(errors.length === 0, 'no script errors in the pages');
    if (errors.length) {
        L.diag(errors.join('\n'));
    }
});
