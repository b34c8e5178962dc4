/* The schedule page's charts, drawn as SVG text: one string per chart and one innerHTML per update.
 *
 * No listener per element: tooltips are SVG <title>s, so 100+ units over 96 periods (some ten
 * thousand cells) cost one parse, not ten thousand handlers. Each drawn unit carries
 * data-unit="<name>" so tests (and people) can find it.
 *
 * Periods are intervals: period t (1-based) spans x(t-1)..x(t), so every series is a step line.
 */

const RENEWABLE_COLOR = "#22a06b";
const DEMAND_COLOR = "#152033";
const RESERVE_COLOR = "#d1434f";
const PRICE_COLOR = "#7c3aed";
const OBJECTIVE_COLOR = "#e8833a";
const BOUND_COLOR = "#2f6fde";

// ------------------------------------------------------------------ helpers
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (value) => String(value).replace(/[&<>"']/g, (c) => ESC[c]);

const nf = (digits) => new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const fmt0 = nf(0), fmt1 = nf(1), fmt2 = nf(2);
const finite = (v) => typeof v === "number" && Number.isFinite(v);
export const num = (v, f = fmt1) => (finite(v) ? f.format(v) : "–");
export const formats = { fmt0, fmt1, fmt2 };
const r1 = (v) => Math.round(v * 10) / 10;

/** A compact axis label: 1 234 -> "1.2k", 2 500 000 -> "2.5M". */
function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${r1(v / 1e6)}M`;
  if (a >= 1e4) return `${r1(v / 1e3)}k`;
  if (a >= 100 || Number.isInteger(v)) return fmt0.format(v);
  return String(Math.round(v * 100) / 100);
}

/** About `count` round ticks covering lo..hi. */
function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A stable colour per unit name (hash to a hue; greens are left to the renewables). */
export function unitColor(name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i += 1) { h ^= name.charCodeAt(i); h = Math.imul(h, 16777619); }
  h >>>= 0;
  const hue = (190 + (h % 260)) % 360;
  const light = 42 + ((h >>> 9) % 3) * 9;
  return `hsl(${hue} 58% ${light}%)`;
}

function chartWidth(svg) {
  const w = svg.clientWidth || (svg.parentElement && svg.parentElement.clientWidth) || 800;
  return Math.max(320, Math.round(w));
}

function put(svg, width, height, body) {
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", String(height));
  svg.innerHTML = body;
}

export function drawEmpty(svg, text, height = 120) {
  const width = chartWidth(svg);
  put(svg, width, height, `<text class="empty-text" x="${width / 2}" y="${height / 2}" text-anchor="middle">${esc(text)}</text>`);
}

/** Axes and grid: y ticks on the left, period ticks along the bottom. */
function frame({ width, height, m, yLo, yHi, y, xTicks, yLabel }) {
  let s = "";
  for (const v of ticks(yLo, yHi, 5)) {
    const py = r1(y(v));
    s += `<line class="grid" x1="${m.l}" x2="${width - m.r}" y1="${py}" y2="${py}"></line>`;
    s += `<text class="tick" x="${m.l - 6}" y="${py + 3.5}" text-anchor="end">${compact(v)}</text>`;
  }
  for (const [px, label] of xTicks) {
    s += `<text class="tick" x="${r1(px)}" y="${height - m.b + 15}" text-anchor="middle">${esc(label)}</text>`;
  }
  s += `<line class="axis" x1="${m.l}" x2="${width - m.r}" y1="${height - m.b}" y2="${height - m.b}"></line>`;
  if (yLabel) s += `<text class="axis-label" x="${m.l - 6}" y="${m.t - 4}" text-anchor="end">${esc(yLabel)}</text>`;
  return s;
}

function periodTicks(T, x) {
  const every = [1, 2, 3, 4, 6, 8, 12, 24, 48].find((k) => T / k <= 16) || Math.ceil(T / 16);
  const out = [];
  for (let t = 1; t <= T; t += 1) if ((t - 1) % every === 0) out.push([x(t - 0.5), String(t)]);
  return out;
}

/** "M x0 y0 H x1 V y1 H x2 ..." through the values of consecutive periods. */
function stepPath(values, x, y) {
  let d = "";
  values.forEach((v, i) => {
    const py = r1(y(v));
    d += i === 0 ? `M${r1(x(0))} ${py}H${r1(x(1))}` : `V${py}H${r1(x(i + 1))}`;
  });
  return d;
}

const GEOMETRY = new WeakMap();  // svg -> layout of the on/off chart, for cellAt
const series = (a, T) => Array.from({ length: T }, (_, t) => Number((a || [])[t]) || 0);

// ------------------------------------------------------------------ model
/** Periods, committed units (base load first) and the renewable total of a schedule document. */
export function scheduleModel(doc) {
  const thermal = Object.entries(doc.thermal || {});
  const renewable = Object.values(doc.renewable || {});
  const T = Number(doc.time_periods) || Math.max(0, ...thermal.map(([, u]) => (u.on || u.p || []).length),
    (doc.marginal_price || []).length);
  const units = thermal
    .filter(([, u]) => (u.on || []).some((v) => Number(v) === 1))
    .map(([name, u]) => {
      const on = series(u.on, T).map((v) => (v === 1 ? 1 : 0));
      const p = series(u.p, T);
      const reserve = series(u.reserve, T);
      const startup = series(u.startup_cost, T);
      const energy = p.reduce((s, v) => s + v, 0);
      return { name, on, p, reserve, startup, energy, hours: on.reduce((s, v) => s + v, 0), color: unitColor(name) };
    })
    .sort((a, b) => b.hours - a.hours || b.energy - a.energy || (a.name < b.name ? -1 : 1));
  const renewableP = Array.from({ length: T }, (_, t) => renewable.reduce((s, u) => s + (Number((u.p || [])[t]) || 0), 0));
  return { T, units, renewableCount: renewable.length, renewableP, price: series(doc.marginal_price, T) };
}

// ------------------------------------------------------------------ 1. stacked output
export function drawStack(svg, model, demandIn, reserveIn) {
  const { T, units, renewableP, renewableCount } = model;
  if (!T) { drawEmpty(svg, "No schedule yet"); return; }
  const width = chartWidth(svg);
  const height = 300;
  const m = { l: 56, r: 14, t: 18, b: 26 };
  const demand = Array.isArray(demandIn) && demandIn.length ? series(demandIn, T) : null;
  const reserve = demand && Array.isArray(reserveIn) && reserveIn.length ? series(reserveIn, T) : null;
  const layers = [];
  if (renewableCount) layers.push({ name: "Renewables", renewable: true, p: renewableP, color: RENEWABLE_COLOR });
  for (const u of units) layers.push({ ...u, renewable: false });

  const base = new Array(T).fill(0);
  const stacked = layers.map((layer) => {
    const lo = base.slice();
    for (let t = 0; t < T; t += 1) base[t] += Math.max(0, layer.p[t]);
    return { layer, lo, hi: base.slice() };
  });
  const top = Math.max(1, ...base, ...(demand || []), ...(reserve ? demand.map((d, t) => d + reserve[t]) : []));
  const yHi = top * 1.05;
  const x = (t) => m.l + (t / T) * (width - m.l - m.r);
  const y = (v) => height - m.b - (v / yHi) * (height - m.t - m.b);

  let s = frame({ width, height, m, yLo: 0, yHi, y, xTicks: periodTicks(T, x), yLabel: "MW" });
  // one transparent column per period: its tooltip reads the period's totals
  s += '<g class="hover-cols">';
  for (let t = 0; t < T; t += 1) {
    const on = units.filter((u) => u.on[t]).length;
    const lines = [`Period ${t + 1}`, `Output ${fmt1.format(base[t])} MW (renewables ${fmt1.format(renewableP[t])})`, `${on} units on`];
    if (demand) lines.push(`Demand ${fmt1.format(demand[t])} MW`);
    if (reserve) lines.push(`Reserve ${fmt1.format(reserve[t])} MW`);
    lines.push(`Price ${fmt2.format(model.price[t])} EUR/MWh`);
    s += `<rect class="hover-col" x="${r1(x(t))}" y="${m.t}" width="${r1(x(t + 1) - x(t))}" height="${height - m.t - m.b}"><title>${esc(lines.join("\n"))}</title></rect>`;
  }
  s += "</g>";
  s += '<g class="layers">';
  for (const { layer, lo, hi } of stacked) {
    let d = `M${r1(x(0))} ${r1(y(hi[0]))}`;
    for (let t = 0; t < T; t += 1) d += `${t ? `V${r1(y(hi[t]))}` : ""}H${r1(x(t + 1))}`;
    for (let t = T - 1; t >= 0; t -= 1) d += `V${r1(y(lo[t]))}H${r1(x(t))}`;
    d += "Z";
    const peak = Math.max(...layer.p);
    const attr = layer.renewable ? 'data-layer="renewable"' : `data-unit="${esc(layer.name)}"`;
    const what = layer.renewable
      ? `Renewables (${renewableCount} units) · ${fmt0.format(layer.p.reduce((a, b) => a + b, 0))} MWh · peak ${fmt1.format(peak)} MW`
      : `${layer.name} · on ${layer.hours} of ${T} periods · ${fmt0.format(layer.energy)} MWh · peak ${fmt1.format(peak)} MW`;
    s += `<path class="layer" ${attr} d="${d}" fill="${layer.color}"><title>${esc(what)}</title></path>`;
  }
  s += "</g>";
  if (demand) {
    s += `<path class="line" data-role="demand-line" d="${stepPath(demand, x, y)}" stroke="${DEMAND_COLOR}"><title>Demand</title></path>`;
  }
  if (reserve) {
    const need = demand.map((d, t) => d + reserve[t]);
    s += `<path class="line dashed" data-role="reserve-line" d="${stepPath(need, x, y)}" stroke="${RESERVE_COLOR}"><title>Demand + reserve</title></path>`;
  }
  put(svg, width, height, s);
}

/** The legend under the stacked chart (HTML): one swatch per layer, top layer first. */
export function legendHtml(model) {
  const items = [];
  for (const u of model.units.slice().reverse()) {
    items.push(`<li data-legend-unit="${esc(u.name)}" title="${esc(`${u.name}: on ${u.hours} of ${model.T} periods, ${fmt0.format(u.energy)} MWh`)}"><span class="sw" style="background:${u.color}"></span>${esc(u.name)}</li>`);
  }
  if (model.renewableCount) items.push(`<li data-legend-layer="renewable"><span class="sw" style="background:${RENEWABLE_COLOR}"></span>Renewables (${model.renewableCount})</li>`);
  return items.join("");
}

// ------------------------------------------------------------------ 2. on/off by unit
export function drawOnOff(svg, model) {
  const { T, units } = model;
  if (!T || !units.length) { drawEmpty(svg, T ? "No unit committed" : "No schedule yet", 80); return; }
  const width = chartWidth(svg);
  const n = units.length;
  const rowH = n <= 30 ? 18 : n <= 80 ? 13 : 10;
  const font = Math.min(11, rowH - 2);
  const longest = Math.max(...units.map((u) => u.name.length));
  const m = { l: Math.min(180, Math.max(70, longest * font * 0.62 + 12)), r: 14, t: 6, b: 24 };
  const height = m.t + n * rowH + m.b;
  const x = (t) => m.l + (t / T) * (width - m.l - m.r);
  const cellW = x(1) - x(0);

  let s = "";
  for (const [px, label] of periodTicks(T, x)) {
    s += `<text class="tick" x="${r1(px)}" y="${height - m.b + 15}" text-anchor="middle">${label}</text>`;
  }
  units.forEach((u, i) => {
    const top = m.t + i * rowH;
    // the row's cells as one path (a rectangle per period on) and its start-ups as another:
    // two elements a row whatever the periods, not one per cell
    let cells = "", starts = "";
    const runs = [];
    for (let t = 0; t < T; t += 1) {
      if (!u.on[t]) continue;
      cells += `M${r1(x(t) + 0.5)} ${top + 1}h${r1(Math.max(0.5, cellW - 1))}v${rowH - 2}h${r1(-Math.max(0.5, cellW - 1))}Z`;
      if (t === 0 || !u.on[t - 1]) runs.push([t + 1, t + 1]); else runs[runs.length - 1][1] = t + 1;
      if (u.startup[t] > 0 || (t > 0 && !u.on[t - 1])) starts += `M${r1(x(t) + 0.5)} ${top}v${rowH}`;
    }
    const spans = runs.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(", ");
    const startCost = u.startup.reduce((a, b) => a + b, 0);
    const tip = `${u.name} · on ${u.hours} of ${T} periods (${spans}) · ${fmt0.format(u.energy)} MWh` +
      (startCost > 0 ? ` · start-up ${fmt0.format(startCost)} EUR` : "");
    s += `<g class="unit-row" data-unit="${esc(u.name)}" data-on-count="${u.hours}">`;
    s += `<rect class="row-bg" x="${r1(m.l)}" y="${top + 1}" width="${r1(width - m.l - m.r)}" height="${rowH - 2}"></rect>`;
    s += `<text class="row-label" x="${r1(m.l - 6)}" y="${top + rowH / 2 + font * 0.36}" text-anchor="end" font-size="${font}">${esc(u.name)}<title>${esc(tip)}</title></text>`;
    s += `<path class="cells" d="${cells}" fill="${u.color}"></path>`;
    if (starts) s += `<path class="starts" d="${starts}"></path>`;
    s += "</g>";
  });
  put(svg, width, height, s);
  GEOMETRY.set(svg, { m, rowH, T, width, units });
}

/** The unit and period under a pointer on the on/off chart (one listener for the whole chart), or null. */
export function cellAt(svg, clientX, clientY) {
  const g = GEOMETRY.get(svg);
  const box = svg.getBoundingClientRect();
  if (!g || !box.width) return null;
  const scale = g.width / box.width;
  const px = (clientX - box.left) * scale, py = (clientY - box.top) * scale;
  const t = Math.floor(((px - g.m.l) / (g.width - g.m.l - g.m.r)) * g.T);
  const row = Math.floor((py - g.m.t) / g.rowH);
  if (t < 0 || t >= g.T || row < 0 || row >= g.units.length) return null;
  const u = g.units[row];
  return { unit: u.name, period: t + 1, on: u.on[t] === 1, p: u.p[t], reserve: u.reserve[t], startup: u.startup[t] };
}

// ------------------------------------------------------------------ 3. marginal price
export function drawPrice(svg, model) {
  const { T, price } = model;
  if (!T) { drawEmpty(svg, "No schedule yet", 200); return; }
  const width = chartWidth(svg);
  const height = 200;
  const m = { l: 50, r: 12, t: 18, b: 26 };
  const lo = Math.min(0, ...price);
  const hiRaw = Math.max(...price);
  const hi = hiRaw > lo ? hiRaw + (hiRaw - lo) * 0.08 : lo + 1;
  const x = (t) => m.l + (t / T) * (width - m.l - m.r);
  const y = (v) => height - m.b - ((v - lo) / (hi - lo)) * (height - m.t - m.b);
  let s = frame({ width, height, m, yLo: lo, yHi: hi, y, xTicks: periodTicks(T, x), yLabel: "EUR/MWh" });
  s += `<path class="line" data-role="price-line" data-points="${T}" d="${stepPath(price, x, y)}" stroke="${PRICE_COLOR}"></path>`;
  s += '<g class="price-points">';
  price.forEach((v, t) => {
    s += `<circle class="price-point" data-t="${t + 1}" data-value="${v}" cx="${r1(x(t + 0.5))}" cy="${r1(y(v))}" r="2.6" fill="${PRICE_COLOR}"><title>Period ${t + 1}: ${fmt2.format(v)} EUR/MWh</title></circle>`;
  });
  s += "</g>";
  put(svg, width, height, s);
}

// ------------------------------------------------------------------ 4. convergence
/** Objective (falling) and lower bound (rising) against elapsed seconds; each holds until the next report. */
export function drawConvergence(svg, history, elapsedNow) {
  const points = (history || []).filter((h) => finite(Number(h.elapsed_s)));
  const objs = points.filter((h) => finite(h.objective));
  const bounds = points.filter((h) => finite(h.lower_bound));
  if (!objs.length && !bounds.length) { drawEmpty(svg, "No progress reported yet", 200); return; }
  const width = chartWidth(svg);
  const height = 200;
  const m = { l: 56, r: 12, t: 18, b: 26 };
  const xMax = Math.max(1e-3, Number(elapsedNow) || 0, ...points.map((h) => Number(h.elapsed_s)));
  const values = [...objs.map((h) => h.objective), ...bounds.map((h) => h.lower_bound)];
  let lo = Math.min(...values), hi = Math.max(...values);
  // early bounds can be far below (even negative): the axis keeps the end game readable and
  // what lies lower is drawn on the bottom edge
  if (objs.length && bounds.length) {
    const lastBound = bounds[bounds.length - 1].lower_bound;
    lo = Math.max(lo, lastBound - 0.5 * Math.max(hi - lastBound, 0));
  }
  if (!(hi > lo)) { const pad = Math.abs(hi) * 0.01 || 1; lo -= pad; hi += pad; }
  const pad = (hi - lo) * 0.06;
  lo -= pad; hi += pad;
  const x = (v) => m.l + (v / xMax) * (width - m.l - m.r);
  const y = (v) => Math.min(height - m.b, Math.max(m.t, height - m.b - ((v - lo) / (hi - lo)) * (height - m.t - m.b)));
  const xt = ticks(0, xMax, 6).map((v) => [x(v), `${compact(v)} s`]);
  let s = frame({ width, height, m, yLo: lo, yHi: hi, y, xTicks: xt, yLabel: "EUR" });
  const holdLine = (pts, key) => {
    let d = "";
    pts.forEach((h, i) => {
      const px = r1(x(Number(h.elapsed_s))), py = r1(y(h[key]));
      d += i === 0 ? `M${px} ${py}` : `H${px}V${py}`;
    });
    return `${d}H${r1(x(xMax))}`;
  };
  if (bounds.length) {
    s += `<path class="line" data-role="bound-line" data-points="${bounds.length}" d="${holdLine(bounds, "lower_bound")}" stroke="${BOUND_COLOR}"><title>Lower bound</title></path>`;
  }
  if (objs.length) {
    s += `<path class="line" data-role="objective-line" data-points="${objs.length}" d="${holdLine(objs, "objective")}" stroke="${OBJECTIVE_COLOR}"><title>Objective (best schedule so far)</title></path>`;
  }
  s += `<g class="conv-legend" transform="translate(${width - m.r - 190} ${m.t - 6})">` +
    `<line x1="0" x2="16" y1="0" y2="0" stroke="${OBJECTIVE_COLOR}"></line><text x="20" y="3.5">Objective</text>` +
    `<line x1="92" x2="108" y1="0" y2="0" stroke="${BOUND_COLOR}"></line><text x="112" y="3.5">Lower bound</text></g>`;
  put(svg, width, height, s);
}
