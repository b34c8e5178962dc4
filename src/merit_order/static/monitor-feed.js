/* The live feed: one websocket to /ws, kept open (reconnects with backoff, a watchdog on quiet).
 *
 * createFeed({ apiKey, onStatus, handlers }) connects at once and returns { isOpen, reconnect }.
 * `handlers` maps a message `type` to its handler: hello, plan (and, later, any new type the
 * service sends, e.g. a schedule's progress); a type without a handler is ignored. The service
 * sends the last few plans right after the hello, so a page opened late is not blank.
 */

export function createFeed({ apiKey, onStatus, handlers }) {
  const live = { ws: null, attempt: 0, timer: null, countdown: null, watchdog: null, heartbeatS: 15, backend: "" };

  function connect() {
    clearTimeout(live.timer);
    clearInterval(live.countdown);  // a reconnect cut short (a new key) must not keep saying "Offline"
    const url = new URL("ws", window.location.href);  // relative: /monitor -> /ws, /x/monitor -> /x/ws
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const key = apiKey();
    if (key) url.searchParams.set("api_key", key);
    onStatus("connecting", live.attempt ? `Reconnecting… (try ${live.attempt + 1})` : "Connecting…");
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
        onStatus("live", `Live${live.backend ? ` · ${live.backend}` : ""}`);
        armWatchdog();
      }
      const handle = handlers[msg.type];
      if (handle) handle(msg);
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
      onStatus("reconnecting", `Offline${reason ? ` (${reason})` : ""} · retry in ${left}s`);
    };
    tick();
    clearInterval(live.countdown);
    live.countdown = setInterval(tick, 500);
    live.timer = setTimeout(connect, delay);
  }

  document.addEventListener("visibilitychange", () => {
    // A laptop waking up: do not wait out the backoff.
    if (document.visibilityState === "visible" && !live.ws) { live.attempt = 0; connect(); }
  });

  connect();
  return {
    isOpen: () => live.ws !== null,
    /** Start again now (a new API key): close the socket, or cut the backoff short. */
    reconnect() {
      if (live.ws) live.ws.close(); else { clearTimeout(live.timer); live.attempt = 0; connect(); }
    },
  };
}
