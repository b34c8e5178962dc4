/* The merit-order chart: one plan as blocks in plain SVG (no chart library, no build step).
 *
 * drawChart(svgElement, wrapperElement, plan, hover) redraws the whole chart for `plan` (the
 * page's normalized plan); `hover` gets the pointer's moves over a block: {move(ev, plant),
 * enter(name), leave()}.
 */
import { TYPE_COLOR, fallbackColor, fmt0, fmt1, fmt2 } from "./monitor-format.js";

const SVG_NS = "http://www.w3.org/2000/svg";
/** The least height of a block, in px: a plant at 0 EUR/MWh (wind) is still a visible block. */
export const MIN_BLOCK_PX = 14;

function svg(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

/** Round step sizes (1, 2, 2.5, 5 x 10^n) so that axes read like a person drew them. */
function niceTicks(max, target) {
  if (!(max > 0)) return { step: 1, ticks: [0, 1], top: 1 };
  const raw = max / Math.max(target, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const top = Math.ceil(max / step - 1e-9) * step;
  const ticks = [];
  for (let v = 0; v <= top + step * 1e-6; v += step) ticks.push(Number(v.toFixed(10)));
  return { step, ticks, top };
}

export function drawChart(chart, chartWrap, plan, hover) {
  const box = chartWrap.getBoundingClientRect();
  const W = Math.max(box.width - 12, 320), H = Math.max(box.height - 6, 220);
  chart.replaceChildren();
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  chart.dataset.planId = plan.id;
  chart.dataset.plants = String(plan.plants.length);

  const m = { top: 34, right: 24, bottom: 44, left: 64 };
  const iw = W - m.left - m.right, ih = H - m.top - m.bottom;
  const capacity = plan.plants.reduce((s, p) => s + p.available, 0);
  const xMax = Math.max(capacity, plan.load, 1);
  const maxCost = Math.max(...plan.plants.map((p) => p.costPerMwh), plan.marginal || 0, 1);
  const xs = niceTicks(xMax, Math.max(3, Math.floor(iw / 90)));
  const ys = niceTicks(maxCost * 1.12, Math.max(3, Math.floor(ih / 55)));
  const x = (v) => m.left + (v / xs.top) * iw;
  const y = (v) => m.top + ih - (v / ys.top) * ih;

  // hatching for "available but not dispatched", one per plant type
  const defs = svg("defs", {}, chart);
  for (const [type, color] of Object.entries({ ...TYPE_COLOR, unknown: fallbackColor })) {
    const pat = svg("pattern", { id: `hatch-${type}`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
    svg("rect", { width: 6, height: 6, fill: "#fff" }, pat);
    svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: color, "stroke-width": 1.6, "stroke-opacity": 0.55 }, pat);
  }
  const clip = svg("clipPath", { id: "plot-clip" }, defs);
  svg("rect", { x: m.left, y: m.top - 30, width: iw + 1, height: ih + 30 }, clip);

  // grid and axes
  const grid = svg("g", { class: "grid" }, chart);
  ys.ticks.forEach((t) => svg("line", { x1: m.left, x2: m.left + iw, y1: y(t), y2: y(t) }, grid));
  const axes = svg("g", { class: "axis" }, chart);
  svg("line", { x1: m.left, x2: m.left + iw, y1: y(0), y2: y(0) }, axes);
  svg("line", { x1: m.left, x2: m.left, y1: m.top, y2: y(0) }, axes);
  xs.ticks.forEach((t) => {
    svg("line", { x1: x(t), x2: x(t), y1: y(0), y2: y(0) + 5 }, axes);
    svg("text", { x: x(t), y: y(0) + 18, "text-anchor": "middle" }, axes).textContent = fmt0.format(t);
  });
  ys.ticks.forEach((t) => {
    svg("line", { x1: m.left - 5, x2: m.left, y1: y(t), y2: y(t) }, axes);
    svg("text", { x: m.left - 9, y: y(t) + 4, "text-anchor": "end" }, axes).textContent = fmt0.format(t);
  });
  svg("text", { class: "axis-title", x: m.left + iw / 2, y: H - 6, "text-anchor": "middle" }, chart)
    .textContent = "Capacity available, in merit order (MW)";
  svg("text", { class: "axis-title", transform: `translate(14 ${m.top + ih / 2}) rotate(-90)`, "text-anchor": "middle" }, chart)
    .textContent = "Cost (EUR/MWh)";

  // the blocks
  const blocks = svg("g", { class: "blocks", "clip-path": "url(#plot-clip)" }, chart);
  const labels = svg("g", { class: "labels" }, chart);
  // Wind costs 0 EUR/MWh: a block of true height would be a hairline on the axis. Every block
  // is at least this tall, so that it can be seen and pointed at.
  const minH = Math.max(MIN_BLOCK_PX, ih * 0.04);
  const candidates = [];  // block labels, placed last so they can make way for the flags
  let cum = 0;
  for (const pl of plan.plants) {
    const color = TYPE_COLOR[pl.type] || fallbackColor;
    const x0 = x(cum), x1 = x(cum + pl.available);
    const top = Math.min(y(pl.costPerMwh), y(0) - minH);
    const h = y(0) - top;
    const g = svg("g", {
      class: "block", "data-plant": pl.name, "data-type": pl.type, "data-p": pl.p,
      "data-available": pl.available, "data-cost-per-mwh": pl.costPerMwh, "data-x0": cum,
    }, blocks);
    const gap = x1 - x0 > 4 ? 0.75 : 0;  // a hairline between neighbours of the same colour
    svg("rect", {
      class: "available", x: x0 + gap, y: top, width: Math.max(x1 - x0 - 2 * gap, 0), height: h,
      fill: `url(#hatch-${TYPE_COLOR[pl.type] ? pl.type : "unknown"})`, stroke: color,
    }, g);
    if (pl.p > 0) {
      svg("rect", {
        class: "dispatched", "data-role": "dispatched", x: x0 + gap, y: top,
        width: Math.max(x(cum + Math.min(pl.p, pl.available)) - x0 - 2 * gap, 0), height: h, fill: color,
      }, g);
    }
    candidates.push({ name: pl.name, cx: (x0 + x1) / 2, width: x1 - x0, top });
    g.addEventListener("mousemove", (ev) => hover.move(ev, pl));
    g.addEventListener("mouseenter", () => hover.enter(pl.name));
    g.addEventListener("mouseleave", () => hover.leave());
    cum += pl.available;
  }

  // the marginal cost
  const occupied = [];  // rectangles already drawn on, that a block label must not cover
  if (plan.marginal !== null) {
    const ym = y(plan.marginal);
    const gm = svg("g", { class: "marginal", "data-role": "marginal-line", "data-marginal": plan.marginal }, chart);
    svg("line", { class: "marginal-line", x1: m.left, x2: m.left + iw, y1: ym, y2: ym }, gm);
    const flag = svg("g", { class: "marginal-flag" }, gm);
    const rect = svg("rect", { height: 18, rx: 4 }, flag);
    const label = svg("text", { x: 7, y: 13 }, flag);
    label.textContent = `Marginal ${fmt2.format(plan.marginal)} EUR/MWh`;
    const tw = label.getComputedTextLength() + 14;
    rect.setAttribute("width", tw);
    // right of the load line, where the marginal plant's block ends: the space above is free there
    const xl = x(plan.load);
    const fx = xl + 10 + tw <= m.left + iw ? xl + 10 : Math.max(xl - 10 - tw, m.left + 4);
    flag.setAttribute("transform", `translate(${fx} ${ym - 24})`);
    occupied.push({ x0: fx, y0: ym - 24, x1: fx + tw, y1: ym - 6 });
  }

  // the load
  const xl = x(plan.load);
  const gl = svg("g", { class: "load", "data-role": "load-line", "data-load": plan.load }, chart);
  svg("line", { class: "load-line", x1: xl, x2: xl, y1: m.top - 8, y2: y(0) }, gl);
  const lflag = svg("g", { class: "load-flag" }, gl);
  const lrect = svg("rect", { height: 20, rx: 5 }, lflag);
  const ltext = svg("text", { y: 14, "text-anchor": "middle" }, lflag);
  ltext.textContent = `Load ${fmt1.format(plan.load)} MW`;
  const lw = ltext.getComputedTextLength() + 16;
  lrect.setAttribute("width", lw);
  ltext.setAttribute("x", lw / 2);
  const lx = Math.min(Math.max(xl - lw / 2, m.left), m.left + iw - lw);
  lflag.setAttribute("transform", `translate(${lx} ${m.top - 30})`);
  occupied.push({ x0: lx, y0: m.top - 30, x1: lx + lw, y1: m.top - 10 });
  if (plan.marginal !== null) {
    svg("circle", { class: "clearing-point", cx: xl, cy: y(plan.marginal), r: 4.5 }, gl);
  }

  placeLabels(labels, candidates, occupied, m.top);
}

/** Name each block above it: flat when it fits, else standing up, else not at all (the
 *  tooltip and the table still name it). A label never covers a flag nor another label. */
function placeLabels(layer, candidates, occupied, plotTop) {
  const clear = (r) => occupied.every((o) => r.x1 <= o.x0 || r.x0 >= o.x1 || r.y1 <= o.y0 || r.y0 >= o.y1);
  for (const c of candidates) {
    const label = svg("text", { class: "block-label", x: c.cx, y: c.top - 6, "text-anchor": "middle" }, layer);
    label.textContent = c.name;
    const len = label.getComputedTextLength();
    const flat = { x0: c.cx - len / 2 - 3, y0: c.top - 18, x1: c.cx + len / 2 + 3, y1: c.top - 2 };
    if (len + 6 <= c.width && clear(flat)) {
      occupied.push(flat);
      continue;
    }
    const room = c.top - plotTop - 4;
    if (c.width < 9 || room < 36) { label.remove(); continue; }
    // standing up above the block, shortened to the room there is
    label.removeAttribute("text-anchor");
    label.setAttribute("x", 0);
    label.setAttribute("y", 0);
    label.setAttribute("transform", `translate(${c.cx + 4} ${c.top - 6}) rotate(-90)`);
    let text = c.name;
    while (label.getComputedTextLength() > room && text.length > 3) {
      text = text.slice(0, -1);
      label.textContent = `${text}…`;
    }
    const up = { x0: c.cx - 7, y0: c.top - 6 - label.getComputedTextLength(), x1: c.cx + 6, y1: c.top - 2 };
    if (clear(up)) occupied.push(up);
    else label.remove();
  }
}
