/*
 * SeatMap: a performance's seat map on one canvas.
 *
 * The API sends the map grouped by section and row, each row as a run of
 * seat ids with one state character per seat (a available, h held,
 * s sold).  The venue carries no coordinates, so the map is laid out here
 * to scale: one unit per seat, rows stacked front to back, sections side
 * by side in a grid facing the stage.  Everything is kept in typed arrays,
 * so a 15,000-seat arena draws in a few milliseconds and a refresh only
 * rewrites the state array.
 */
(function () {
    'use strict';

    var GAP = 6;          /* units between sections */
    var STAGE = 8;        /* the stage's depth, in units */
    var LABEL = 4;        /* room for a section's name above it */
    var TIER_COLOURS = ['#6d28d9', '#db2777', '#2563eb', '#0d9488',
                        '#ea580c', '#65a30d', '#ca8a04', '#0891b2'];
    var HELD_COLOUR = '#dcdce4';
    var SOLD_COLOUR = '#b4b3c0';
    var PICK_COLOUR = '#16151d';
    var STATE_CODES = { a: 0, h: 1, s: 2 };

    function SeatMap(canvas, options) {
        this.canvas = canvas;
        this.ctx = canvas.getContext('2d');
        this.options = options || {};
        this.selected = new Set();      /* seat indexes */
        this.scale = 1;
        this.ox = 0;
        this.oy = 0;
        this.pointers = new Map();
        this.layout = null;
        this.frame = 0;
        this.bind();
    }

    SeatMap.tierColour = function (index) {
        return TIER_COLOURS[index % TIER_COLOURS.length];
    };
    SeatMap.HELD_COLOUR = HELD_COLOUR;
    SeatMap.SOLD_COLOUR = SOLD_COLOUR;
    SeatMap.PICK_COLOUR = PICK_COLOUR;

    /* Takes a map from the API: the first one builds the layout, later
       ones of the same venue only update the seats' states. */
    SeatMap.prototype.load = function (map) {
        var l = this.layout;

        if (!l || l.venueId !== map.venue_id || l.count !== countSeats(map)) {
            this.layout = build(map);
            this.selected.clear();
            this.fit();
        } else {
            readStates(l, map);
        }
        this.redraw();
    };

    function countSeats(map) {
        var n = 0;
        map.sections.forEach(function (sec) {
            sec.rows.forEach(function (row) { n += row.count; });
        });
        return n;
    }

    function build(map) {
        var tiers = map.tiers || [];
        var tierIndex = {};
        var n = countSeats(map);
        var l = {
            venueId: map.venue_id,
            count: n,
            tiers: tiers,
            ids: new Float64Array(n),
            numbers: new Int32Array(n),
            tier: new Uint8Array(n),
            state: new Uint8Array(n),
            x: new Int32Array(n),
            y: new Int32Array(n),
            rowOf: new Uint32Array(n),
            rows: [],               /* {section, name, x, y} */
            sections: [],           /* {name, x, y, w, h} */
            byId: new Map(),
            width: 0,
            height: 0
        };
        var cols, colW = [], rowH = [], colX = [], rowY = [], i, c, r;

        tiers.forEach(function (t, k) { tierIndex[t.code] = k; });

        /* A grid of sections: up to three across, then as many bands as
           needed, each band behind the one before. */
        cols = map.sections.length <= 3 ? map.sections.length
                                         : Math.ceil(map.sections.length / 2);
        cols = Math.max(cols, 1);
        map.sections.forEach(function (sec, k) {
            var w = 0;
            sec.rows.forEach(function (row) { w = Math.max(w, row.count); });
            c = k % cols;
            r = Math.floor(k / cols);
            colW[c] = Math.max(colW[c] || 0, w);
            rowH[r] = Math.max(rowH[r] || 0, sec.rows.length);
        });
        colX[0] = 0;
        for (c = 1; c < colW.length; c++) {
            colX[c] = colX[c - 1] + colW[c - 1] + GAP;
        }
        rowY[0] = STAGE + GAP + LABEL;
        for (r = 1; r < rowH.length; r++) {
            rowY[r] = rowY[r - 1] + rowH[r - 1] + GAP + LABEL;
        }
        l.width = colX[colW.length - 1] + colW[colW.length - 1];
        l.height = rowY[rowH.length - 1] + rowH[rowH.length - 1];

        i = 0;
        map.sections.forEach(function (sec, k) {
            var w = 0, sx, sy;

            sec.rows.forEach(function (row) { w = Math.max(w, row.count); });
            c = k % cols;
            r = Math.floor(k / cols);
            sx = colX[c] + Math.floor((colW[c] - w) / 2);
            sy = rowY[r];
            l.sections.push({ name: sec.name, x: sx, y: sy, w: w,
                              h: sec.rows.length });
            sec.rows.forEach(function (row, ri) {
                var rx = sx + Math.floor((w - row.count) / 2);
                var rowIndex = l.rows.length;
                var j, t;

                l.rows.push({ section: sec.name, name: row.name, x: rx,
                              y: sy + ri });
                for (j = 0; j < row.count; j++, i++) {
                    l.ids[i] = row.ids ? row.ids[j] : row.first_id + j;
                    l.numbers[i] = row.numbers ? row.numbers[j]
                                               : row.first_number + j;
                    t = row.tiers ? row.tiers.charAt(j) : row.tier;
                    l.tier[i] = tierIndex[t] || 0;
                    l.x[i] = rx + j;
                    l.y[i] = sy + ri;
                    l.rowOf[i] = rowIndex;
                    l.byId.set(l.ids[i], i);
                }
            });
        });

        /* Unit cell -> seat index + 1, for hit tests. */
        l.grid = new Int32Array(l.width * l.height);
        for (i = 0; i < n; i++) {
            l.grid[l.y[i] * l.width + l.x[i]] = i + 1;
        }
        readStates(l, map);
        return l;
    }

    function readStates(l, map) {
        var i = 0;

        map.sections.forEach(function (sec) {
            sec.rows.forEach(function (row) {
                for (var j = 0; j < row.count; j++, i++) {
                    var s = STATE_CODES[row.states.charAt(j)];
                    l.state[i] = s === undefined ? 2 : s;
                }
            });
        });
    }

    /* --- geometry ---------------------------------------------------------- */

    SeatMap.prototype.size = function () {
        var r = this.canvas.getBoundingClientRect();
        return { w: Math.max(r.width, 1), h: Math.max(r.height, 1) };
    };

    SeatMap.prototype.fit = function () {
        var l = this.layout, sz = this.size(), pad = 12;

        if (!l) {
            return;
        }
        this.fitScale = Math.min((sz.w - 2 * pad) / l.width,
                                 (sz.h - 2 * pad) / l.height);
        this.scale = this.fitScale;
        this.ox = (sz.w - l.width * this.scale) / 2;
        this.oy = (sz.h - l.height * this.scale) / 2;
        this.redraw();
    };

    SeatMap.prototype.zoomAt = function (px, py, factor) {
        var s = this.scale;
        var next = Math.min(Math.max(s * factor, (this.fitScale || 1) * 0.7), 48);

        this.ox = px - (px - this.ox) * (next / s);
        this.oy = py - (py - this.oy) * (next / s);
        this.scale = next;
        this.redraw();
    };

    SeatMap.prototype.zoom = function (factor) {
        var sz = this.size();
        this.zoomAt(sz.w / 2, sz.h / 2, factor);
    };

    /* Centres the view on a seat at a given size in CSS pixels. */
    SeatMap.prototype.focusSeat = function (id, pixels) {
        var l = this.layout, i = l && l.byId.get(id), sz = this.size();

        if (i === undefined) {
            return false;
        }
        this.scale = pixels || Math.max(this.scale, 18);
        this.ox = sz.w / 2 - (l.x[i] + 0.5) * this.scale;
        this.oy = sz.h / 2 - (l.y[i] + 0.5) * this.scale;
        this.redraw();
        return true;
    };

    /* The page coordinates of a seat's centre (null when off screen). */
    SeatMap.prototype.seatPoint = function (id) {
        var l = this.layout, i = l && l.byId.get(id), r, x, y;

        if (i === undefined) {
            return null;
        }
        r = this.canvas.getBoundingClientRect();
        x = this.ox + (l.x[i] + 0.5) * this.scale;
        y = this.oy + (l.y[i] + 0.5) * this.scale;
        if (x < 0 || y < 0 || x > r.width || y > r.height) {
            return null;
        }
        return { x: r.left + x, y: r.top + y };
    };

    SeatMap.prototype.hit = function (px, py) {
        var l = this.layout, u, v;

        if (!l) {
            return -1;
        }
        u = Math.floor((px - this.ox) / this.scale);
        v = Math.floor((py - this.oy) / this.scale);
        if (u < 0 || v < 0 || u >= l.width || v >= l.height) {
            return -1;
        }
        return l.grid[v * l.width + u] - 1;
    };

    SeatMap.prototype.seat = function (i) {
        var l = this.layout, row = l.rows[l.rowOf[i]];

        return {
            index: i,
            id: l.ids[i],
            section: row.section,
            row: row.name,
            number: l.numbers[i],
            tier: l.tiers[l.tier[i]] || { code: '?', name: '', price: 0 },
            tierIndex: l.tier[i],
            state: ['available', 'held', 'sold'][l.state[i]]
        };
    };

    SeatMap.prototype.seatById = function (id) {
        var i = this.layout && this.layout.byId.get(id);
        return i === undefined ? null : this.seat(i);
    };

    SeatMap.prototype.selectedSeats = function () {
        var self = this;
        return Array.from(this.selected).sort(function (a, b) { return a - b; })
            .map(function (i) { return self.seat(i); });
    };

    SeatMap.prototype.setSelected = function (ids) {
        var self = this;
        this.selected.clear();
        ids.forEach(function (id) {
            var i = self.layout.byId.get(id);
            if (i !== undefined) {
                self.selected.add(i);
            }
        });
        this.redraw();
    };

    /* --- drawing ------------------------------------------------------------- */

    SeatMap.prototype.redraw = function () {
        var self = this;
        if (!this.frame) {
            this.frame = requestAnimationFrame(function () {
                self.frame = 0;
                self.draw();
            });
        }
    };

    SeatMap.prototype.draw = function () {
        var l = this.layout, ctx = this.ctx, sz = this.size();
        var dpr = window.devicePixelRatio || 1;
        var s = this.scale, ox = this.ox, oy = this.oy;
        var pad, size, colours, buckets, i, k, x, y, u0, u1, v0, v1;

        if (this.canvas.width !== Math.round(sz.w * dpr)
            || this.canvas.height !== Math.round(sz.h * dpr))
        {
            this.canvas.width = Math.round(sz.w * dpr);
            this.canvas.height = Math.round(sz.h * dpr);
        }
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, sz.w, sz.h);
        if (!l) {
            return;
        }

        /* The stage, and each section's name above it. */
        ctx.fillStyle = '#2b2838';
        roundRect(ctx, ox + l.width * s * 0.2, oy, l.width * s * 0.6,
                  (STAGE - 1) * s, Math.min(12, s * 2));
        ctx.fillStyle = '#fff';
        ctx.textAlign = 'center';
        ctx.textBaseline = 'middle';
        ctx.font = '600 ' + clamp(s * 3.5, 9, 28) + 'px system-ui, sans-serif';
        ctx.fillText('STAGE', ox + l.width * s / 2, oy + (STAGE - 1) * s / 2);
        ctx.fillStyle = '#5d5b6b';
        ctx.font = '700 ' + clamp(s * 2.6, 10, 30) + 'px system-ui, sans-serif';
        l.sections.forEach(function (sec) {
            ctx.fillText(sec.name, ox + (sec.x + sec.w / 2) * s,
                         oy + (sec.y - LABEL / 2) * s);
        });

        /* Seats, one path per colour; only those on screen. */
        pad = s >= 4 ? Math.max(0.6, s * 0.12) : (s >= 2 ? 0.3 : 0);
        size = s - 2 * pad;
        u0 = (-ox) / s - 1;
        u1 = (sz.w - ox) / s;
        v0 = (-oy) / s - 1;
        v1 = (sz.h - oy) / s;
        colours = TIER_COLOURS.slice(0, Math.max(l.tiers.length, 1))
            .concat([HELD_COLOUR, SOLD_COLOUR, PICK_COLOUR]);
        buckets = colours.map(function () { return []; });
        for (i = 0; i < l.count; i++) {
            x = l.x[i];
            y = l.y[i];
            if (x < u0 || x > u1 || y < v0 || y > v1) {
                continue;
            }
            if (this.selected.has(i)) {
                k = colours.length - 1;
            } else if (l.state[i] !== 0) {
                k = colours.length - 3 + l.state[i] - 1;
            } else {
                k = l.tier[i] % (colours.length - 3);
            }
            buckets[k].push(i);
        }
        buckets.forEach(function (list, k) {
            if (!list.length) {
                return;
            }
            ctx.fillStyle = colours[k];
            ctx.beginPath();
            for (var j = 0; j < list.length; j++) {
                var n = list[j];
                ctx.rect(ox + l.x[n] * s + pad, oy + l.y[n] * s + pad,
                         size, size);
            }
            ctx.fill();
        });

        /* Close up: a ring round picked seats, numbers and row names. */
        if (s >= 6) {
            ctx.strokeStyle = '#facc15';
            ctx.lineWidth = Math.max(1.5, s * 0.12);
            this.selected.forEach(function (n) {
                ctx.strokeRect(ox + l.x[n] * s + pad, oy + l.y[n] * s + pad,
                               size, size);
            });
        }
        if (s >= 16) {
            ctx.font = '600 ' + Math.floor(s * 0.45) + 'px system-ui, sans-serif';
            buckets.forEach(function (list, k) {
                ctx.fillStyle = k >= colours.length - 3 && k < colours.length - 1
                                ? '#6b6a78' : '#fff';
                list.forEach(function (n) {
                    ctx.fillText(String(l.numbers[n]),
                                 ox + (l.x[n] + 0.5) * s,
                                 oy + (l.y[n] + 0.5) * s);
                });
            });
        }
        if (s >= 9) {
            ctx.fillStyle = '#5d5b6b';
            ctx.font = Math.floor(Math.min(s * 0.5, 14)) + 'px system-ui, sans-serif';
            ctx.textAlign = 'right';
            l.rows.forEach(function (row) {
                if (row.y >= v0 && row.y <= v1) {
                    ctx.fillText(row.name, ox + row.x * s - 4,
                                 oy + (row.y + 0.5) * s);
                }
            });
            ctx.textAlign = 'center';
        }
    };

    function clamp(v, lo, hi) {
        return Math.min(Math.max(v, lo), hi);
    }

    function roundRect(ctx, x, y, w, h, r) {
        ctx.beginPath();
        ctx.moveTo(x + r, y);
        ctx.arcTo(x + w, y, x + w, y + h, r);
        ctx.arcTo(x + w, y + h, x, y + h, r);
        ctx.arcTo(x, y + h, x, y, r);
        ctx.arcTo(x, y, x + w, y, r);
        ctx.closePath();
        ctx.fill();
    }

    /* --- input: drag to pan, wheel or pinch to zoom, tap to pick ----------- */

    SeatMap.prototype.local = function (e) {
        var r = this.canvas.getBoundingClientRect();
        return { x: e.clientX - r.left, y: e.clientY - r.top };
    };

    SeatMap.prototype.bind = function () {
        var self = this, c = this.canvas;
        var start = null, moved = false, pinch = null;

        c.addEventListener('pointerdown', function (e) {
            var p = self.local(e);
            c.setPointerCapture(e.pointerId);
            self.pointers.set(e.pointerId, p);
            if (self.pointers.size === 1) {
                start = p;
                moved = false;
            } else if (self.pointers.size === 2) {
                pinch = pinchOf(self.pointers);
                moved = true;
            }
        });
        c.addEventListener('pointermove', function (e) {
            var p = self.local(e), last = self.pointers.get(e.pointerId), now;

            if (!last) {
                self.hover(p);
                return;
            }
            self.pointers.set(e.pointerId, p);
            if (self.pointers.size === 1) {
                if (!moved && Math.hypot(p.x - start.x, p.y - start.y) > 6) {
                    moved = true;
                    c.classList.add('dragging');
                }
                if (moved) {
                    self.ox += p.x - last.x;
                    self.oy += p.y - last.y;
                    self.redraw();
                }
            } else if (self.pointers.size === 2 && pinch) {
                now = pinchOf(self.pointers);
                self.ox += now.x - pinch.x;
                self.oy += now.y - pinch.y;
                self.zoomAt(now.x, now.y, now.d / pinch.d);
                pinch = now;
            }
        });
        function up(e) {
            var p = self.local(e);
            if (!self.pointers.has(e.pointerId)) {
                return;
            }
            self.pointers.delete(e.pointerId);
            if (self.pointers.size < 2) {
                pinch = null;
            }
            if (self.pointers.size === 0) {
                c.classList.remove('dragging');
                if (!moved && e.type === 'pointerup') {
                    self.tap(p);
                }
            }
        }
        c.addEventListener('pointerup', up);
        c.addEventListener('pointercancel', up);
        /* Keys, for those who do not drag: arrows move, + and - zoom,
           0 shows the whole venue. */
        c.setAttribute('tabindex', '0');
        c.addEventListener('keydown', function (e) {
            var step = 60, moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0],
                                     ArrowUp: [0, step], ArrowDown: [0, -step] };
            if (moves[e.key]) {
                self.ox += moves[e.key][0];
                self.oy += moves[e.key][1];
                self.redraw();
            } else if (e.key === '+' || e.key === '=') {
                self.zoom(1.6);
            } else if (e.key === '-') {
                self.zoom(1 / 1.6);
            } else if (e.key === '0') {
                self.fit();
            } else {
                return;
            }
            e.preventDefault();
        });
        c.addEventListener('wheel', function (e) {
            var p = self.local(e);
            e.preventDefault();
            self.zoomAt(p.x, p.y, Math.exp(-e.deltaY * 0.0015));
        }, { passive: false });
        window.addEventListener('resize', function () {
            if (c.isConnected) {
                self.redraw();
            }
        });
    };

    function pinchOf(pointers) {
        var ps = Array.from(pointers.values());
        return {
            x: (ps[0].x + ps[1].x) / 2,
            y: (ps[0].y + ps[1].y) / 2,
            d: Math.max(Math.hypot(ps[0].x - ps[1].x, ps[0].y - ps[1].y), 1)
        };
    }

    SeatMap.prototype.tap = function (p) {
        var i = this.hit(p.x, p.y);

        if (i < 0) {
            return;
        }
        if (this.selected.has(i)) {
            this.selected.delete(i);
        } else if (this.layout.state[i] !== 0) {
            if (this.options.onRefused) {
                this.options.onRefused(this.seat(i), 'taken');
            }
            return;
        } else if (this.options.canAdd && !this.options.canAdd(this.seat(i))) {
            return;
        } else {
            this.selected.add(i);
        }
        this.redraw();
        if (this.options.onChange) {
            this.options.onChange(this.selectedSeats());
        }
    };

    SeatMap.prototype.hover = function (p) {
        var i = this.hit(p.x, p.y);
        if (this.options.onHover) {
            this.options.onHover(i < 0 ? null : this.seat(i));
        }
    };

    /* Drops picked seats that someone else has taken meanwhile. */
    SeatMap.prototype.dropTaken = function () {
        var l = this.layout, gone = [], self = this;

        this.selected.forEach(function (i) {
            if (l.state[i] !== 0) {
                gone.push(self.seat(i));
                self.selected.delete(i);
            }
        });
        if (gone.length) {
            this.redraw();
        }
        return gone;
    };

    window.SeatMap = SeatMap;
}());
