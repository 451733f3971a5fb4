"use strict";
// The manufacturer's claims desk: review claims line by line (approve, cut, reject), ask for old
// parts back and book them in, draw up settlements, and keep the standard-time catalogue.
let me = null, tab = "queue", stations = new Map(), picked = null;
const REJECT = ["not_covered", "not_performed", "no_evidence", "wrong_part", "duplicate", "part_not_returned", "other"];

function show(t) { tab = t; ({ queue, returns, settlements, times })[t](); }

async function claimList(title, query, empty) {
  const list = await (await Net.api(`/api/v1/claims?${query}`)).json();
  $("listTitle").textContent = `${title} (${list.length})`;
  fill($("list"), list.length ? Net.table(["Claim", "Station", "Completed", "Status", "Claimed", "Approved", "Checks"], list.map((c) => [c.id,
    stations.get(c.station_id) || c.station_id, c.completed_on, Net.status(c.status), Net.money(c.claimed_minor), Net.money(c.approved_minor),
    h("span", { class: "flags" }, c.flags.map((f) => Net.badge(f, "warn")))]), { num: ["Claimed", "Approved"], pick: (i) => detail(list[i].id) })
    : h("p", { class: "muted" }, empty));
  if (picked) detail(picked); else { $("sideTitle").textContent = "Claim"; fill($("side"), h("p", { class: "muted" }, "Pick a claim.")); }
}

async function queue() {
  const parts = await Promise.all(["appealed", "submitted", "in_review"].map((s) => Net.api(`/api/v1/claims?status=${s}&limit=200`).then((r) => r.json())));
  const list = parts.flat();
  $("listTitle").textContent = `To review (${list.length})`;
  fill($("list"), list.length ? Net.table(["Claim", "Station", "Completed", "Status", "Claimed", "Checks"], list.map((c) => [c.id, stations.get(c.station_id) || c.station_id,
    c.completed_on, Net.status(c.status), Net.money(c.claimed_minor), h("span", { class: "flags" }, c.flags.map((f) => Net.badge(f, "warn")))]),
    { num: ["Claimed"], pick: (i) => detail(list[i].id) }) : h("p", { class: "muted" }, "Nothing waits for review."));
  if (picked) detail(picked); else { $("sideTitle").textContent = "Claim"; fill($("side"), h("p", { class: "muted" }, "Pick a claim.")); }
}

async function returns() {
  await claimList("Old parts asked back", "return_status=shipped&limit=200", "No old part is on its way.");
}

async function detail(id) {
  picked = id;
  const r = await Net.api(`/api/v1/claims/${id}`);
  if (!r.ok) { $("error").textContent = (await r.json()).message; return; }
  const c = await r.json(), e = c.evidence;
  $("sideTitle").textContent = `Claim ${c.id} — ${stations.get(c.station_id) || "station " + c.station_id}`;
  const lines = c.lines.map((l) => [h("div", {}, l.description, l.appealed ? h("div", {}, Net.badge("appealed", "warn")) : null,
    h("div", { class: "flags" }, l.flags.map((f) => Net.badge(f, "warn")))), Net.money(l.claimed_minor), Net.status(l.decision), Net.money(l.approved_minor), actions(c, l)]);
  fill($("side"), h("dl", {},
    h("dt", {}, "Order"), h("dd", {}, `${c.repair_order_id}, completed ${c.completed_on}, fault ${c.fault_code || "–"}`),
    h("dt", {}, "Checks"), h("dd", { class: "flags" }, c.flags.length ? c.flags.map((f) => Net.badge(f, "warn")) : "none"),
    h("dt", {}, "Diagnosis"), h("dd", {}, e.diagnosis || "–"), h("dt", {}, "Work done"), h("dd", {}, e.work_done || "–"),
    h("dt", {}, "Reported"), h("dd", {}, `${e.labour_hours_reported} h, ${e.photos} photos, signed by ${e.signed_by || "nobody"}`),
    h("dt", {}, "Check-in"), h("dd", {}, e.check_in_distance_m == null ? "–" : `${Math.round(e.check_in_distance_m)} m from the customer`),
    h("dt", {}, "Travel"), h("dd", {}, e.travel_km == null ? "–" : `${e.travel_km} km`), h("dt", {}, "Survey"), h("dd", {}, e.survey_score ?? "–"),
    c.appeal ? [h("dt", {}, "Appeal"), h("dd", {}, c.appeal)] : null,
    h("dt", {}, "Total"), h("dd", {}, `${Net.money(c.approved_minor, c.currency)} of ${Net.money(c.claimed_minor, c.currency)}`)),
    Net.table(["Line", "Claimed", "Decision", "Pays", ""], lines, { num: ["Claimed", "Pays"] }));
}

function actions(c, l) {
  if (c.status === "settled") return "";
  const step = (status) => h("button", { "data-return": `${l.id}:${status}`, onclick: () => ret(c.id, l.id, { status }) }, { requested: "Ask for the part", received: "Received", inspected: "Inspected" }[status]);
  const out = [];
  if (l.kind === "part" && !l.return_status && l.decision === "pending") out.push(step("requested"));
  if (l.return_status === "shipped") out.push(step("received"));
  if (l.return_status === "received") out.push(step("inspected"));
  if (l.return_status && l.return_status !== "inspected") out.push(Net.badge(`part ${l.return_status}`, "warn"));
  if (l.decision !== "pending") return h("span", {}, out, l.reason || l.reject_code || "");
  // A line waiting for its old part is decided once the part is inspected.
  if (l.return_status && l.return_status !== "inspected") return h("span", {}, out, h("div", { class: "muted" }, "decided after inspection"));
  const amount = h("input", { id: `amount${l.id}`, type: "number", min: 0.01, step: 0.01, placeholder: "pay", size: 6 });
  const why = h("input", { id: `why${l.id}`, placeholder: "reason", size: 12 });
  const code = h("select", { id: `code${l.id}` }, REJECT.map((r) => h("option", { value: r }, r.replaceAll("_", " "))));
  out.push(h("div", {}, h("button", { class: "primary", "data-approve": l.id, onclick: () => review(c.id, l.id, { decision: "approve" }) }, "Approve")),
    h("div", {}, amount, why, h("button", { "data-cut": l.id, onclick: () => review(c.id, l.id, { decision: "cut", amount_minor: Math.round(Number(amount.value) * 100), reason: why.value }) }, "Cut")),
    h("div", {}, code, h("button", { class: "danger", "data-reject": l.id, onclick: () => review(c.id, l.id, why.value ? { decision: "reject", code: code.value, reason: why.value } : { decision: "reject", code: code.value }) }, "Reject")));
  return h("div", {}, out);
}

async function review(claim, line, body) {
  if (await Net.send("POST", `/api/v1/claims/${claim}/lines/${line}/review`, body)) { $("done").textContent = `Line ${body.decision === "approve" ? "approved" : body.decision === "cut" ? "cut" : "rejected"}.`; show(tab); }
}

async function ret(claim, line, body) {
  if (await Net.send("POST", `/api/v1/claims/${claim}/lines/${line}/return`, body)) { $("done").textContent = `Old part: ${body.status}.`; show(tab); }
}

async function settlements() {
  const list = await (await Net.api("/api/v1/settlements?limit=100")).json();
  $("listTitle").textContent = "Settlements";
  const today = new Date().toISOString().slice(0, 10), first = today.slice(0, 8) + "01";
  const st = h("select", { id: "stStation" }, [...stations].map(([id, name]) => h("option", { value: id }, name)));
  const from = h("input", { id: "stFrom", type: "date", value: first }), to = h("input", { id: "stTo", type: "date", value: today });
  fill($("list"), h("div", { class: "controls" }, h("label", {}, "Station", st), h("label", {}, "From", from), h("label", {}, "To", to),
    h("button", { class: "primary", id: "stDraft", onclick: async () => {
      const s = await Net.send("POST", "/api/v1/settlements", { station_id: Number(st.value), from: from.value, to: to.value });
      if (s) { $("done").textContent = `Settlement ${s.id} drawn up: ${Net.money(s.amount_minor, s.currency)}.`; settlements(); }
    } }, "Draw up")),
    Net.table(["#", "Station", "Period", "Status", "Claims", "Claimed", "Paid", ""], list.map((s) => [s.id, stations.get(s.station_id) || s.station_id,
      `${s.period.from} – ${s.period.to}`, Net.status(s.status), s.claims, Net.money(s.claimed_minor), Net.money(s.amount_minor, s.currency),
      s.status === "draft" && me.role !== "reviewer" ? h("button", { onclick: async () => { if (await Net.send("POST", `/api/v1/settlements/${s.id}/approve`)) settlements(); } }, "Approve")
        : s.status === "approved" ? h("button", { onclick: () => Net.download(`/api/v1/settlements/${s.id}/export`, `settlement-${s.id}.csv`) }, "CSV") : ""]),
    { num: ["Claims", "Claimed", "Paid"] }));
  $("sideTitle").textContent = "Approval"; fill($("side"), h("p", { class: "muted" }, "A settlement is approved by a supervisor or an administrator other than the person who drew it up."));
}

async function times() {
  const [list, models] = await Promise.all([Net.api("/api/v1/standard-times").then((r) => r.json()), Net.api("/api/v1/product-models").then((r) => r.ok ? r.json() : [])]);
  $("listTitle").textContent = "Standard times (every version)";
  const name = new Map(models.map((m) => [m.id, m.name]));
  fill($("list"), Net.table(["Model", "Code", "Version", "Minutes", "Valid from"], list.map((t) => [name.get(t.model_id) || t.model_id, t.code, t.version, t.minutes, t.valid_from]),
    { num: ["Version", "Minutes"] }));
  $("sideTitle").textContent = "A new version";
  const model = h("input", { id: "stdModel", type: "number", min: 1, placeholder: "model id" }), code = h("input", { id: "stdCode", placeholder: "fault code" });
  const minutes = h("input", { id: "stdMinutes", type: "number", min: 1, max: 6000 }), from = h("input", { id: "stdFrom", type: "date", value: new Date().toISOString().slice(0, 10) });
  fill($("side"), h("div", { class: "controls" }, h("label", {}, "Model", model), h("label", {}, "Code", code), h("label", {}, "Minutes", minutes), h("label", {}, "From", from),
    h("button", { class: "primary", onclick: async () => {
      const t = await Net.send("POST", "/api/v1/standard-times", { model_id: Number(model.value), code: code.value, minutes: Number(minutes.value), valid_from: from.value });
      if (t) { $("done").textContent = `Version ${t.version} saved.`; times(); }
    } }, "Save")));
}

Net.boot(["reviewer", "admin", "supervisor"], "the claims desk", async (who) => {
  me = who;
  const list = await (await Net.api("/api/v1/stations")).json();
  stations = new Map(list.map((s) => [s.id, s.name]));
  Net.tabs(show); show("queue");
});
