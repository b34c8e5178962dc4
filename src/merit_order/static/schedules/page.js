/* /monitor/schedules: the recent schedules, and the selected one drawn (output by unit, on/off by
 * unit, marginal price, convergence). `?id=` selects one; without it the page follows the newest.
 *
 * Data: GET /schedules on open and GET /schedules/{id} for the selected one; /ws "schedule"
 * messages while they run (progress, extended into the convergence chart); GET again when one
 * ends, for the final schedule. A slow poll of the selected running schedule covers a feed that is
 * down or has dropped a message.
 */
import { ApiError, cancelSchedule, connectFeed, getSchedule, hasKey, listSchedules, setKey } from "./feed.js";
import { cellAt, drawConvergence, drawEmpty, drawOnOff, drawPrice, drawStack, esc, formats, legendHtml, num, scheduleModel } from "./charts.js";

const LIST_LIMIT = 50;
const RUNNING = new Set(["queued", "running"]);
const POLL_LIVE_MS = 5000;
const POLL_OFFLINE_MS = 1500;

const $ = (id) => document.getElementById(id);
const els = {
  status: $("status"), statusText: $("status-text"), recent: $("recent"), refresh: $("refresh"),
  keyRow: $("key-row"), keyInput: $("api-key"), keyButton: $("key-button"), notice: $("notice"),
  badge: $("sched-status"), schedId: $("sched-id"), schedMeta: $("sched-meta"), cancel: $("cancel-button"),
  error: $("sched-error"), objective: $("kpi-objective"), bound: $("kpi-bound"), gap: $("kpi-gap"), time: $("kpi-time"),
  stack: $("stack-chart"), legend: $("stack-legend"), stackMeta: $("stack-meta"), onoff: $("onoff-chart"),
  onoffMeta: $("onoff-meta"), onoffWrap: $("onoff-wrap"), cellTip: $("cell-tip"), price: $("price-chart"), conv: $("conv-chart"), convGap: $("conv-gap"),
};

const state = {
  list: [],            // summaries, newest first: {id, status, created_at, objective, lower_bound, gap}
  selectedId: new URLSearchParams(window.location.search).get("id"),
  explicit: false,     // chosen by ?id= or a click: do not jump to newer schedules
  doc: null,           // the selected schedule's status document
  history: [],         // its progress history, extended by /ws messages
  drawnSchedule: null, // the schedule document the heavy charts were drawn from
  model: null,
  pollTimer: 0,
  convFrame: 0,
};
state.explicit = Boolean(state.selectedId);

// ------------------------------------------------------------------ formatting
const clock = (iso) => {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "–";
  const time = d.toLocaleTimeString("en-GB", { hour12: false });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString("en-GB")} ${time}`;
};
const pct = (gap) => (typeof gap === "number" && Number.isFinite(gap) ? formats.fmt2.format(gap * 100) : "–");
const shortId = (id) => (id.length > 14 ? `${id.slice(0, 8)}…` : id);

// ------------------------------------------------------------------ notices and the API key
function showNotice(text) {
  els.notice.textContent = text;
  els.notice.hidden = !text;
}

function handleError(err, what) {
  if (err instanceof ApiError && err.status === 401) {
    els.keyRow.hidden = false;
    showNotice(hasKey() ? "The API key was refused." : "This service needs an API key: enter it, or open this page with #api_key=<key>.");
  } else {
    showNotice(`${what}: ${err.message}`);
  }
}

els.keyButton.addEventListener("click", () => {
  setKey(els.keyInput.value);
  showNotice("");
  feed.restart();
  loadList();
  if (state.selectedId) refreshSelected();
});

// ------------------------------------------------------------------ the list
function upsertSummary(summary) {
  const i = state.list.findIndex((s) => s.id === summary.id);
  if (i >= 0) { state.list[i] = { ...state.list[i], ...summary }; return false; }
  state.list.unshift(summary);
  state.list.sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || "")));
  if (state.list.length > LIST_LIMIT * 2) state.list.length = LIST_LIMIT * 2;
  return true;
}

function renderList() {
  if (!state.list.length) {
    els.recent.innerHTML = '<li class="recent-empty">No schedule yet. <code>POST /schedules</code> to make one.</li>';
    return;
  }
  els.recent.innerHTML = state.list.map((s) => {
    const selected = s.id === state.selectedId;
    return `<li class="recent-item${selected ? " selected" : ""}" data-id="${esc(s.id)}" data-status="${esc(s.status)}">` +
      `<button type="button" aria-current="${selected}"><span class="dot" aria-hidden="true"></span>` +
      `<span class="ri-main"><span class="ri-id">${esc(shortId(s.id))}</span><span class="ri-status">${esc(s.status)}</span></span>` +
      `<span class="ri-sub"><span>${esc(clock(s.created_at))}</span><span>${num(s.objective, formats.fmt0)} EUR · gap ${pct(s.gap)} %</span></span>` +
      "</button></li>";
  }).join("");
}

els.recent.addEventListener("click", (ev) => {
  const item = ev.target.closest(".recent-item");
  if (!item) return;
  state.explicit = true;
  select(item.dataset.id);
});

async function loadList() {
  try {
    const body = await listSchedules(LIST_LIMIT);
    for (const s of (body && body.schedules) || []) upsertSummary(s);
    renderList();
    if (!state.selectedId && state.list.length) select(state.list[0].id);
    if (!state.selectedId) renderSelected();
  } catch (err) {
    handleError(err, "Could not read the schedules");
    if (!state.list.length) els.recent.innerHTML = '<li class="recent-empty">Not available</li>';
  }
}
els.refresh.addEventListener("click", () => { showNotice(""); loadList(); });

// ------------------------------------------------------------------ the selected schedule
function select(id) {
  if (state.selectedId !== id) {
    state.selectedId = id;
    state.doc = null;
    state.history = [];
    state.drawnSchedule = null;
  }
  const url = new URL(window.location.href);
  url.searchParams.set("id", id);
  window.history.replaceState(null, "", url);
  renderList();
  renderSelected();
  refreshSelected();
}

async function refreshSelected() {
  const id = state.selectedId;
  clearTimeout(state.pollTimer);
  if (!id) return;
  let doc;
  try {
    doc = await getSchedule(id);
  } catch (err) {
    if (id !== state.selectedId) return;
    if (err instanceof ApiError && err.status === 404) {
      state.doc = null;
      renderSelected(`No schedule ${id} (it may have expired)`);
      return;
    }
    handleError(err, "Could not read the schedule");
    state.pollTimer = setTimeout(refreshSelected, POLL_OFFLINE_MS * 2);
    return;
  }
  if (id !== state.selectedId) return;
  // the service's history is the reference; live points newer than its last one are kept
  const served = ((doc.progress || {}).history || []).slice();
  const lastServed = served.length ? Number(served[served.length - 1].elapsed_s) : -Infinity;
  state.history = served.concat(state.history.filter((h) => Number(h.elapsed_s) > lastServed));
  state.doc = doc;
  upsertSummary(summaryOf(doc));
  renderList();
  renderSelected();
  if (RUNNING.has(doc.status)) state.pollTimer = setTimeout(refreshSelected, feed.isLive() ? POLL_LIVE_MS : POLL_OFFLINE_MS);
}

/** (objective - bound) / |objective|, when the service did not say. */
function gapOf(objective, bound) {
  if (typeof objective !== "number" || typeof bound !== "number" || !Number.isFinite(objective) || !Number.isFinite(bound)) return null;
  return Math.max(0, objective - bound) / Math.max(Math.abs(objective), 1e-9);
}

function summaryOf(doc) {
  const progress = doc.progress || {};
  const sched = doc.schedule || {};
  const objective = sched.objective ?? progress.objective ?? null;
  const lowerBound = sched.lower_bound ?? progress.lower_bound ?? null;
  return {
    id: doc.id,
    status: doc.status,
    created_at: doc.created_at,
    objective,
    lower_bound: lowerBound,
    gap: sched.gap ?? progress.gap ?? gapOf(objective, lowerBound),
  };
}

function setKpi(el, value, text) {
  el.dataset.value = typeof value === "number" && Number.isFinite(value) ? String(value) : "";
  el.textContent = text;
}

function renderSelected(message) {
  const doc = state.doc;
  if (!doc) {
    els.badge.dataset.status = "none";
    els.badge.textContent = "–";
    els.schedId.textContent = message || (state.selectedId ? `Loading ${state.selectedId}…` : "No schedule selected");
    els.schedMeta.textContent = "";
    els.cancel.hidden = true;
    els.error.hidden = true;
    for (const el of [els.objective, els.bound, els.gap, els.time]) setKpi(el, null, "–");
    drawCharts(null);
    drawConvergence(els.conv, [], 0);
    els.convGap.textContent = "–";
    return;
  }
  const s = summaryOf(doc);
  const sched = doc.schedule;
  const progress = doc.progress || {};
  els.badge.dataset.status = doc.status;
  els.badge.textContent = doc.status;
  els.schedId.textContent = doc.id;
  const size = doc.size || {};
  const meta = [doc.format, size.thermal_units != null ? `${size.thermal_units} thermal + ${size.renewable_units ?? 0} renewable units` : "",
    size.periods != null ? `${size.periods} periods` : "", doc.created_at ? `created ${clock(doc.created_at)}` : ""].filter(Boolean);
  els.schedMeta.textContent = meta.join(" · ");
  els.cancel.hidden = !RUNNING.has(doc.status);
  els.cancel.disabled = false;
  els.error.hidden = !doc.error;
  els.error.textContent = doc.error || "";
  setKpi(els.objective, s.objective, num(s.objective, formats.fmt0));
  setKpi(els.bound, s.lower_bound, num(s.lower_bound, formats.fmt0));
  setKpi(els.gap, s.gap, pct(s.gap));
  const seconds = sched && typeof sched.solve_seconds === "number" ? sched.solve_seconds : progress.elapsed_s;
  setKpi(els.time, seconds, num(seconds, formats.fmt1));
  drawCharts(doc);
  redrawConvergence();
}

/** The heavy charts, only when the schedule document itself changed (not on every progress message). */
function drawCharts(doc, force = false) {
  const sched = doc && doc.schedule;
  if (!force && sched && sched === state.drawnSchedule) return;
  state.drawnSchedule = sched || null;
  if (!sched) {
    state.model = null;
    const waiting = doc ? (RUNNING.has(doc.status) ? "The schedule appears here when the solve ends" : "No schedule in this job") : "No schedule selected";
    for (const svg of [els.stack, els.onoff, els.price]) {
      drawEmpty(svg, waiting, 80);
      delete svg.dataset.drawn;
    }
    els.legend.innerHTML = "";
    return;
  }
  const model = scheduleModel(sched);
  state.model = model;
  drawStack(els.stack, model, doc.demand, doc.reserve);
  drawOnOff(els.onoff, model);
  drawPrice(els.price, model);
  els.legend.innerHTML = legendHtml(model);
  els.stackMeta.textContent = `${model.units.length} units committed over ${model.T} periods; renewables as one layer`;
  els.onoffMeta.textContent = `${model.units.length} units on at least once; a cell per period on`;
  for (const svg of [els.stack, els.onoff, els.price]) svg.dataset.drawn = doc.id;
}

function redrawConvergence() {
  cancelAnimationFrame(state.convFrame);
  state.convFrame = requestAnimationFrame(() => {
    const doc = state.doc;
    const progress = (doc && doc.progress) || {};
    drawConvergence(els.conv, state.history, Number(progress.elapsed_s) || 0);
    const gap = summaryOf(doc || {}).gap;
    els.convGap.textContent = typeof gap === "number" && Number.isFinite(gap) ? `gap ${pct(gap)} %` : "gap –";
    els.convGap.dataset.value = typeof gap === "number" ? String(gap) : "";
  });
}

els.cancel.addEventListener("click", async () => {
  const id = state.selectedId;
  if (!id) return;
  els.cancel.disabled = true;
  try {
    const doc = await cancelSchedule(id);
    if (id !== state.selectedId || !doc) return;
    state.doc = doc;
    upsertSummary(summaryOf(doc));
    renderList();
    renderSelected();
  } catch (err) {
    els.cancel.disabled = false;
    handleError(err, "Could not cancel");
    if (err instanceof ApiError && err.status === 409) refreshSelected();  // it ended meanwhile
  }
});

// one listener for the whole on/off chart: the cell under the pointer, from its coordinates
els.onoff.addEventListener("mousemove", (ev) => {
  const cell = cellAt(els.onoff, ev.clientX, ev.clientY);
  if (!cell) { els.cellTip.hidden = true; return; }
  const parts = [`period ${cell.period}`, cell.on ? `${formats.fmt1.format(cell.p)} MW` : "off"];
  if (cell.on && cell.reserve) parts.push(`reserve ${formats.fmt1.format(cell.reserve)} MW`);
  if (cell.startup > 0) parts.push(`start-up ${formats.fmt0.format(cell.startup)} EUR`);
  els.cellTip.innerHTML = `<strong>${esc(cell.unit)}</strong> · ${esc(parts.join(" · "))}`;
  els.cellTip.hidden = false;  // shown first: a hidden tooltip has no width to place it by
  const box = els.onoffWrap.getBoundingClientRect();
  const left = Math.min(ev.clientX - box.left + 14, box.width - els.cellTip.offsetWidth - 4);
  els.cellTip.style.left = `${Math.max(4, left)}px`;
  els.cellTip.style.top = `${ev.clientY - box.top + 14}px`;
});
els.onoff.addEventListener("mouseleave", () => { els.cellTip.hidden = true; });

// ------------------------------------------------------------------ live
function onSchedule(msg) {
  const progress = msg.progress || {};
  const isNew = upsertSummary({
    id: msg.id, status: msg.status,
    objective: progress.objective ?? null, lower_bound: progress.lower_bound ?? null,
    gap: progress.gap ?? gapOf(progress.objective, progress.lower_bound),
    ...(state.list.some((s) => s.id === msg.id) ? {} : { created_at: msg.at }),
  });
  renderList();
  if (isNew && !state.explicit) { select(msg.id); return; }
  if (msg.id !== state.selectedId || !state.doc) return;
  const doc = state.doc;
  doc.status = msg.status || doc.status;
  doc.progress = { ...(doc.progress || {}), ...progress };
  const elapsed = Number(progress.elapsed_s);
  const last = state.history[state.history.length - 1];
  if (Number.isFinite(elapsed) && (!last || elapsed > Number(last.elapsed_s)) &&
      (progress.objective != null || progress.lower_bound != null)) {
    state.history.push({ elapsed_s: elapsed, objective: progress.objective ?? null, lower_bound: progress.lower_bound ?? null });
  }
  renderSelected();
  if (!RUNNING.has(doc.status)) refreshSelected();  // ended: read the final schedule
}

function setStatus(name, text) {
  els.status.dataset.state = name;
  els.statusText.textContent = text;
}

const feed = connectFeed({ onSchedule, onState: setStatus });

let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (state.doc) { drawCharts(state.doc, true); redrawConvergence(); } }, 150);
});

renderList();
renderSelected();
if (state.selectedId) select(state.selectedId);
loadList();
