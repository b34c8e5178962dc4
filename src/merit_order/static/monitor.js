/* Merit order live monitor: the page's state and wiring. Native ES modules, no build step, no CDN:
 *
 *   monitor-feed.js    the websocket to /ws (reconnects; one handler per message type)
 *   monitor-chart.js   one plan drawn as a merit-order curve in plain SVG
 *   monitor-form.js    the form that posts a payload to /productionplan
 *   monitor-format.js  number and time formats, the plant types' colours
 *
 * No framework and no chart library on purpose: the service ships as one Python package and
 * the machines it runs on may have no internet. Everything here is vanilla DOM.
 */
import { drawChart } from "./monitor-chart.js";
import { createFeed } from "./monitor-feed.js";
import { initForm } from "./monitor-form.js";
import { TYPE_COLOR, TYPE_LABEL, clock, fallbackColor, fmt0, fmt1, fmt2, num } from "./monitor-format.js";

const MAX_PLANS = 100;

const $ = (id) => document.getElementById(id);
const els = {
  status: $("status"), statusText: $("status-text"), planCount: $("plan-count"),
  kpiLoad: $("kpi-load"), kpiTotal: $("kpi-total"), kpiMarginal: $("kpi-marginal"), kpiCo2: $("kpi-co2"),
  planMeta: $("plan-meta"), chart: $("chart"), chartWrap: $("chart-wrap"), empty: $("chart-empty"),
  tooltip: $("tooltip"), plantsBody: $("plants-body"), recent: $("recent"), follow: $("follow"),
  form: $("post-form"), payload: $("payload"), postButton: $("post-button"),
  resetButton: $("reset-button"), formatButton: $("format-button"), postResult: $("post-result"),
  keyRow: $("key-row"), keyInput: $("api-key"), keyButton: $("key-button"),
};

// ------------------------------------------------------------------ API key (when API_KEY is set)
// From the page's fragment (/monitor#api_key=...: a fragment never reaches a server log) or
// typed after a 401; kept for this tab only. Sent as X-API-Key, and as ?api_key= on /ws
// (a browser cannot set headers on a websocket).
const KEY_STORAGE = "merit-order-api-key";
let apiKey = new URLSearchParams(window.location.hash.slice(1)).get("api_key") || sessionStorage.getItem(KEY_STORAGE) || "";
if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
const authHeaders = () => (apiKey ? { "X-API-Key": apiKey } : {});
els.keyButton.addEventListener("click", () => {
  apiKey = els.keyInput.value.trim();
  if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey); else sessionStorage.removeItem(KEY_STORAGE);
  form.hideResult();
  feed.reconnect();
});

const state = { plans: [], selectedId: null, following: true, received: 0 };

// ------------------------------------------------------------------ plan model
/** One shape for the rest of the page, whatever optional fields a message carries. */
function normalize(msg) {
  const detail = msg.detail || {};
  const response = Array.isArray(msg.response) ? msg.response : [];
  const requested = new Map(((msg.request || {}).powerplants || []).map((p) => [p.name, p]));
  const dispatched = new Map(response.map((r) => [r.name, Number(r.p)]));
  // detail.plan: the service's plan document (one row per plant with its costs and range)
  const rows = [detail.plan, detail.plants, response].find((r) => Array.isArray(r) && r.length) || [];
  const plants = rows.map((row) => {
    const req = requested.get(row.name) || {};
    const p = dispatched.has(row.name) ? dispatched.get(row.name) : Number(row.p || 0);
    const available = Number(row.available ?? row.available_mw ?? req.pmax ?? p);
    const costPerMwh = Number(row.cost_per_mwh ?? row.cost_eur_per_mwh ?? 0);
    return {
      name: row.name,
      type: row.type || req.type || "unknown",
      p,
      available: Math.max(available, 0),
      pmin: Number(row.pmin ?? req.pmin ?? 0),
      costPerMwh,
      cost: Number(row.cost ?? p * costPerMwh),
    };
  });
  const load = Number(detail.load ?? (msg.request || {}).load ?? plants.reduce((s, x) => s + x.p, 0));
  return {
    id: msg.id || `${msg.at}-${Math.random()}`,
    at: msg.at,
    source: msg.source || "sync",
    cached: Boolean(msg.cached),
    replica: msg.replica || "",
    jobId: msg.job_id || null,
    load,
    total: Number(detail.total_cost ?? plants.reduce((s, x) => s + x.cost, 0)),
    marginal: detail.marginal_cost === undefined || detail.marginal_cost === null ? null : Number(detail.marginal_cost),
    co2: detail.co2_tonnes === undefined || detail.co2_tonnes === null ? null : Number(detail.co2_tonnes),
    plants,
  };
}

function addPlan(msg) {
  const plan = normalize(msg);
  state.received += 1;
  state.plans.unshift(plan);
  if (state.plans.length > MAX_PLANS) state.plans.length = MAX_PLANS;
  els.planCount.textContent = `${state.received} plan${state.received === 1 ? "" : "s"}`;
  if (state.following || state.selectedId === null) select(plan.id, { fromLive: true });
  else renderRecent();
}

function select(id, { fromLive = false } = {}) {
  const plan = state.plans.find((p) => p.id === id);
  if (!plan) return;
  state.selectedId = id;
  if (!fromLive) setFollowing(state.plans[0] && state.plans[0].id === id);
  render(plan);
}

function setFollowing(on) {
  state.following = on;
  els.follow.dataset.following = String(on);
  els.follow.textContent = on ? "Following live" : "Paused · show latest";
  els.follow.title = on ? "Each new plan is shown as it arrives" : "Jump to the latest plan and follow new ones";
}

els.follow.addEventListener("click", () => {
  if (state.following) { setFollowing(false); return; }
  setFollowing(true);
  if (state.plans.length) select(state.plans[0].id, { fromLive: true });
});

// ------------------------------------------------------------------ rendering: page
function render(plan) {
  els.kpiLoad.textContent = num(plan.load, fmt1);
  els.kpiTotal.textContent = num(plan.total, fmt2);
  els.kpiMarginal.textContent = plan.marginal === null ? "–" : num(plan.marginal, fmt2);
  els.kpiCo2.textContent = plan.co2 === null ? "–" : num(plan.co2, fmt1);
  els.kpiLoad.dataset.value = String(plan.load);
  els.kpiTotal.dataset.value = String(plan.total);
  els.kpiMarginal.dataset.value = plan.marginal === null ? "" : String(plan.marginal);
  els.kpiCo2.dataset.value = plan.co2 === null ? "" : String(plan.co2);

  const tags = [plan.source === "job" ? "job" : "sync"];
  if (plan.cached) tags.push("cached");
  els.planMeta.replaceChildren(
    document.createTextNode(`${clock(plan.at)} · ${plan.plants.length} plants · ${plan.source === "job" ? "from a job" : "from POST"}`),
    ...(plan.cached ? [tag("cached", "tag-cached")] : []),
    ...(plan.replica ? [document.createTextNode(` · ${plan.replica}`)] : []),
  );
  els.empty.hidden = true;
  draw(plan);
  renderTable(plan);
  renderRecent();
}

function tag(text, cls) {
  const s = document.createElement("span");
  s.className = `tag ${cls || ""}`;
  s.textContent = text;
  return s;
}

function renderTable(plan) {
  const rows = plan.plants.map((pl) => {
    const tr = document.createElement("tr");
    tr.dataset.plant = pl.name;
    if (pl.p <= 0) tr.classList.add("off");
    const share = pl.available > 0 ? Math.min(pl.p / pl.available, 1) : 0;
    const color = TYPE_COLOR[pl.type] || fallbackColor;
    tr.innerHTML = `
      <td class="name"></td>
      <td><span class="type-chip" style="--c:${color}">${TYPE_LABEL[pl.type] || pl.type}</span></td>
      <td class="num">${num(pl.p, fmt1)}</td>
      <td class="num">${num(pl.available, fmt1)}</td>
      <td><div class="use-bar" title="${fmt0.format(share * 100)} % of available"><span style="width:${(share * 100).toFixed(1)}%;background:${color}"></span></div></td>
      <td class="num">${num(pl.costPerMwh, fmt2)}</td>
      <td class="num">${num(pl.cost, fmt2)}</td>`;
    tr.querySelector(".name").textContent = pl.name;  // names come from users: never as HTML
    tr.addEventListener("mouseenter", () => highlight(pl.name));
    tr.addEventListener("mouseleave", () => highlight(null));
    return tr;
  });
  els.plantsBody.replaceChildren(...rows);
}

function renderRecent() {
  if (!state.plans.length) return;
  const items = state.plans.map((plan, i) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "recent-item";
    b.dataset.planId = plan.id;
    b.setAttribute("aria-current", String(plan.id === state.selectedId));
    const time = span("recent-time", clock(plan.at));
    const load = span("recent-load", `${num(plan.load, fmt1)} MW`);
    const cost = span("recent-cost", `${num(plan.total, fmt0)} EUR`);
    const tags = span("recent-tags", "");
    tags.append(tag(plan.source, plan.source === "job" ? "tag-job" : ""));
    if (plan.cached) tags.append(tag("cached", "tag-cached"));
    if (i === 0) tags.append(tag("latest", "tag-new"));
    b.append(time, load, cost, tags);
    b.addEventListener("click", () => select(plan.id));
    li.append(b);
    return li;
  });
  els.recent.replaceChildren(...items);
}

function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function showTooltip(ev, pl) {
  const t = els.tooltip;
  t.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = pl.name;
  const dl = document.createElement("dl");
  const rows = [
    ["Type", TYPE_LABEL[pl.type] || pl.type],
    ["Dispatched", `${num(pl.p, fmt1)} MW`],
    ["Available", `${num(pl.available, fmt1)} MW`],
    ["Pmin", `${num(pl.pmin, fmt1)} MW`],
    ["Cost", `${num(pl.costPerMwh, fmt2)} EUR/MWh`],
    ["This hour", `${num(pl.cost, fmt2)} EUR`],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  }
  t.append(title, dl);
  t.hidden = false;
  const wrap = els.chartWrap.getBoundingClientRect();
  const tw = t.offsetWidth, th = t.offsetHeight;
  let left = ev.clientX - wrap.left + 14, top = ev.clientY - wrap.top + 14;
  if (left + tw > wrap.width) left = ev.clientX - wrap.left - tw - 14;
  if (top + th > wrap.height) top = ev.clientY - wrap.top - th - 14;
  t.style.left = `${Math.max(left, 0)}px`;
  t.style.top = `${Math.max(top, 0)}px`;
}

function hideTooltip() { els.tooltip.hidden = true; }

function highlight(name) {
  els.chart.classList.toggle("dim", name !== null);
  for (const g of els.chart.querySelectorAll(".block")) g.classList.toggle("hl", g.dataset.plant === name);
  for (const tr of els.plantsBody.querySelectorAll("tr")) tr.classList.toggle("hl", tr.dataset.plant === name);
}

let resizeTimer = null;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    const plan = state.plans.find((p) => p.id === state.selectedId);
    if (plan) draw(plan);
  }, 60);
}).observe(els.chartWrap);

/** The chart for `plan`, its blocks telling the tooltip and the table where the pointer is. */
function draw(plan) {
  drawChart(els.chart, els.chartWrap, plan, {
    move: showTooltip,
    enter: highlight,
    leave: () => { hideTooltip(); highlight(null); },
  });
}

// ------------------------------------------------------------------ wiring
function setStatus(stateName, text) {
  els.status.dataset.state = stateName;
  els.statusText.textContent = text;
}

setFollowing(true);
const feed = createFeed({
  apiKey: () => apiKey,
  onStatus: setStatus,
  handlers: { plan: addPlan },  // hello is handled by the feed itself; heartbeats only keep it alive
});
const form = initForm(els, { authHeaders, hasKey: () => Boolean(apiKey), isLive: feed.isOpen });
