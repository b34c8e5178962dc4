/* Merit order live monitor: listens on /ws, draws each plan as a merit-order curve in plain SVG.
 *
 * No framework and no chart library on purpose: the service ships as one Python package with no
 * build step and the machines it runs on may have no internet. Everything here is vanilla DOM.
 */
(() => {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const MAX_PLANS = 100;
  const TYPE_LABEL = { windturbine: "Wind", gasfired: "Gas", turbojet: "Turbojet" };
  const TYPE_COLOR = { windturbine: "#22a06b", gasfired: "#e8833a", turbojet: "#d1434f" };
  const fallbackColor = "#64748b";

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
    hideResult();
    if (live.ws) live.ws.close(); else { clearTimeout(live.timer); live.attempt = 0; connect(); }
  });

  const state = { plans: [], selectedId: null, following: true, received: 0, example: null };

  // ------------------------------------------------------------------ formatting
  const nf = (digits) => new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const fmt0 = nf(0), fmt1 = nf(1), fmt2 = nf(2);
  const num = (v, f = fmt1) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : f.format(v));
  const clock = (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "--:--:--" : d.toLocaleTimeString("en-GB", { hour12: false });
  };

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
    drawChart(plan);
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

  // ------------------------------------------------------------------ rendering: chart
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

  function drawChart(plan) {
    const chart = els.chart;
    const box = els.chartWrap.getBoundingClientRect();
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
    const minH = 5;  // wind costs 0 EUR/MWh: keep a visible sliver
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
      g.addEventListener("mousemove", (ev) => showTooltip(ev, pl));
      g.addEventListener("mouseenter", () => highlight(pl.name));
      g.addEventListener("mouseleave", () => { hideTooltip(); highlight(null); });
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
      if (plan) drawChart(plan);
    }, 60);
  }).observe(els.chartWrap);

  // ------------------------------------------------------------------ live connection
  const live = { ws: null, attempt: 0, timer: null, watchdog: null, heartbeatS: 15, backend: "" };

  function setStatus(stateName, text) {
    els.status.dataset.state = stateName;
    els.statusText.textContent = text;
  }

  function connect() {
    clearTimeout(live.timer);
    const url = new URL("ws", window.location.href);  // relative: /monitor -> /ws, /x/monitor -> /x/ws
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (apiKey) url.searchParams.set("api_key", apiKey);
    setStatus("connecting", live.attempt ? `Reconnecting… (try ${live.attempt + 1})` : "Connecting…");
    let ws;
    try { ws = new WebSocket(url); } catch (err) { scheduleReconnect(); return; }
    live.ws = ws;
    ws.onopen = () => armWatchdog();
    ws.onmessage = (ev) => {
      armWatchdog();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === "hello") {
        live.attempt = 0;
        live.heartbeatS = Number(msg.heartbeat_s) || 15;
        live.backend = msg.backend || "";
        setStatus("live", `Live${live.backend ? ` · ${live.backend}` : ""}`);
        armWatchdog();
      } else if (msg.type === "plan" || (msg.type === undefined && msg.response)) {
        addPlan(msg);
      }
    };
    ws.onclose = (ev) => {
      if (live.ws !== ws) return;
      live.ws = null;
      clearTimeout(live.watchdog);
      scheduleReconnect(ev.code === 1013 ? "server full" : "");
    };
    ws.onerror = () => { /* onclose follows and reconnects */ };
  }

  /** No traffic for 2.5 heartbeats means the connection is dead even if the socket says otherwise. */
  function armWatchdog() {
    clearTimeout(live.watchdog);
    live.watchdog = setTimeout(() => { if (live.ws) live.ws.close(); }, live.heartbeatS * 2500);
  }

  function scheduleReconnect(reason = "") {
    const base = Math.min(500 * 2 ** live.attempt, 10000);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));  // jitter: replicas restart together
    live.attempt += 1;
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setStatus("reconnecting", `Offline${reason ? ` (${reason})` : ""} · retry in ${left}s`);
    };
    tick();
    const countdown = setInterval(tick, 500);
    live.timer = setTimeout(() => { clearInterval(countdown); connect(); }, delay);
  }

  document.addEventListener("visibilitychange", () => {
    // A laptop waking up: do not wait out the backoff.
    if (document.visibilityState === "visible" && !live.ws) { live.attempt = 0; connect(); }
  });

  // ------------------------------------------------------------------ the form
  async function loadExample() {
    try {
      const res = await fetch(new URL("monitor/example.json", window.location.href), { cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      state.example = JSON.stringify(await res.json(), null, 2);
    } catch (err) {
      state.example = null;
    }
    els.payload.value = state.example || '{\n  "load": 0,\n  "fuels": {},\n  "powerplants": []\n}';
  }

  els.resetButton.addEventListener("click", () => { if (state.example) els.payload.value = state.example; hideResult(); });
  els.formatButton.addEventListener("click", () => {
    try { els.payload.value = JSON.stringify(JSON.parse(els.payload.value), null, 2); hideResult(); }
    catch (err) { showResult("error", "This is not valid JSON", [String(err.message || err)]); }
  });
  els.payload.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); els.form.requestSubmit(); }
  });

  function hideResult() { els.postResult.hidden = true; }

  function showResult(kind, title, lines = []) {
    const r = els.postResult;
    r.className = `post-result ${kind}`;
    r.dataset.kind = kind;
    const strong = document.createElement("strong");
    strong.textContent = title;
    r.replaceChildren(strong);
    if (lines.length) {
      const ul = document.createElement("ul");
      for (const line of lines) { const li = document.createElement("li"); li.textContent = line; ul.append(li); }
      r.append(ul);
    }
    r.hidden = false;
    r.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  /** The service's error body `{detail, errors: [{field, plant, message}], nearest_loads}` as lines.
   *  Other shapes (FastAPI's default `detail` list, plain text) are shown as well as they can be. */
  function errorLines(body) {
    if (body === null || body === undefined) return [];
    if (typeof body !== "object") return [String(body)];
    const out = [];
    const problems = Array.isArray(body.errors) ? body.errors : Array.isArray(body.detail) ? body.detail : [];
    // the detail sentence, unless it only repeats the field errors listed below it
    const repeats = problems.some((e) => e && typeof e === "object" && e.message && String(body.detail).includes(e.message));
    if (typeof body.detail === "string" && !repeats) out.push(body.detail);
    for (const e of problems) {
      if (e === null || typeof e !== "object") { out.push(String(e)); continue; }
      const where = e.field || (Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body").join(".") : "");
      const plant = e.plant && !String(where).includes(e.plant) ? ` (${e.plant})` : "";
      const what = e.message || e.msg || JSON.stringify(e);
      out.push(where && where !== "body" ? `${where}${plant}: ${what}` : `${what}`);
    }
    const near = body.nearest_loads;
    if (near && (near.below !== null || near.above !== null)) {
      const parts = [];
      if (near.below !== null && near.below !== undefined) parts.push(`${fmt1.format(near.below)} MW below`);
      if (near.above !== null && near.above !== undefined) parts.push(`${fmt1.format(near.above)} MW above`);
      out.push(`Nearest loads the fleet can meet: ${parts.join(", ")}.`);
    }
    return out;
  }

  els.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let payload;
    try { payload = JSON.parse(els.payload.value); }
    catch (err) { showResult("error", "The payload is not valid JSON", [String(err.message || err)]); return; }
    els.postButton.disabled = true;
    const started = performance.now();
    try {
      const res = await fetch(new URL("productionplan", window.location.href), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders() },
        body: JSON.stringify(payload),
      });
      const ms = Math.round(performance.now() - started);
      let body = null;
      try { body = await res.json(); } catch { body = null; }
      if (res.ok) {
        const n = Array.isArray(body) ? body.length : 0;
        const tail = live.ws ? "It is drawn above." : "The live feed is offline: it shows once reconnected.";
        showResult("ok", `${res.status} ${res.statusText || "OK"} · ${n} plants · ${ms} ms`, [tail]);
      } else if (res.status === 401) {
        els.keyRow.hidden = false;
        els.keyInput.focus();
        showResult("error", "401 Unauthorized · this service needs an API key",
          [apiKey ? "The key given was refused." : "Enter it above, or open this page as /monitor#api_key=<key>."]);
      } else {
        const title = `${res.status} ${res.statusText || ""} · the service refused this payload`.replace("  ", " ");
        const lines = errorLines(body);
        showResult("error", title, lines.length ? lines : ["(no message in the answer)"]);
      }
    } catch (err) {
      showResult("error", "Could not reach the service", [String(err.message || err)]);
    } finally {
      els.postButton.disabled = false;
    }
  });

  setFollowing(true);
  loadExample();
  connect();
})();
