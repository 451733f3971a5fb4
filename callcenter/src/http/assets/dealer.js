"use strict";
// The dealer portal: a dealer registers its sales (the factory warranty starts there), follows
// what happened to the products it sold (repairs, survey scores, complaints) and reads its
// after-sales figures. Every list is the server's answer for this dealer only.
let dealer = null, tab = "vehicles";

async function load() {
  const r = await Net.api("/api/v1/dealers");
  if (!r.ok) { $("error").textContent = (await r.json()).message; return; }
  dealer = (await r.json())[0];
  if (!dealer) { $("error").textContent = "This login has no dealer."; return; }
  $("title").textContent = `${dealer.name} — dealer portal`;
  fill($("dealerStatus"), Net.status(dealer.status), " ", h("span", { class: "muted" }, `${dealer.code} · ${dealer.territory} · agreement ${dealer.agreement.number}`));
  show(tab);
}

function show(t) {
  tab = t;
  $("done").textContent = ""; $("error").textContent = "";
  ({ vehicles, register, figures })[t]();
}

async function vehicles() {
  const list = await (await Net.api(`/api/v1/dealers/${dealer.id}/vehicles?limit=200`)).json();
  $("listTitle").textContent = `Sold (${list.length}, newest first)`;
  fill($("list"), list.length ? Net.table(["Sold", "Product", "Serial / VIN", "Customer", "Repairs", "Complaints"], list.map((v) => [v.sale.sold_on,
    h("span", {}, v.model_code, h("div", { class: "muted" }, v.model_name)), h("span", {}, v.sale.serial, v.sale.vin ? h("div", { class: "muted" }, v.sale.vin) : ""),
    v.customer_name, v.repairs.length, v.complaints.length ? Net.badge(v.complaints.length, "warn") : 0]),
    { num: ["Repairs", "Complaints"], pick: (i) => history(list[i]) }) : h("p", { class: "muted" }, "No sales registered yet."));
  $("sideTitle").textContent = "After-sales history";
  fill($("side"), h("p", { class: "muted" }, "Pick a product."));
}

function history(v) {
  $("sideTitle").textContent = `${v.model_code} ${v.sale.serial}`;
  const d = v.sale.delivery;
  fill($("side"),
    h("p", {}, `Sold ${v.sale.sold_on} to ${v.customer_name}; delivery inspection ${d.inspected_on} by ${d.inspector}`, d.notes ? h("div", { class: "muted" }, d.notes) : ""),
    h("h2", {}, "Repairs"),
    v.repairs.length ? Net.table(["#", "Opened", "Status", "Fault", "Survey"], v.repairs.map((r) => [r.repair_order_id, Net.when(r.created_at), Net.status(r.status),
      r.fault_code || "–", r.survey_score == null ? "–" : `${r.survey_score} / 5`])) : h("p", { class: "muted" }, "None."),
    h("h2", {}, "Complaints"),
    v.complaints.length ? Net.table(["#", "Raised", "Category", "Status"], v.complaints.map((k) => [k.complaint_id, Net.when(k.created_at), k.category.replaceAll("_", " "), Net.status(k.status)]))
      : h("p", { class: "muted" }, "None."));
}

function register() {
  const today = new Date().toISOString().slice(0, 10);
  const field = (id, label, attrs = {}) => h("p", {}, h("label", { for: id }, label), " ", h("input", { id, ...attrs }));
  $("listTitle").textContent = "Register a sale";
  fill($("list"), h("form", { id: "saleForm" },
    field("saleId", "VIN or serial", { required: true, maxlength: 40, size: 24 }),
    field("soldOn", "Sold on", { type: "date", value: today, max: today, required: true }),
    h("h2", {}, "Buyer"),
    field("buyerName", "Name", { required: true, maxlength: 200 }),
    field("buyerPhone", "Phone", { placeholder: "+49 …", required: true }),
    field("buyerEmail", "E-mail", { type: "email" }),
    h("h2", {}, "Delivery inspection"),
    field("inspectedOn", "Inspected on", { type: "date", value: today, max: today, required: true }),
    field("inspector", "Inspector", { required: true, maxlength: 200 }),
    field("odometer", "Odometer (km)", { type: "number", min: 0, max: 100000 }),
    h("p", {}, h("label", {}, h("input", { id: "passed", type: "checkbox", checked: true }), " Every point of the checklist passed")),
    h("p", {}, h("label", { for: "notes" }, "Notes"), " ", h("textarea", { id: "notes", rows: 2, cols: 40 })),
    h("p", {}, h("button", { class: "primary", id: "saleSend", type: "submit" }, "Register the sale"))));
  $("saleForm").onsubmit = async (e) => {
    e.preventDefault();
    const v = (id) => $(id).value.trim();
    const email = v("buyerEmail");
    const body = {
      vin_or_serial: v("saleId"), dealer_id: dealer.id, sold_on: v("soldOn"),
      customer: { name: v("buyerName"), phones: [{ number: v("buyerPhone") }], ...(email ? { email } : {}) },
      delivery: { inspected_on: v("inspectedOn"), inspector: v("inspector"), passed: $("passed").checked,
        ...(v("odometer") ? { odometer_km: Number(v("odometer")) } : {}), ...(v("notes") ? { notes: v("notes") } : {}) },
    };
    const out = await Net.send("POST", "/api/v1/sales", body);
    if (out) {
      $("done").textContent = out.replayed ? `This sale of ${out.sale.serial} was registered already.` : `Sale of ${out.sale.serial} registered: its warranty starts on ${out.sale.sold_on}.`;
      $("sideTitle").textContent = "Registered";
      fill($("side"), Net.table(["Serial", "VIN", "Sold on", "Buyer"], [[out.sale.serial, out.sale.vin || "–", out.sale.sold_on, v("buyerName")]]));
    }
  };
  $("sideTitle").textContent = "What registering does";
  fill($("side"), h("p", {}, "The buyer becomes the product's owner and its factory warranty starts on the sale date. Without a registered sale the warranty starts at the production date plus six months."));
}

async function figures() {
  const to = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.now() - 364 * 86400000).toISOString().slice(0, 10);
  const q = `from=${from}&to=${to}`;
  const rows = await (await Net.api(`/api/v1/reports/dealers?${q}`)).json();
  $("listTitle").textContent = `After-sales figures ${from} – ${to}`;
  fill($("list"), Net.table(["Sold", "Repairs", "Under warranty", "Per 100 sold", "Complaints", "Surveys", "Mean score"], rows.map((r) => [r.sold, r.repairs,
    r.warranty_repairs, r.repairs_per_100_sold == null ? "–" : r.repairs_per_100_sold, r.complaints, r.surveys, r.survey_mean == null ? "–" : r.survey_mean]),
    { num: ["Sold", "Repairs", "Under warranty", "Per 100 sold", "Complaints", "Surveys", "Mean score"] }),
    h("p", {}, h("button", { id: "figuresCsv", onclick: () => Net.download(`/api/v1/reports/dealers?${q}&format=csv`, `dealer-${dealer.code}.csv`) }, "Download CSV")));
  $("sideTitle").textContent = "How these count";
  fill($("side"), h("p", { class: "muted" }, "Sold: registrations in the period. Repairs, complaints and surveys: in the period, on every product this dealer ever sold."));
}

Net.boot(["dealer"], "the dealer portal", () => { Net.tabs(show); load(); });
