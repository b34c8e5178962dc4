/* Formatting and the colours of the plant types, shared by the monitor's modules. */

export const TYPE_LABEL = { windturbine: "Wind", gasfired: "Gas", turbojet: "Turbojet" };
export const TYPE_COLOR = { windturbine: "#22a06b", gasfired: "#e8833a", turbojet: "#d1434f" };
export const fallbackColor = "#64748b";

const nf = (digits) => new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const fmt0 = nf(0), fmt1 = nf(1), fmt2 = nf(2);
export const num = (v, f = fmt1) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : f.format(v));
export const clock = (iso) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "--:--:--" : d.toLocaleTimeString("en-GB", { hour12: false });
};
