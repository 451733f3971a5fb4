"use strict";
const $ = (id) => document.getElementById(id);
const pct = (x) => x == null ? "–" : (x * 100).toFixed(1) + "%";
const num = (x, d = 1) => x == null ? "–" : Number(x).toFixed(d);
const money = (m) => m == null ? "–" : (m / 100).toFixed(2);
let token = Session.stored();
let tab = "call-center";
window.lastReport = null;

const BY = {
  "call-center": [["hour", "hour"], ["quarter", "15 minutes"], ["day", "day"]],
  "service": [["model", "product model"], ["serial_batch", "serial batch"], ["fault_code", "fault code"], ["station", "station"]],
  "stations": [],
  "parts": [["model", "product model"], ["station", "station"]],
  "complaints": [["cause", "cause"], ["station", "station"], ["model", "product model"]],
  "settlements": [],
};
const STATUSES = ["open", "in_progress", "resolved", "closed"];
const CATEGORIES = ["product_quality", "service_attitude", "delay", "parts", "other"];
const words = (s) => String(s).replaceAll("_", " ");

$("loginForm").onsubmit = async (e) => {
  e.preventDefault();
  try { token = await Session.signIn($("username").value, $("password").value); start(); }
  catch (err) { $("loginError").textContent = err.message; }
};

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...(opts.headers || {}) } });
  if (r.status === 401) Session.ended("Your session has ended. Please sign in again.");
  return r;
}

function query(format) {
  const p = new URLSearchParams({ from: $("from").value, to: $("to").value });
  if (BY[tab].length) p.set("by", $("by").value);
  if (format) p.set("format", format);
  return p.toString();
}

function setTab(t) {
  tab = t;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === t);
  fill($("by"), BY[t].map(([v, l]) => h("option", { value: v }, l)));
  $("byLabel").classList.toggle("hidden", !BY[t].length);
  $("csv").classList.toggle("hidden", t === "settlements");
  run();
}

/** Horizontal bars: one per row, `value` scaled to the largest. */
function bars(rows, label, value, fmt) {
  const top = rows.slice(0, 20);
  const max = Math.max(1e-9, ...top.map(value));
  const rowH = 18, w = 720, left = 170;
  const items = top.map((r, i) => {
    const v = value(r), bw = Math.max(1, (w - left - 60) * v / max);
    return [svg("text", { x: left - 6, y: i * rowH + 13, "text-anchor": "end" }, String(label(r)).slice(0, 28)),
      svg("rect", { x: left, y: i * rowH + 3, width: bw, height: rowH - 6, fill: "#2f6fd6" }),
      svg("text", { x: left + bw + 4, y: i * rowH + 13 }, fmt(v))];
  });
  return top.length ? svg("svg", { width: w, height: top.length * rowH + 4, role: "img" }, items) : h("p", { class: "muted" }, "Nothing in this period.");
}

/** Columns over time: one per interval, height by `value`. */
function columns(points, fmtX, value) {
  if (!points.length) return h("p", { class: "muted" }, "No calls in this period.");
  const w = 900, ht = 140, max = Math.max(1, ...points.map(value)), bw = Math.max(2, Math.floor(w / points.length) - 1);
  const cols = points.map((p, i) => { const ph = (ht - 20) * value(p) / max;
    return svg("rect", { x: i * (bw + 1), y: ht - 16 - ph, width: bw, height: ph, fill: "#2f6fd6" }, svg("title", {}, `${fmtX(p)}: ${value(p)}`)); });
  return svg("svg", { width: w, height: ht, role: "img" }, cols, svg("text", { x: 0, y: ht - 2 }, fmtX(points[0])),
    svg("text", { x: w, y: ht - 2, "text-anchor": "end" }, fmtX(points[points.length - 1])));
}

function table(head, rows, cls) {
  return h("table", {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r, i) => h("tr", { class: cls ? cls(i) : "" }, r.map((c) => h("td", {}, c))))));
}

async function run() {
  $("error").textContent = ""; $("extraCard").classList.add("hidden");
  if (tab === "settlements") return settlements();
  const t0 = performance.now();
  const r = await api(`/api/v1/reports/${tab}?${query()}`);
  const data = await r.json();
  $("took").textContent = `${Math.round(performance.now() - t0)} ms`;
  if (!r.ok) { $("error").textContent = `${data.field ? data.field + ": " : ""}${data.message}`; return; }
  window.lastReport = { tab, data };
  if (tab === "call-center") {
    const per = new Map();
    for (const f of data.intervals) per.set(f.interval, (per.get(f.interval) || 0) + f.offered);
    const points = [...per.entries()].map(([at, offered]) => ({ at, offered }));
    $("chartTitle").textContent = `Calls offered per ${$("by").selectedOptions[0].text}`;
    fill($("chart"), columns(points, (p) => new Date(p.at).toLocaleString(), (p) => p.offered));
    $("tableTitle").textContent = "Queues";
    fill($("table"), table(["Queue", "Offered", "Answered", "Abandoned", "Service level", "ASA s", "AHT s", "Abandon rate"],
      data.queues.map((q) => [q.queue, q.offered, q.answered, q.abandoned, pct(q.service_level), num(q.asa_seconds), num(q.aht_seconds), pct(q.abandon_rate)])));
    $("extraCard").classList.remove("hidden"); $("extraTitle").textContent = "Agents";
    fill($("extra"), table(["Agent", "Answered", "Talk min", "AHT s", "ASA s"],
      data.agents.map((a) => [a.agent, a.answered, num(a.talk_seconds / 60), num(a.aht_seconds), num(a.asa_seconds)])));
  } else if (tab === "service") {
    $("chartTitle").textContent = "First-time fix rate (no repeat repair within 30 days)";
    fill($("chart"), bars(data, (r) => r.key || "(none)", (r) => r.first_time_fix_rate ?? 0, pct));
    $("tableTitle").textContent = "Repairs completed";
    fill($("table"), table(["Key", "Repairs", "First-time fix", "Repeats", "Repeat rate", "Surveyed fixed", "Score", "Labour h", "Response h"],
      data.map((r) => [r.key || "(none)", r.repairs, pct(r.first_time_fix_rate), r.repeat_repairs, pct(r.repeat_rate), pct(r.surveyed_fixed_rate), num(r.mean_score, 2), num(r.mean_labour_hours, 2), num(r.mean_response_hours)])));
  } else if (tab === "stations") {
    $("chartTitle").textContent = "Mean survey score";
    fill($("chart"), bars(data, (r) => `${r.rank}. ${r.station}`, (r) => r.mean_score ?? 0, (v) => v.toFixed(2)));
    $("tableTitle").textContent = "Ranking: score, then repeat rate, then response time";
    fill($("table"), table(["Station", "Repairs", "Score", "First-time fix", "Repeat rate", "Response h"],
      data.map((r) => [`${r.rank}. ${r.station}`, r.repairs, num(r.mean_score, 2), pct(r.first_time_fix_rate), pct(r.repeat_rate), num(r.mean_response_hours)])));
  } else if (tab === "complaints") {
    const by = $("by").value;
    $("chartTitle").textContent = by === "cause" ? "Complaints raised" : "Complaints per 100 repairs";
    fill($("chart"), by === "cause" ? bars(data, (r) => words(r.label), (r) => r.complaints, (v) => String(v))
      : bars(data, (r) => r.label, (r) => r.per_100_repairs ?? 0, (v) => v.toFixed(1)));
    $("tableTitle").textContent = "Complaints raised in the period";
    fill($("table"), table(["Key", "Complaints", "Open", "Overdue", "Repairs", "Per 100 repairs"],
      data.map((r) => [by === "cause" ? words(r.label) : r.label, r.complaints, r.open, r.overdue, r.repairs ?? "–", num(r.per_100_repairs)])));
    await complaintList();
  } else if (tab === "parts") {
    $("chartTitle").textContent = "Parts used (warranty and paid)";
    fill($("chart"), bars(data.consumption, (r) => `${r.key} · ${r.sku}`, (r) => r.quantity, (v) => String(v)));
    $("tableTitle").textContent = "Consumption";
    fill($("table"), table(["Key", "SKU", "Part", "Used", "Warranty", "Paid", "Warranty value", "Paid value"],
      data.consumption.map((r) => [r.key, r.sku, r.part, r.quantity, r.warranty_quantity, r.paid_quantity, money(r.warranty_value_minor), money(r.paid_value_minor)])));
    $("extraCard").classList.remove("hidden"); $("extraTitle").textContent = "Stock over the period (breaches in red)";
    const moved = data.stock.filter((s) => s.consumed || s.safety_breach);
    fill($("extra"), table(["Station", "SKU", "Opening", "Closing", "Consumed", "Turnover", "Safety stock"],
      moved.map((s) => [s.station, s.sku, s.opening, s.closing, s.consumed, num(s.turnover, 2), s.safety_stock]), (i) => moved[i].safety_breach ? "breach" : ""));
  }
}

/** The complaint list with its filters, in the card under the report. */
async function complaintList() {
  $("extraCard").classList.remove("hidden"); $("extraTitle").textContent = "Complaint list";
  if (!$("cfStatus")) {
    const [rs, rm] = await Promise.all([api("/api/v1/stations"), api("/api/v1/product-models")]);
    const stations = rs.ok ? await rs.json() : [], models = rm.ok ? await rm.json() : [];
    const any = (label) => h("option", { value: "" }, label);
    fill($("extra"), h("div", { class: "controls" },
      h("label", {}, "Status ", h("select", { id: "cfStatus" }, any("any"), STATUSES.map((s) => h("option", { value: s }, words(s))))),
      h("label", {}, " Category ", h("select", { id: "cfCategory" }, any("any"), CATEGORIES.map((s) => h("option", { value: s }, words(s))))),
      h("label", {}, " Station ", h("select", { id: "cfStation" }, any("any"), stations.map((s) => h("option", { value: s.id }, s.name)))),
      h("label", {}, " Model ", h("select", { id: "cfModel" }, any("any"), models.map((m) => h("option", { value: m.id }, m.name)))),
      h("label", {}, " Owner id ", h("input", { id: "cfOwner", type: "number", min: 1, size: 4 })),
      h("label", {}, " ", h("input", { id: "cfOverdue", type: "checkbox" }), " overdue only"),
      " ", h("button", { id: "cfShow" }, "Show")), h("div", { id: "cfList" }));
    $("cfShow").onclick = complaintRows;
  }
  await complaintRows();
}

async function complaintRows() {
  const p = new URLSearchParams({ limit: "200" });
  for (const [id, key] of [["cfStatus", "status"], ["cfCategory", "category"], ["cfStation", "station_id"], ["cfModel", "model_id"], ["cfOwner", "owner_user_id"]]) {
    if ($(id).value) p.set(key, $(id).value);
  }
  if ($("cfOverdue").checked) p.set("overdue", "true");
  const r = await api(`/api/v1/complaints?${p}`);
  const list = await r.json();
  if (!r.ok) { $("error").textContent = `${list.field ? list.field + ": " : ""}${list.message}`; return; }
  const today = new Date().toISOString().slice(0, 10);
  fill($("cfList"), list.length ? table(["#", "Raised", "Category", "Status", "Due", "Owner", "Complaint"],
    list.map((c) => [c.id, c.created_at.slice(0, 10), words(c.category), words(c.status), c.due_on || "–", c.owner_user_id ?? "–", String(c.description).slice(0, 90)]),
    (i) => ["open", "in_progress"].includes(list[i].status) && list[i].due_on && list[i].due_on < today ? "breach" : "")
    : h("p", { class: "muted" }, "No complaint matches."));
}

async function settlements() {
  const [rs, rl] = await Promise.all([api("/api/v1/stations"), api("/api/v1/settlements?limit=100")]);
  const stations = await rs.json(), list = await rl.json();
  const name = new Map(stations.map((s) => [s.id, s.name]));
  $("chartTitle").textContent = "Draw up a settlement";
  fill($("chart"), h("div", { class: "controls" }, h("label", {}, "Station ", h("select", { id: "stStation" }, stations.map((s) => h("option", { value: s.id }, s.name)))),
    " ", h("button", { class: "primary", id: "stCreate" }, "Draft for the period")));
  $("stCreate").onclick = async () => {
    const r = await api("/api/v1/settlements", { method: "POST", body: JSON.stringify({ station_id: Number($("stStation").value), from: $("from").value, to: $("to").value }) });
    const d = await r.json(); if (!r.ok) { $("error").textContent = `${d.field ? d.field + ": " : ""}${d.message}`; return; } settlements();
  };
  $("tableTitle").textContent = "Settlements";
  fill($("table"), table(["#", "Station", "Period", "Status", "Claims", "Labour", "Parts", "Travel", "Manufacturer owes", ""],
    list.map((s) => [s.id, name.get(s.station_id) || s.station_id, `${s.period.from} – ${s.period.to}`, s.status, s.claims, money(s.labour_minor), money(s.parts_minor), money(s.travel_minor), `${money(s.amount_minor)} ${s.currency}`, ""])));
  const rows = $("table").querySelectorAll("tbody tr");
  list.forEach((s, i) => {
    const cell = rows[i].lastElementChild, b = document.createElement("button");
    b.textContent = s.status === "draft" ? "Approve" : "Export CSV";
    b.onclick = async () => {
      if (s.status === "draft") {
        const r = await api(`/api/v1/settlements/${s.id}/approve`, { method: "POST", body: "{}" });
        const d = await r.json(); if (!r.ok) { $("error").textContent = d.message; return; } settlements();
      } else download(`/api/v1/settlements/${s.id}/export`, `settlement-${s.id}.csv`);
    };
    cell.appendChild(b);
  });
}

async function download(path, name) {
  const r = await api(path);
  if (!r.ok) { $("error").textContent = (await r.json()).message; return; }
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a"); a.href = url; a.download = name; a.click(); URL.revokeObjectURL(url);
}

async function start() {
  if (!(await Session.admit(token, ["supervisor", "admin"], "the reports"))) return;
  $("login").classList.add("hidden"); $("app").classList.remove("hidden");
  const today = new Date().toISOString().slice(0, 10);
  $("to").value = today; $("from").value = new Date(Date.now() - 29 * 864e5).toISOString().slice(0, 10);
  for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => setTab(b.dataset.tab);
  $("run").onclick = run;
  $("csv").onclick = () => download(`/api/v1/reports/${tab}?${query("csv")}`, `${tab}.csv`);
  setTab("call-center");
}

if (token) start(); else $("login").classList.remove("hidden");
