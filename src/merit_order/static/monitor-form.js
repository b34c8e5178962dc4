/* The page's form: post a payload to /productionplan and say what the service answered.
 *
 * initForm(els, { authHeaders, hasKey, isLive }) wires the form's buttons; the plan itself is
 * drawn by the live feed, like every other plan. Returns { hideResult }.
 */
import { fmt1 } from "./monitor-format.js";

export function initForm(els, { authHeaders, hasKey, isLive }) {
  const example = { text: null };

  async function loadExample() {
    try {
      const res = await fetch(new URL("monitor/example.json", window.location.href), { cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      example.text = JSON.stringify(await res.json(), null, 2);
    } catch (err) {
      example.text = null;
    }
    els.payload.value = example.text || '{\n  "load": 0,\n  "fuels": {},\n  "powerplants": []\n}';
  }

  els.resetButton.addEventListener("click", () => { if (example.text) els.payload.value = example.text; hideResult(); });
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
        const tail = isLive() ? "It is drawn above." : "The live feed is offline: it shows once reconnected.";
        showResult("ok", `${res.status} ${res.statusText || "OK"} · ${n} plants · ${ms} ms`, [tail]);
      } else if (res.status === 401) {
        els.keyRow.hidden = false;
        els.keyInput.focus();
        showResult("error", "401 Unauthorized · this service needs an API key",
          [hasKey() ? "The key given was refused." : "Enter it above, or open this page as /monitor#api_key=<key>."]);
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

  loadExample();
  return { hideResult };
}
