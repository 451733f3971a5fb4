"use strict";
// The station portal: a station manager accepts, declines and assigns the orders dispatch gives
// the station, files warranty claims for completed repairs, appeals a review once, ships old
// parts back, and reads stock and settlements. Every list is the server's answer for this
// station only.
let view = null, tab = "orders", picked = null;

async function load() {
  const r = await Net.api("/api/v1/station/overview");
  if (!r.ok) { $("error").textContent = (await r.json()).message; return; }
  view = await r.json();
  const s = view.station;
  $("title").textContent = `${s.name} — station portal`;
  fill($("stationStatus"), Net.status(s.status));
  show(tab);
}

function show(t) {
  tab = t;
  ({ orders, claims, stock, settlements })[t]();
}

function techName(id) { return (view.technicians.find((t) => t.id === id) || {}).name || "–"; }

function orders() {
  $("listTitle").textContent = `Open orders (${view.open.length})`;
  const rows = view.open.map((p) => {
    const o = p.order;
    const select = h("select", { "aria-label": `technician for order ${o.id}`, "data-tech-for": o.id },
      view.technicians.map((t) => h("option", { value: t.id, selected: t.id === o.technician_id }, t.name)));
    const started = ["en_route", "on_site", "paused"].includes(o.task_status);
    return [o.id, h("div", {}, p.customer, h("div", { class: "muted" }, p.address)), p.model, Net.when(o.scheduled_for),
      started ? techName(o.technician_id) : h("span", {}, select, " ", h("button", { "data-assign": o.id, onclick: () => assign(o.id, Number(select.value)) }, "Assign")),
      o.station_accepted_at ? Net.badge("accepted", "ok") : h("button", { class: "primary", "data-accept": o.id, onclick: () => accept(o.id) }, "Accept"),
      started ? "" : h("button", { class: "danger", "data-decline": o.id, onclick: () => declineForm(p) }, "Decline")];
  });
  fill($("list"), view.open.length ? Net.table(["#", "Customer", "Product", "Planned", "Technician", "", ""], rows) : h("p", { class: "muted" }, "No open orders."));
  $("sideTitle").textContent = "Technicians";
  fill($("side"), Net.table(["Name", "Skills"], view.technicians.map((t) => [t.name, t.skills.map((s) => `${s.name} ${s.level}`).join(", ")])));
}

async function accept(id) {
  if (await Net.send("POST", `/api/v1/station/orders/${id}/accept`)) { $("done").textContent = `Order ${id} accepted.`; load(); }
}

async function assign(id, technician_id) {
  if (await Net.send("POST", `/api/v1/station/orders/${id}/assign`, { technician_id })) { $("done").textContent = `Order ${id} assigned to ${techName(technician_id)}.`; load(); }
}

function declineForm(p) {
  $("sideTitle").textContent = `Decline order ${p.order.id}`;
  const reason = h("textarea", { id: "declineReason", rows: 3, cols: 40, placeholder: "Why the station cannot take it" });
  fill($("side"), h("p", {}, `${p.customer}, ${p.model}`), reason,
    h("p", {}, h("button", { class: "danger", id: "declineSend", onclick: async () => {
      if (await Net.send("POST", `/api/v1/station/orders/${p.order.id}/decline`, { reason: reason.value })) {
        $("done").textContent = `Order ${p.order.id} declined; dispatch gives it to another station.`; load();
      }
    } }, "Decline the order")));
}

async function claims() {
  const r = await Net.api("/api/v1/claims?limit=200");
  const list = await r.json();
  $("listTitle").textContent = "Completed repairs (60 days)";
  const rows = view.completed.map((p) => [p.order.id, p.customer, p.model, Net.when(p.order.completed_at),
    p.claim_id ? h("button", { onclick: () => claimDetail(p.claim_id) }, `Claim ${p.claim_id}`)
      : h("button", { class: "primary", "data-claim-order": p.order.id, onclick: () => fileClaim(p.order.id) }, "File claim")]);
  fill($("list"), rows.length ? Net.table(["#", "Customer", "Product", "Completed", "Claim"], rows) : h("p", { class: "muted" }, "No completed repairs."),
    h("h2", {}, `Claims (${list.length})`),
    Net.table(["Claim", "Order", "Status", "Claimed", "Approved", "Flags"], list.map((c) => [c.id, c.repair_order_id, Net.status(c.status),
      Net.money(c.claimed_minor), Net.money(c.approved_minor), h("span", { class: "flags" }, c.flags.map((f) => Net.badge(f)))]),
    { num: ["Claimed", "Approved"], pick: (i) => claimDetail(list[i].id) }));
  if (picked) claimDetail(picked); else { $("sideTitle").textContent = "Claim"; fill($("side"), h("p", { class: "muted" }, "Pick a claim or file one.")); }
}

function fileClaim(repair_order_id) {
  $("sideTitle").textContent = `File a claim for order ${repair_order_id}`;
  const why = h("textarea", { id: "deviationReason", rows: 2, cols: 40, placeholder: "Only if the work took longer than the standard time: why" });
  fill($("side"), h("p", { class: "muted" }, "Labour is paid at the standard time for the model and fault, parts at catalogue price, travel by distance band."),
    why, h("p", {}, h("button", { class: "primary", id: "claimSend", onclick: async () => {
      const body = why.value.trim() ? { repair_order_id, deviation_reason: why.value } : { repair_order_id };
      const out = await Net.send("POST", "/api/v1/claims", body);
      if (out) { picked = out.claim.id; $("done").textContent = out.replayed ? `Claim ${out.claim.id} was filed already.` : `Claim ${out.claim.id} filed.`; await load(); }
    } }, "File the claim")));
}

async function claimDetail(id) {
  picked = id;
  const r = await Net.api(`/api/v1/claims/${id}`);
  if (!r.ok) { $("error").textContent = (await r.json()).message; return; }
  const c = await r.json();
  $("sideTitle").textContent = `Claim ${c.id} — order ${c.repair_order_id}`;
  const lines = c.lines.map((l) => {
    const ship = l.return_status === "requested" ? h("span", {},
      h("input", { id: `carrier${l.id}`, placeholder: "carrier", size: 6 }), h("input", { id: `tracking${l.id}`, placeholder: "tracking", size: 10 }),
      h("button", { "data-ship": l.id, onclick: () => shipPart(c.id, l.id) }, "Shipped")) : l.return_status ? Net.status(l.return_status) : "";
    return [l.description, Net.money(l.claimed_minor), Net.status(l.decision), Net.money(l.approved_minor), l.reason || l.reject_code || "", ship];
  });
  const cut = c.lines.some((l) => ["cut", "rejected"].includes(l.decision));
  const appeal = c.status === "decided" && cut && !c.appeal;
  const reason = h("textarea", { id: "appealReason", rows: 2, cols: 40, placeholder: "Why the cut or rejection is wrong" });
  fill($("side"), h("dl", {}, h("dt", {}, "Status"), h("dd", {}, Net.status(c.status)), h("dt", {}, "Claimed"), h("dd", {}, Net.money(c.claimed_minor, c.currency)),
    h("dt", {}, "Approved"), h("dd", {}, Net.money(c.approved_minor, c.currency)), h("dt", {}, "Checks"), h("dd", { class: "flags" }, c.flags.length ? c.flags.map((f) => Net.badge(f, "warn")) : "none"),
    c.appeal ? [h("dt", {}, "Appeal"), h("dd", {}, c.appeal)] : null),
    Net.table(["Line", "Claimed", "Decision", "Pays", "Reason", "Old part"], lines, { num: ["Claimed", "Pays"] }),
    appeal ? h("div", {}, h("h2", {}, "Appeal (once)"), reason, h("p", {}, h("button", { class: "primary", id: "appealSend", onclick: async () => {
      if (await Net.send("POST", `/api/v1/claims/${c.id}/appeal`, { reason: reason.value })) { $("done").textContent = "Appeal sent."; await load(); }
    } }, "Appeal"))) : null);
}

async function shipPart(claim, line) {
  const body = { status: "shipped", carrier: $(`carrier${line}`).value, tracking: $(`tracking${line}`).value };
  if (await Net.send("POST", `/api/v1/claims/${claim}/lines/${line}/return`, body)) { $("done").textContent = "Old part on its way."; await load(); }
}

async function stock() {
  const id = view.station.id;
  const [sugg, orders, warehouses] = await Promise.all([`/api/v1/stations/${id}/replenishment`, "/api/v1/parts-orders?limit=50", "/api/v1/warehouses"]
    .map((p) => Net.api(p).then((r) => r.json())));
  $("listTitle").textContent = "Stock";
  fill($("list"), Net.table(["SKU", "Part", "On hand", "Safety stock", ""], view.stock.map((s) => [s.sku, s.name, s.quantity, s.safety_stock,
    s.below_safety_stock ? Net.badge("below safety stock", "bad") : ""]), { num: ["On hand", "Safety stock"] }));
  $("sideTitle").textContent = "Replenishment";
  const from = h("select", { id: "warehouse" }, warehouses.map((w) => h("option", { value: w.id }, w.name)));
  const send = h("button", { class: "primary", id: "orderSuggested", onclick: async () => {
    // One key per suggestion shown: a second click answers the same order.
    const key = `suggested-${id}-${sugg.map((x) => `${x.part_id}x${x.order}`).join("-")}`.slice(0, 64);
    const out = await Net.send("POST", "/api/v1/parts-orders", { station_id: id, warehouse_id: Number(from.value),
      lines: sugg.map((x) => ({ part_id: x.part_id, quantity: x.order })), request_key: key.replace(/[^A-Za-z0-9:_-]/g, "-") });
    if (out) { $("done").textContent = out.replayed ? `Parts order ${out.order.id} was placed already.` : `Parts order ${out.order.id} placed.`; stock(); }
  } }, "Order these");
  fill($("side"), sugg.length ? [Net.table(["SKU", "On hand", "Safety", "Needed", "On the way", "Used 30 d", "Order"], sugg.map((x) =>
    [x.sku, x.on_hand, x.safety_stock, x.needed, x.in_transit, x.used_30_days, h("b", {}, x.order)]), { num: ["On hand", "Safety", "Needed", "On the way", "Used 30 d", "Order"] }),
    h("div", { class: "controls" }, h("label", {}, "From", from), send)] : h("p", { class: "muted" }, "Nothing to order: stock, safety stock and open orders are covered."),
    h("h2", {}, "Parts orders"),
    Net.table(["#", "Status", "Lines", "Tracking", ""], orders.map((o) => [o.id, Net.status(o.status), o.lines.map((l) => `${l.sku} × ${l.quantity}`).join(", "),
      o.tracking ? `${o.carrier} ${o.tracking}` : "–",
      o.status === "shipped" ? h("button", { "data-receive": o.id, onclick: async () => {
        if (await Net.send("POST", `/api/v1/parts-orders/${o.id}/receive`, { lines: [] })) { $("done").textContent = `Parts order ${o.id} booked in.`; await load(); }
      } }, "Booked in as shipped") : ""])));
}

async function settlements() {
  const list = await (await Net.api("/api/v1/settlements?limit=100")).json();
  $("listTitle").textContent = "Settlements";
  fill($("list"), Net.table(["#", "Period", "Status", "Claims", "Labour", "Parts", "Travel", "Paid"], list.map((s) => [s.id, `${s.period.from} – ${s.period.to}`,
    Net.status(s.status), s.claims, Net.money(s.labour_minor), Net.money(s.parts_minor), Net.money(s.travel_minor), Net.money(s.amount_minor, s.currency)]),
    { num: ["Claims", "Labour", "Parts", "Travel", "Paid"], pick: (i) => settlement(list[i]) }));
  $("sideTitle").textContent = "Settlement"; fill($("side"), h("p", { class: "muted" }, "Pick a settlement."));
}

async function settlement(s) {
  const v = await (await Net.api(`/api/v1/settlements/${s.id}`)).json();
  $("sideTitle").textContent = `Settlement ${s.id}`;
  fill($("side"), Net.table(["Technician", "Claims", "Labour min", "Paid"], v.technicians.map((t) => [techName(t.technician_id), t.claims, t.labour_minutes, Net.money(t.amount_minor)]),
    { num: ["Claims", "Labour min", "Paid"] }),
    s.status === "approved" ? h("p", {}, h("button", { onclick: () => Net.download(`/api/v1/settlements/${s.id}/export`, `settlement-${s.id}.csv`) }, "Download CSV"))
      : h("p", { class: "muted" }, "Draft: waiting for the manufacturer's approval."));
}

Net.boot(["station_manager"], "the station portal", () => { Net.tabs(show); load(); });
