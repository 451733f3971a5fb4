"use strict";
const $ = (id) => document.getElementById(id);
let token = Session.stored();
let board = null, view = null;
// For tests and the console: the board as last loaded.
window.dispatch = { get board() { return board; } };
const colors = ["#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#ad1457", "#4e342e", "#283593"];

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
  return { ok: r.ok, data };
}

// Web Mercator: world pixel coordinates at zoom z.
function project(lat, lon, z) {
  const s = 256 * Math.pow(2, z), r = Math.PI / 180;
  const x = (lon + 180) / 360 * s;
  const y = (1 - Math.log(Math.tan(lat * r) + 1 / Math.cos(lat * r)) / Math.PI) / 2 * s;
  return [x, y];
}

function fit() {
  const pts = [];
  board.stations.forEach((s) => pts.push([s.lat, s.lon]));
  board.orders.forEach((o) => o.lat != null && pts.push([o.lat, o.lon]));
  if (!pts.length) pts.push([51, 10]);
  const w = $("map").clientWidth, h = $("map").clientHeight;
  let z = 16;
  for (; z > 2; z--) {
    const p = pts.map(([a, b]) => project(a, b, z));
    const xs = p.map((q) => q[0]), ys = p.map((q) => q[1]);
    if (Math.max(...xs) - Math.min(...xs) < w - 60 && Math.max(...ys) - Math.min(...ys) < h - 60) {
      view = { z, ox: (Math.max(...xs) + Math.min(...xs)) / 2 - w / 2, oy: (Math.max(...ys) + Math.min(...ys)) / 2 - h / 2 };
      return;
    }
  }
  const p = project(pts[0][0], pts[0][1], z);
  view = { z, ox: p[0] - w / 2, oy: p[1] - h / 2 };
}

function xy(lat, lon) { const p = project(lat, lon, view.z); return [p[0] - view.ox, p[1] - view.oy]; }

// Tiles are decoration: without internet (or without a URL) the map still draws everything else.
function drawTiles() {
  const t = fill($("tiles"));
  if (!board.tiles_url) return;
  const w = $("map").clientWidth, h = $("map").clientHeight, n = Math.pow(2, view.z);
  for (let tx = Math.floor(view.ox / 256); tx * 256 < view.ox + w; tx++) {
    for (let ty = Math.floor(view.oy / 256); ty * 256 < view.oy + h; ty++) {
      if (ty < 0 || ty >= n) continue;
      const img = document.createElement("img");
      img.alt = ""; img.onerror = () => img.remove();
      img.src = board.tiles_url.replace("{z}", view.z).replace("{x}", ((tx % n) + n) % n).replace("{y}", ty);
      img.style.left = (tx * 256 - view.ox) + "px"; img.style.top = (ty * 256 - view.oy) + "px";
      t.appendChild(img);
    }
  }
}

// A map mark with its tooltip (the title is text, never markup).
function mark(tag, attrs, title) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (title) { const t = document.createElementNS("http://www.w3.org/2000/svg", "title"); t.textContent = title; e.appendChild(t); }
  return e;
}

function routes() {
  const by = {};
  board.orders.filter((o) => o.technician_id != null).forEach((o) => (by[o.technician_id] ||= []).push(o));
  for (const k in by) by[k].sort((a, b) => (a.route_seq ?? 1e9) - (b.route_seq ?? 1e9) || String(a.scheduled_for).localeCompare(String(b.scheduled_for)));
  return by;
}

function draw() {
  const o = fill($("overlay"));
  const stations = Object.fromEntries(board.stations.map((s) => [s.id, s]));
  const by = routes();
  board.technicians.forEach((t, i) => {
    const list = by[t.id]; if (!list) return;
    const home = stations[t.station_id];
    const start = t.lat != null ? [t.lat, t.lon] : home ? [home.lat, home.lon] : null;
    const pts = (start ? [start] : []).concat(list.filter((x) => x.lat != null).map((x) => [x.lat, x.lon]));
    if (home) pts.push([home.lat, home.lon]);
    o.appendChild(mark("polyline", { points: pts.map(([a, b]) => xy(a, b).join(",")).join(" "), fill: "none",
      stroke: colors[i % colors.length], "stroke-width": 2, "stroke-opacity": 0.7, "data-route": t.id }));
  });
  board.stations.forEach((s) => { const [x, y] = xy(s.lat, s.lon);
    o.appendChild(mark("rect", { x: x - 5, y: y - 5, width: 10, height: 10, fill: "#1d2733", "data-station": s.id }, s.name)); });
  board.orders.forEach((r) => { if (r.lat == null) return; const [x, y] = xy(r.lat, r.lon);
    o.appendChild(mark("circle", { cx: x, cy: y, r: 4, fill: r.technician_id ? "#2e7d32" : "#b3261e", "data-order": r.id },
      "Order " + r.id + (r.unassigned_reason ? " — " + r.unassigned_reason : ""))); });
  board.technicians.forEach((t) => { if (t.lat == null) return; const [x, y] = xy(t.lat, t.lon);
    o.appendChild(mark("circle", { cx: x, cy: y, r: 5, fill: "#1565c0", stroke: "#fff", "data-tech": t.id }, t.name)); });
}

function lists() {
  const un = board.orders.filter((o) => o.technician_id == null);
  fill($("unassigned"), un.length ? [] : h("p", { class: "muted" }, "None."));
  un.forEach((o) => {
    const d = document.createElement("div"); d.className = "item order"; d.draggable = true; d.dataset.order = o.id;
    fill(d, `#${o.id} ${o.product_line} `, h("div", { class: "reason" }, o.unassigned_reason || "not yet dispatched"));
    d.ondragstart = (e) => e.dataTransfer.setData("text/plain", String(o.id));
    $("unassigned").appendChild(d);
  });
  const by = routes();
  fill($("techs"));
  board.technicians.forEach((t) => {
    const d = document.createElement("div"); d.className = "item tech"; d.dataset.tech = t.id;
    const list = by[t.id] || [];
    fill(d, h("b", {}, t.name), " ", h("span", { class: "muted" }, `station ${t.station_id}`),
      h("div", { class: "muted" }, list.length ? list.map((o) => "#" + o.id + (o.task_status ? " (" + o.task_status + ")" : "")).join(" → ") : "no visits"));
    d.ondragover = (e) => { e.preventDefault(); d.classList.add("drop"); };
    d.ondragleave = () => d.classList.remove("drop");
    d.ondrop = async (e) => {
      e.preventDefault(); d.classList.remove("drop");
      const id = e.dataTransfer.getData("text/plain");
      const r = await api("POST", "/api/v1/repair-orders/" + id + "/assign", { technician_id: t.id });
      $("status").textContent = r.ok ? "Order " + id + " assigned to " + t.name : (r.data.message || "refused");
      load();
    };
    $("techs").appendChild(d);
  });
}

async function load() {
  const r = await api("GET", "/api/v1/dispatch/board");
  if (!r.ok) { $("status").textContent = r.data.message || "cannot load the board"; return; }
  board = r.data;
  // The view (and so the tiles) is fixed once fitted; markers and lists redraw on each change.
  if (!view) { fit(); drawTiles(); }
  draw(); lists();
  $("counts").textContent = board.orders.length + " open orders, " + board.technicians.length + " technicians";
}

function live() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/dispatch/ws?token=" + encodeURIComponent(token));
  ws.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.type === "position" && board) {
      const t = board.technicians.find((x) => x.id === ev.technician_id);
      if (t) { t.lat = ev.lat; t.lon = ev.lon; draw(); }
    } else {
      load();
    }
  };
  ws.onclose = (ev) => {
    if (ev.code === Session.SIGNED_OUT) { Session.ended("Your session ended. Please sign in again."); return; }
    setTimeout(live, 3000);
  };
}

// Plan today: first a preview of what would change, then the dispatcher decides.
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

async function start() {
  if (!(await Session.admit(token, ["agent", "supervisor", "admin"], "dispatch"))) return;
  $("login").classList.add("hidden"); $("app").classList.remove("hidden"); $("plan").classList.remove("hidden");
  load(); live();
}
if (token) start(); else $("login").classList.remove("hidden");
$("btnSignOut").onclick = () => Session.signOut(token);
