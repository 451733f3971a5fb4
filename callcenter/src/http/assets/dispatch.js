"use strict";
// The dispatcher's page: a Leaflet map (vendored; tiles only when a tile server is configured
// and reachable), order cards with search and filters, and one timeline per technician for the
// chosen day. Orders are dragged onto a technician's timeline (at a time) or name; the server
// checks skill and shift and answers with the reason. Live events change only what changed.
// Text from the server is always set as text (dom.js), never parsed as markup.
const $ = (id) => document.getElementById(id);
let token = Session.stored();
let board = null, lines = null, map = null, layers = null;
const cards = new Map(), orderMarks = new Map(), techMarks = new Map(), rowEls = new Map();
// For tests and the console.
window.dispatch = { get board() { return board; }, get map() { return map; }, get timelines() { return lines; },
  // Where an instant falls on the timelines (pixels from the start of a track).
  xFor: (iso) => xOf(iso) };

const FROM_H = 6, TO_H = 21;

$("loginForm").onsubmit = async (e) => {
  e.preventDefault();
  try { token = await Session.signIn($("user").value, $("pass").value); start(); }
  catch (err) { $("loginError").textContent = err.message; }
};

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) Session.ended("Your session has ended. Please sign in again.");
  return { ok: r.ok, status: r.status, data };
}

// ---------------------------------------------------------------- time at the stations

// The page's wall clock: the chosen station's time zone, else the first station's.
function zone() {
  const s = board && (board.stations.find((x) => String(x.id) === $("fStation").value) || board.stations[0]);
  return (s && s.time_zone) || "UTC";
}
function parts(date, tz) {
  const f = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const p = Object.fromEntries(f.formatToParts(date).map((x) => [x.type, x.value]));
  return { day: `${p.year}-${p.month}-${p.day}`, minutes: Number(p.hour) * 60 + Number(p.minute) };
}
// A wall-clock time (day, minutes after midnight) in `tz` as an instant.
function instant(day, minutes, tz) {
  const [y, m, d] = day.split("-").map(Number);
  let t = Date.UTC(y, m - 1, d, 0, minutes);
  for (let i = 0; i < 2; i++) {
    const p = parts(new Date(t), tz);
    const [py, pm, pd] = p.day.split("-").map(Number);
    const seen = Date.UTC(py, pm - 1, pd, 0, p.minutes);
    t += Date.UTC(y, m - 1, d, 0, minutes) - seen;
  }
  return new Date(t);
}
const hhmm = (m) => String(Math.floor(m / 60)).padStart(2, "0") + ":" + String(Math.round(m % 60)).padStart(2, "0");
const localTime = (iso) => hhmm(parts(new Date(iso), zone()).minutes);
const localDay = (iso) => parts(new Date(iso), zone()).day;
function shiftDay(day, n) { const d = new Date(day + "T12:00:00Z"); d.setUTCDate(d.getUTCDate() + n); return d.toISOString().slice(0, 10); }

// Route colours that stay distinct: hues a golden angle apart.
const colour = (id) => `hsl(${(id * 137.508) % 360}, 62%, 40%)`;

// ---------------------------------------------------------------- filters

function started(o) { return o.status === "in_progress" || ["en_route", "on_site"].includes(o.task_status); }
function late(o) {
  if (!o.due) return false;
  const end = o.scheduled_for ? new Date(o.scheduled_for).getTime() + o.duration_minutes * 60000 : Date.now();
  return end > new Date(o.due).getTime();
}
function shown(o) {
  const q = $("search").value.trim().toLowerCase();
  if (q && ![String(o.id), o.customer, o.address, o.model, o.product_line].some((x) => (x || "").toLowerCase().includes(q))) return false;
  const st = $("fStation").value;
  if (st && String(o.station_id ?? "") !== st && o.technician_id != null) return false;
  if (st && o.technician_id == null && String(o.nearest_station_id ?? "") !== st) return false;
  if ($("fSkill").value && o.product_line !== $("fSkill").value) return false;
  const status = $("fStatus").value;
  if (status === "unassigned" && o.technician_id != null) return false;
  if (status === "assigned" && (o.technician_id == null || started(o))) return false;
  if (status === "started" && !started(o)) return false;
  if ($("fReason").value && o.unassigned_reason !== $("fReason").value) return false;
  if ($("fLate").checked && !late(o)) return false;
  // Assigned orders of other days stay out of the list; unassigned ones are always there.
  if (o.technician_id != null && o.scheduled_for && localDay(o.scheduled_for) !== $("day").value) return false;
  return true;
}
function techShown(t) {
  const st = $("fStation").value, sk = $("fSkill").value;
  return (!st || String(t.station_id) === st) && (!sk || t.skills.some((s) => s.name === sk));
}

function options(sel, values, label) {
  const keep = sel.value;
  fill(sel, h("option", { value: "" }, label), values.map(([v, text]) => h("option", { value: v }, text)));
  sel.value = keep;
}

// ---------------------------------------------------------------- the map

function setupMap() {
  map = L.map("map", { zoomControl: true, preferCanvas: false });
  if (board.tiles_url) {
    // Tiles are decoration: one that cannot be fetched (offline) is hidden; the rest draws.
    L.tileLayer(board.tiles_url, { maxZoom: 18, attribution: "map tiles" })
      .on("tileerror", (e) => { e.tile.style.display = "none"; })
      .addTo(map);
  }
  layers = {
    routes: L.layerGroup().addTo(map),
    stations: L.layerGroup().addTo(map),
    orders: L.markerClusterGroup({ maxClusterRadius: 40, showCoverageOnHover: false }).addTo(map),
    techs: L.layerGroup().addTo(map),
  };
  fitTo(board.stations.map((s) => [s.lat, s.lon]));
}
function fitTo(points) {
  if (!points.length) { map.setView([51, 10], 5); return; }
  map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom: 12 });
}
function dot(cls, color, title) {
  const el = h("span", { class: cls, style: color ? `background:${color}` : null });
  return { icon: L.divIcon({ className: "", html: el, iconSize: null }), title };
}
function drawStations() {
  layers.stations.clearLayers();
  board.stations.forEach((s) => {
    const m = L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "station-mark", iconSize: [10, 10] }), keyboard: false });
    m.bindTooltip(h("span", null, s.name));
    m.addTo(layers.stations);
  });
}
function orderIcon(o) {
  const c = o.technician_id == null ? "#b3261e" : started(o) ? "#1565c0" : colour(o.technician_id);
  return L.divIcon({ className: "", html: h("span", { class: "tech-mark", "data-order": o.id, style: `background:${c};width:10px;height:10px` }), iconSize: null });
}
function drawOrder(o) {
  let m = orderMarks.get(o.id);
  if (o.lat == null || !shown(o)) { if (m) { layers.orders.removeLayer(m); orderMarks.delete(o.id); } return; }
  if (!m) {
    m = L.marker([o.lat, o.lon], { icon: orderIcon(o) });
    m.bindTooltip(h("span", null, `#${o.id} ${o.model || o.product_line} — ${o.customer || ""}`));
    m.on("click", () => select(o.id));
    layers.orders.addLayer(m); orderMarks.set(o.id, m);
  } else {
    m.setLatLng([o.lat, o.lon]); m.setIcon(orderIcon(o));
  }
}
function drawTech(t) {
  let m = techMarks.get(t.id);
  if (t.lat == null || !techShown(t)) { if (m) { layers.techs.removeLayer(m); techMarks.delete(t.id); } return; }
  if (!m) {
    m = L.marker([t.lat, t.lon], { icon: L.divIcon({ className: "", html: h("span", { class: "tech-mark", "data-tech": t.id, style: `background:${colour(t.id)}` }), iconSize: null }), zIndexOffset: 1000 });
    m.bindTooltip(h("span", null, t.name));
    m.addTo(layers.techs); techMarks.set(t.id, m);
  } else m.setLatLng([t.lat, t.lon]);
}
function drawRoutes() {
  layers.routes.clearLayers();
  if (!lines) return;
  const byId = new Map(board.orders.map((o) => [o.id, o]));
  const stations = new Map(board.stations.map((s) => [s.id, s]));
  lines.forEach((r) => {
    const t = board.technicians.find((x) => x.id === r.technician_id);
    if (!t || !techShown(t)) return;
    const home = stations.get(r.station_id);
    const pts = [];
    if (home) pts.push([home.lat, home.lon]);
    r.steps.filter((s) => s.kind === "visit").forEach((s) => { const o = byId.get(s.repair_order_id); if (o && o.lat != null) pts.push([o.lat, o.lon]); });
    if (home) pts.push([home.lat, home.lon]);
    if (pts.length > 2) L.polyline(pts, { color: colour(r.technician_id), weight: 3, opacity: 0.75, className: "route" }).addTo(layers.routes);
  });
}

// ---------------------------------------------------------------- order cards

function card(o) {
  const tech = o.technician_id != null && board.technicians.find((t) => t.id === o.technician_id);
  const when = o.appointment ? `booked ${localDay(o.appointment.from)} ${localTime(o.appointment.from)}–${localTime(o.appointment.to)}`
    : o.scheduled_for ? `planned ${localDay(o.scheduled_for)} ${localTime(o.scheduled_for)}` : "no visit time";
  const prio = o.priority === "urgent" || o.priority === "high" ? h("span", { class: "prio-" + o.priority }, o.priority) : h("span", { class: "muted" }, o.priority);
  const el = h("div", { class: "order" + (o.technician_id != null ? " assigned" : "") + (started(o) ? " started" : ""), draggable: "true", "data-order": o.id },
    h("div", { class: "line1" }, h("b", null, `#${o.id} ${o.model || o.product_line}`), prio),
    h("div", null, o.customer || "", h("span", { class: "muted" }, " · " + (o.address || "no address"))),
    h("div", { class: "muted" }, `${o.product_line} · ${o.duration_minutes} min · ${when}`),
    h("div", { class: late(o) ? "late" : "muted" }, (late(o) ? "late: " : "") + (o.due ? `SLA due ${localDay(o.due)} ${localTime(o.due)}` : "")),
    o.technician_id == null ? h("div", { class: "reason" }, o.unassigned_reason || "not yet dispatched")
      : h("div", { class: "muted" }, "with " + (tech ? tech.name : "#" + o.technician_id) + (o.task_status ? ` (${o.task_status})` : "")));
  el.ondragstart = (e) => { e.dataTransfer.setData("text/plain", String(o.id)); e.dataTransfer.effectAllowed = "move"; };
  el.onclick = () => select(o.id);
  return el;
}
function select(id) {
  document.querySelectorAll(".order.selected").forEach((e) => e.classList.remove("selected"));
  const el = cards.get(id);
  if (el) { el.classList.add("selected"); el.scrollIntoView({ block: "nearest" }); }
  const m = orderMarks.get(id);
  if (m) layers.orders.zoomToShowLayer(m, () => m.openTooltip());
}
// Cards are kept per order and replaced only when the order changed.
function renderCard(o) {
  const sig = JSON.stringify(o) + $("day").value;
  const old = cards.get(o.id);
  if (old && old.dataset.sig === sig) return old;
  const el = card(o); el.dataset.sig = sig;
  if (old) old.replaceWith(el);
  cards.set(o.id, el);
  return el;
}
function renderCards() {
  const list = board.orders.filter(shown).sort((a, b) =>
    (a.technician_id == null ? 0 : 1) - (b.technician_id == null ? 0 : 1) || String(a.due).localeCompare(String(b.due)));
  const box = $("orders");
  const want = new Set(list.map((o) => o.id));
  for (const [id, el] of cards) if (!want.has(id)) { el.remove(); cards.delete(id); }
  list.slice(0, 300).forEach((o, i) => { const el = renderCard(o); if (box.children[i] !== el) box.insertBefore(el, box.children[i] || null); });
  while (box.children.length > Math.min(list.length, 300)) box.lastChild.remove();
  $("orderCount").textContent = `${list.length} shown` + (list.length > 300 ? " (first 300)" : "");
}

// ---------------------------------------------------------------- timelines

const px = () => ($("rows").clientWidth - 180) / ((TO_H - FROM_H) * 60);
const xOf = (iso) => (parts(new Date(iso), zone()).minutes - FROM_H * 60) * px();
function block(cls, fromIso, toIso, attrs, ...children) {
  const x = Math.max(0, xOf(fromIso)), w = Math.max(2, xOf(toIso) - xOf(fromIso));
  return h("div", Object.assign({ class: cls, style: `left:${x}px;width:${w}px` }, attrs || {}), ...children);
}
function row(r) {
  const t = board.technicians.find((x) => x.id === r.technician_id);
  const byId = new Map(board.orders.map((o) => [o.id, o]));
  const track = h("div", { class: "track" },
    r.shifts.map((s) => block("shift", s.from, s.to)),
    r.steps.map((s) => {
      if (s.kind === "travel") return block("travel", s.from, s.to, { title: "travel " + localTime(s.from) + "–" + localTime(s.to) });
      if (s.kind === "break") return block("break", s.from, s.to, { title: "break " + localTime(s.from) + "–" + localTime(s.to) });
      const o = byId.get(s.repair_order_id);
      const label = `#${s.repair_order_id} ${o ? o.customer || "" : ""}`;
      return [
        block("visit" + (s.late ? " late" : ""), s.from, s.to, { "data-order": s.repair_order_id,
          title: `${label} ${localTime(s.from)}–${localTime(s.to)}${s.late ? " (late for its SLA)" : ""}` }, label),
        s.window ? block("window", s.window.from, s.window.to, { title: "booked window" }) : null,
      ];
    }).flat());
  // Visits take the technician's colour (set after creation: style attributes stay text).
  track.querySelectorAll(".visit").forEach((v) => { v.style.background = colour(r.technician_id); });
  const el = h("div", { class: "row", "data-tech": r.technician_id },
    h("div", { class: "who", "data-tech": r.technician_id, title: t ? t.skills.map((s) => s.name + " " + s.level).join(", ") : "" },
      h("span", { class: "swatch", style: `background:${colour(r.technician_id)}` }), t ? t.name : "#" + r.technician_id),
    track);
  el.ondragover = (e) => { e.preventDefault(); el.classList.add("drop"); };
  el.ondragleave = () => el.classList.remove("drop");
  el.ondrop = async (e) => {
    e.preventDefault(); el.classList.remove("drop");
    const id = Number(e.dataTransfer.getData("text/plain"));
    const box = track.getBoundingClientRect();
    let body = { technician_id: r.technician_id };
    if (e.clientX >= box.left) {
      const minutes = Math.round(((e.clientX - box.left) / px() + FROM_H * 60) / 15) * 15;
      body.scheduled_for = instant($("day").value, minutes, zone()).toISOString();
    }
    await assign(id, body, t ? t.name : "#" + r.technician_id);
  };
  return el;
}
async function assign(id, body, who) {
  $("status").textContent = "assigning…";
  const r = await api("POST", "/api/v1/repair-orders/" + id + "/assign", body);
  $("status").textContent = r.ok
    ? `Order ${id} assigned to ${who}` + (r.data.scheduled_for ? ` for ${localDay(r.data.scheduled_for)} ${localTime(r.data.scheduled_for)}` : "")
    : `Order ${id} not assigned: ${r.data.message || "refused"}`;
  if (r.ok) { patchOrder(r.data); await loadTimelines(); }
}
function renderRuler() {
  const marks = [];
  for (let hr = FROM_H; hr <= TO_H; hr++) marks.push(h("span", { style: `left:${(hr - FROM_H) * 60 * px()}px` }, hhmm(hr * 60)));
  fill($("ruler"), marks, h("span", { style: "left:-176px", class: "muted" }, `${$("day").value} (${zone()})`));
}
function renderRows() {
  renderRuler();
  const box = $("rows");
  // Every technician shown has a row; those off that day (no shift) come last, empty.
  const byTech = new Map((lines || []).map((r) => [r.technician_id, r]));
  const list = board.technicians.filter(techShown)
    .map((t) => byTech.get(t.id) || { technician_id: t.id, station_id: t.station_id, shifts: [], steps: [] })
    .sort((a, b) => (b.shifts.length > 0) - (a.shifts.length > 0));
  const want = new Set(list.map((r) => r.technician_id));
  for (const [id, el] of rowEls) if (!want.has(id)) { el.remove(); rowEls.delete(id); }
  list.forEach((r, i) => {
    const sig = JSON.stringify(r) + zone() + box.clientWidth;
    let el = rowEls.get(r.technician_id);
    if (!el || el.dataset.sig !== sig) {
      const fresh = row(r); fresh.dataset.sig = sig;
      if (el) el.replaceWith(fresh);
      el = fresh; rowEls.set(r.technician_id, el);
    }
    if (box.children[i] !== el) box.insertBefore(el, box.children[i] || null);
  });
  const today = parts(new Date(), zone());
  box.querySelectorAll(".now").forEach((n) => n.remove());
  if (today.day === $("day").value) {
    box.querySelectorAll(".track").forEach((tr) => tr.appendChild(h("div", { class: "now", style: `left:${(today.minutes - FROM_H * 60) * px()}px` })));
  }
}

// ---------------------------------------------------------------- loading and live updates

function refreshFilters() {
  options($("fStation"), board.stations.map((s) => [String(s.id), s.name]), "All stations");
  const skills = [...new Set(board.orders.map((o) => o.product_line).concat(board.technicians.flatMap((t) => t.skills.map((s) => s.name))))].sort();
  options($("fSkill"), skills.map((s) => [s, s]), "All skills");
  const reasons = [...new Set(board.orders.map((o) => o.unassigned_reason).filter(Boolean))].sort();
  options($("fReason"), reasons.map((r) => [r, r.replaceAll("_", " ")]), "Any reason");
}
function renderAll() {
  board.orders.forEach(drawOrder);
  for (const id of [...orderMarks.keys()]) if (!board.orders.some((o) => o.id === id)) { layers.orders.removeLayer(orderMarks.get(id)); orderMarks.delete(id); }
  board.technicians.forEach(drawTech);
  drawRoutes(); renderCards(); renderRows();
  const un = board.orders.filter((o) => o.technician_id == null).length;
  $("counts").textContent = `${board.orders.length} open orders (${un} unassigned) · ${board.technicians.length} technicians`;
}
async function load() {
  const r = await api("GET", "/api/v1/dispatch/board");
  if (!r.ok) { $("status").textContent = r.data.message || "cannot load the board"; return; }
  board = r.data;
  if (!map) { setupMap(); drawStations(); }
  refreshFilters();
  await loadTimelines(false);
  renderAll();
}
async function loadTimelines(render = true) {
  const r = await api("GET", "/api/v1/dispatch/timelines?date=" + $("day").value);
  lines = r.ok ? r.data : [];
  if (render) { drawRoutes(); renderRows(); }
}
// One order changed: its card, its mark and the counts; the timelines reload.
function patchOrder(ro) {
  const o = board.orders.find((x) => x.id === ro.id);
  if (!o) return;
  Object.assign(o, { technician_id: ro.technician_id, station_id: ro.station_id, status: ro.status, task_status: ro.task_status,
    scheduled_for: ro.scheduled_for, route_seq: ro.route_seq, unassigned_reason: ro.unassigned_reason, appointment: ro.appointment });
  drawOrder(o); renderCards();
}

function live() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/dispatch/ws?token=" + encodeURIComponent(token));
  let pending = null;
  ws.onopen = () => { window.dispatch.live = true; };
  const soon = (fn) => { clearTimeout(pending); pending = setTimeout(fn, 300); };
  ws.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (!board) return;
    if (ev.type === "position") {
      const t = board.technicians.find((x) => x.id === ev.technician_id);
      if (t) { t.lat = ev.lat; t.lon = ev.lon; drawTech(t); }
    } else if (ev.type === "dispatch") {
      const o = board.orders.find((x) => x.id === ev.repair_order_id);
      if (o) { o.technician_id = ev.technician_id; o.unassigned_reason = ev.unassigned_reason; drawOrder(o); renderCards(); }
      else soon(load);
      soon(() => loadTimelines());
    } else if (ev.type === "task") {
      const o = board.orders.find((x) => x.id === ev.repair_order_id);
      if (o) { o.task_status = ev.status; drawOrder(o); renderCards(); }
    } else if (ev.type === "planned" || ev.type === "resync") {
      soon(load);
    }
  };
  ws.onclose = (ev) => {
    window.dispatch.live = false;
    if (ev.code === Session.SIGNED_OUT) { Session.ended("Your session ended. Please sign in again."); return; }
    setTimeout(live, 3000);
  };
}

// ---------------------------------------------------------------- Plan today

function summary(p) {
  const routes = p.days.reduce((n, d) => n + d.routes.length, 0);
  const why = (w) => p.moved.filter((m) => m.why === w).length;
  const days = p.days.map((d) => d.date).join(", ") || "no working day";
  return [
    "Days: " + days + ". " + routes + " routes; " + p.newly_assigned + " orders newly assigned.",
    "Moved: " + p.moved.length + " (" + why("rolled") + " to a later day, " + why("taken_over") + " to another technician, " +
      why("left_out") + " left out). Unassigned: " + p.unassigned.length + ".",
  ];
}
$("plan").onclick = async () => {
  $("status").textContent = "planning…";
  const r = await api("POST", "/api/v1/dispatch/plan", { preview: true });
  if (!r.ok) { $("status").textContent = r.data.message || "refused"; return; }
  $("status").textContent = "";
  fill($("planText"), summary(r.data).map((line) => h("p", null, line)));
  $("confirm").classList.remove("hidden");
};
$("planCancel").onclick = () => $("confirm").classList.add("hidden");
$("planApply").onclick = async () => {
  $("confirm").classList.add("hidden");
  $("status").textContent = "applying…";
  const r = await api("POST", "/api/v1/dispatch/plan", {});
  $("status").textContent = r.ok ? "Planned. " + summary(r.data).join(" ") : (r.data.message || "refused");
  load();
};

// ---------------------------------------------------------------- controls

$("day").onchange = () => { renderCards(); loadTimelines(); };
$("dayPrev").onclick = () => { $("day").value = shiftDay($("day").value, -1); $("day").onchange(); };
$("dayNext").onclick = () => { $("day").value = shiftDay($("day").value, 1); $("day").onchange(); };
["search", "fSkill", "fStatus", "fReason", "fLate"].forEach((id) => { $(id).oninput = () => renderAll(); });
$("fStation").oninput = () => {
  renderAll();
  const st = $("fStation").value;
  if (!st) { fitTo(board.stations.map((s) => [s.lat, s.lon])); return; }
  // Fit to the station's region: the station, its technicians and the orders shown.
  const pts = board.stations.filter((s) => String(s.id) === st).map((s) => [s.lat, s.lon])
    .concat(board.orders.filter((o) => o.lat != null && shown(o)).map((o) => [o.lat, o.lon]));
  fitTo(pts);
};
window.addEventListener("resize", () => { if (board) renderRows(); });

async function start() {
  if (!(await Session.admit(token, ["agent", "supervisor", "admin"], "dispatch"))) return;
  $("login").classList.add("hidden"); $("app").classList.remove("hidden"); $("plan").classList.remove("hidden");
  $("day").value = parts(new Date(), "Europe/Berlin").day;
  await load();
  $("day").value = parts(new Date(), zone()).day;
  renderCards(); await loadTimelines();
  live();
}
if (token) start(); else $("login").classList.remove("hidden");
$("btnSignOut").onclick = () => Session.signOut(token);
