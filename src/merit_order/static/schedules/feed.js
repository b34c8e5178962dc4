/* The schedule page's link to the service: REST for the documents, /ws for progress.
 *
 * Every URL is relative to the page (/monitor/schedules): "../schedules/{id}" is /schedules/{id}
 * and "../ws" is /ws, also behind a proxy that mounts the service under a prefix.
 */

// ------------------------------------------------------------------ API key (when API_KEY is set)
// From the page's fragment (#api_key=...: a fragment never reaches a server log) or typed after
// a 401; kept for this tab only, under the same name as /monitor's, so one entry serves both.
const KEY_STORAGE = "merit-order-api-key";
let apiKey = new URLSearchParams(window.location.hash.slice(1)).get("api_key") || sessionStorage.getItem(KEY_STORAGE) || "";
if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);

export function hasKey() { return Boolean(apiKey); }

export function setKey(key) {
  apiKey = key.trim();
  if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey); else sessionStorage.removeItem(KEY_STORAGE);
}

/** An answer the service refused, with its status and its own words. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const apiUrl = (path) => new URL(`..${path}`, window.location.href);

async function request(method, path) {
  const headers = { Accept: "application/json" };
  if (apiKey) headers["X-API-Key"] = apiKey;
  let response;
  try {
    response = await fetch(apiUrl(path), { method, headers, cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "the service cannot be reached");
  }
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const detail = body && body.detail;
    const text = typeof detail === "string" ? detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, text);
  }
  return body;
}

export const listSchedules = (limit = 50) => request("GET", `/schedules?limit=${limit}`);
export const getSchedule = (id) => request("GET", `/schedules/${encodeURIComponent(id)}`);
export const cancelSchedule = (id) => request("DELETE", `/schedules/${encodeURIComponent(id)}`);

// ------------------------------------------------------------------ websocket
/**
 * Keep /ws open: `onSchedule(msg)` for each {"type": "schedule"} message, `onState(state, text)`
 * for "connecting" | "live" | "reconnecting". Every other message type (hello, plan, heartbeat,
 * anything newer) only proves the feed is alive. Reconnects with backoff; no traffic for 2.5
 * heartbeats counts as a dead connection (a browser cannot see protocol pings).
 */
export function connectFeed({ onSchedule, onState }) {
  const live = { ws: null, attempt: 0, timer: 0, watchdog: 0, heartbeatS: 15 };

  const armWatchdog = () => {
    clearTimeout(live.watchdog);
    live.watchdog = setTimeout(() => { if (live.ws) live.ws.close(); }, live.heartbeatS * 2500);
  };

  const scheduleReconnect = () => {
    clearTimeout(live.timer);
    const delay = Math.min(10_000, 500 * 2 ** Math.min(live.attempt, 5));
    live.attempt += 1;
    onState("reconnecting", `Reconnecting in ${Math.round(delay / 1000)} s…`);
    live.timer = setTimeout(connect, delay);
  };

  function connect() {
    clearTimeout(live.timer);
    const url = apiUrl("/ws");
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    if (apiKey) url.searchParams.set("api_key", apiKey);
    onState("connecting", live.attempt ? `Reconnecting… (try ${live.attempt + 1})` : "Connecting…");
    let ws;
    try { ws = new WebSocket(url); } catch { scheduleReconnect(); return; }
    live.ws = ws;
    ws.onopen = () => armWatchdog();
    ws.onmessage = (ev) => {
      armWatchdog();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "hello") {
        live.attempt = 0;
        live.heartbeatS = Number(msg.heartbeat_s) || 15;
        onState("live", "Live");
        armWatchdog();
      } else if (msg.type === "schedule" && typeof msg.id === "string") {
        onSchedule(msg);
      }
    };
    ws.onclose = () => {
      if (live.ws !== ws) return;
      live.ws = null;
      clearTimeout(live.watchdog);
      scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows and reconnects */ };
  }

  connect();
  return {
    /** Reconnect now (e.g. with a new key). */
    restart() {
      live.attempt = 0;
      if (live.ws) { const old = live.ws; live.ws = null; old.close(); }
      connect();
    },
    isLive: () => Boolean(live.ws && live.ws.readyState === WebSocket.OPEN),
  };
}
