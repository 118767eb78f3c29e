/*
 * What the end-to-end scripts share: Debian's Chromium driven by
 * playwright-core, a TAP printer, screenshots under build/screenshots/,
 * and helpers that act as a buyer would (fill forms, click seats on the
 * canvas).
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '../..');
const SHOTS = process.env.TICKET_SCREENSHOTS || path.join(ROOT, 'build/screenshots');
const BASE = process.env.TICKET_BASE_URL || 'http://127.0.0.1:8080';

const CHROMIUM_ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-dev-shm-usage'
];

/* --- TAP --------------------------------------------------------------- */

let tests = 0;
let failed = 0;

function ok(cond, name) {
    tests++;
    if (!cond) {
        failed++;
    }
    console.log(`${cond ? 'ok' : 'not ok'} ${tests} - ${name}`);
    return cond;
}

function diag(text) {
    String(text).split('\n').forEach((line) => console.log(`# ${line}`));
}

function done() {
    console.log(`1..${tests}`);
    process.exitCode = failed ? 1 : 0;
}

/* --- asking the test wrapper ------------------------------------------------- */

/* Some steps need the stack changed at the right moment (t/60-web.t opens
   the waiting room when the first buyer is ready): "@@ what" goes out on
   stdout, and the answer is the next line on stdin. */
let lines = null;
const waiting = [];

function ask(what) {
    if (!lines) {
        lines = require('readline').createInterface({ input: process.stdin });
        lines.on('line', (line) => {
            const next = waiting.shift();
            if (next) {
                next(line);
            }
        });
    }
    return new Promise((resolve) => {
        waiting.push(resolve);
        console.log(`@@ ${what}`);
    });
}

/* --- the browser ----------------------------------------------------------- */

/* One browser, several independent buyers (contexts); each context has
   its own cookies, as two people on two phones would.  launch() gives
   Chromium a fresh profile directory of its own every time. */
async function launch() {
    return chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: CHROMIUM_ARGS
    });
}

async function buyer(browser, opts = {}) {
    const context = await browser.newContext({
        baseURL: BASE,
        viewport: opts.viewport || { width: 1280, height: 860 },
        deviceScaleFactor: opts.deviceScaleFactor || 1,
        isMobile: !!opts.isMobile,
        hasTouch: !!opts.hasTouch,
        locale: 'en-GB'
    });
    const page = await context.newPage();
    page.setDefaultTimeout(opts.timeout || 15000);
    page.consoleErrors = [];
    page.on('console', (m) => {
        if (m.type() === 'error') {
            page.consoleErrors.push(m.text());
        }
    });
    page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
    return { context, page };
}

async function shot(page, name) {
    fs.mkdirSync(SHOTS, { recursive: true });
    const file = path.join(SHOTS, `${name}.png`);
    await page.screenshot({ path: file });
    return file;
}

/* --- acting as a buyer -------------------------------------------------------- */

async function signUp(page, { name, email, password }) {
    await page.goto('/#/signup');
    await page.fill('#f-name', name);
    await page.fill('#f-email', email);
    await page.fill('#f-password', password);
    await page.click('form button[type=submit]');
    await page.waitForSelector('.nav .who');
}

async function logIn(page, { email, password }, next) {
    await page.goto('/#/login' + (next ? '?next=' + encodeURIComponent(next) : ''));
    await page.fill('#f-email', email);
    await page.fill('#f-password', password);
    await page.click('form button[type=submit]');
    await page.waitForSelector('.nav .who');
}

/* Waits for the seat map to be drawn. */
async function mapReady(page) {
    await page.waitForFunction(() => window.seatMap && window.seatMap.layout
                               && document.querySelector('.legend span'));
}

/* Clicks a seat on the canvas the way a person does: zooms in with the
   mouse wheel over it until seats are big enough to tap, then clicks. */
async function clickSeat(page, id) {
    for (let tries = 0; tries < 16; tries++) {
        const info = await page.evaluate((id) => {
            const m = window.seatMap;
            const p = m.seatPoint(id);
            /* What a click there would hit: the page may have scrolled
               the canvas under the header or out of the window. */
            const top = p && document.elementFromPoint(p.x, p.y);
            return { p, scale: m.scale, covered: !!p && top !== m.canvas };
        }, id);
        if (info.covered) {
            await page.evaluate(() => window.seatMap.canvas.scrollIntoView({ block: 'center' }));
            continue;
        }
        if (info.p && info.scale >= 12) {
            await page.mouse.click(info.p.x, info.p.y);
            return;
        }
        if (!info.p) {
            /* Off screen: bring it into view as a drag would. */
            await page.evaluate((id) => window.seatMap.focusSeat(id, window.seatMap.scale), id);
            continue;
        }
        await page.mouse.move(info.p.x, info.p.y);
        await page.mouse.wheel(0, -300);
        await page.waitForTimeout(50);
    }
    throw new Error(`could not get seat ${id} under the mouse`);
}

/* Runs the named steps in order; a failing step is reported and ends the
   script (later steps depend on it), after a screenshot of the moment. */
async function run(name, fn) {
    let browser;
    try {
        browser = await launch();
        await fn(browser);
    } catch (e) {
        ok(false, `${name}: ${e.message.split('\n')[0]}`);
        diag(e.stack || String(e));
        /* What every open page showed at that moment. */
        const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
        for (const [i, page] of pages.entries()) {
            const file = await shot(page, `failed-${i}`).catch(() => null);
            diag(`${page.url()}${file ? ` -> ${file}` : ''}`);
        }
    } finally {
        if (browser) {
            await browser.close().catch(() => {});
        }
        if (lines) {
            lines.close();
        }
        done();
    }
}

module.exports = {
    BASE, SHOTS, ok, diag, done, ask, launch, buyer, shot, signUp, logIn,
    mapReady, clickSeat, run
};
