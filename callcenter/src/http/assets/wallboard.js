"use strict";
const $ = (id) => document.getElementById(id);
const pct = (x) => x == null ? "–" : Math.round(x * 100) + "%";
const secs = (x) => x == null ? "–" : x < 90 ? Math.round(x) + " s" : (x / 60).toFixed(1) + " min";
window.board = null;
let token = Session.stored();

$("loginForm").onsubmit = async (e) => {
  e.preventDefault();
  try { token = await Session.signIn($("username").value, $("password").value); start(); }
  catch (err) { $("loginError").textContent = err.message; }
};

// Supervisors' alerts: poor surveys and escalated complaints, from the task list.
window.alerts = null;
async function loadAlerts() {
  const r = await fetch("/api/v1/agent-tasks?queue=supervisors&limit=20", { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) return;
  const list = await r.json();
  window.alerts = list;
  $("alertCount").textContent = list.length ? `(${list.length}${list.length === 20 ? "+" : ""} open)` : "(none)";
  fill($("alerts").tBodies[0], list.map((t) =>
    h("tr", {}, h("td", {}, new Date(t.created_at).toLocaleString()), h("td", { class: "poor" }, t.summary), h("td", {}, t.customer_id))));
}

async function start() {
  if (!(await Session.admit(token, ["supervisor", "admin"], "the wallboard"))) return;
  $("login").classList.add("hidden"); $("app").classList.remove("hidden");
  loadAlerts(); clearInterval(window.alertTimer); window.alertTimer = setInterval(loadAlerts, 15000);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/wallboard/ws?token=${encodeURIComponent(token)}`);
  ws.onopen = () => ($("conn").textContent = "live");
  ws.onmessage = (ev) => render(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    if (ev.code === Session.SIGNED_OUT) { clearInterval(window.alertTimer); Session.ended("Your session ended. Please sign in again."); return; }
    $("conn").textContent = "reconnecting…"; setTimeout(start, 2000);
  };
}
$("btnSignOut").onclick = () => { clearInterval(window.alertTimer); Session.signOut(token); };

function slClass(sl, target) { if (sl == null) return ""; return sl >= target ? "good" : sl >= target - 0.1 ? "mid" : "poor"; }

function render(b) {
  window.board = b;
  $("clock").textContent = new Date(b.at).toLocaleTimeString();
  const kpi = (cls, v, l) => h("div", { class: "kpi" }, h("div", { class: `v ${cls}` }, v), h("div", { class: "l" }, l));
  fill($("queues"), b.queues.map((q) => {
    const a = q.agents, adv = q.advice;
    const short = adv.agents_needed != null && adv.agents_needed > adv.agents_logged_in;
    return h("div", { class: "card queue", "data-queue": q.name },
      h("h2", {}, q.name, " ", h("span", { class: "muted" }, `· SL goal ${pct(q.sl_target)} in ${Math.round(q.sl_threshold_seconds)} s`)),
      h("div", { class: "kpis" },
        kpi(`waiting ${q.waiting ? "mid" : ""}`, q.waiting, "waiting"),
        kpi("", secs(q.longest_wait_seconds), "longest wait"),
        kpi(slClass(q.service_level, q.sl_target), pct(q.service_level), "service level"),
        kpi("", pct(q.service_level_with_abandons), "SL incl. abandons"),
        kpi("", secs(q.asa_seconds), "ASA"),
        kpi("", secs(q.aht_seconds), "AHT"),
        kpi("answered", q.answered, `answered / ${q.offered} offered`),
        kpi(q.abandon_rate > 0.1 ? "poor" : "", pct(q.abandon_rate), "abandoned"),
        kpi("", pct(q.occupancy), "occupancy")),
      h("div", { class: "muted", style: "margin-top:6px" },
        `Agents: ${a.available} available · ${a.ringing} ringing · ${a.on_call} on call · ${a.wrap_up} wrap-up · ${a.on_break} break · ${a.not_ready} not ready`),
      h("div", { class: `advice ${short ? "poor" : ""}` },
        `Staffing: ${adv.agents_needed ?? "–"} needed (Erlang C, ${adv.arrivals_per_hour.toFixed(0)} calls/h × ${Math.round(adv.aht_seconds)} s) · ${adv.agents_logged_in} logged in`));
  }));
  fill($("agents").tBodies[0], b.agents.length ? b.agents.map((a) => h("tr", {}, h("td", {}, a.name),
    h("td", {}, h("span", { class: `st st-${a.state}` }, a.state.replace("_", " "), a.reason ? " · " + a.reason : "")),
    h("td", {}, secs(a.state_seconds)), h("td", {}, a.calls), h("td", {}, secs(a.talk_seconds)), h("td", {}, a.queue || "")))
    : h("tr", {}, h("td", { class: "muted", colspan: 6 }, "No agent signed in.")));
  chart(b.intervals);
}

function chart(intervals) {
  const per = new Map();
  for (const i of intervals) {
    const k = i.start; const e = per.get(k) || { offered: 0, answered: 0, abandoned: 0 };
    e.offered += i.offered; e.answered += i.answered; e.abandoned += i.abandoned; per.set(k, e);
  }
  const keys = [...per.keys()].sort();
  if (!keys.length) { fill($("chart"), h("div", { class: "muted" }, "No calls yet today.")); return; }
  const W = 900, H = 160, pad = 24, bw = Math.max(4, Math.min(28, (W - pad) / keys.length - 4));
  const max = Math.max(1, ...keys.map((k) => per.get(k).offered));
  const bars = [];
  keys.forEach((k, i) => {
    const e = per.get(k), x = pad + i * (bw + 4);
    const ht = (v) => (v / max) * (H - 30);
    bars.push(svg("rect", { x, y: H - 18 - ht(e.offered), width: bw, height: ht(e.offered), fill: "#26324a" }, svg("title", {}, `${k}: ${e.offered} offered`)));
    bars.push(svg("rect", { x, y: H - 18 - ht(e.answered), width: bw, height: ht(e.answered), fill: "#58a6ff" }));
    bars.push(svg("rect", { x, y: H - 18 - ht(e.answered) - ht(e.abandoned), width: bw, height: ht(e.abandoned), fill: "#f85149" }));
    if (i % 4 === 0) bars.push(svg("text", { x, y: H - 4 }, new Date(k).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
  });
  fill($("chart"), svg("svg", { width: "100%", viewBox: `0 0 ${W} ${H}` }, bars, svg("text", { x: 0, y: 10 }, max)),
    h("div", { class: "muted" }, "grey offered · blue answered · red abandoned"));
}

if (token) start(); else $("login").classList.remove("hidden");
