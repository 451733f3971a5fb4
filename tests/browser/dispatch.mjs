// The dispatcher's page in headless Chromium (Debian's `chromium`, driven by playwright-core).
// Run by tests/e2e/browser.rs, whose server has an unreachable tile URL (the map must work
// without tiles, as offline):
//
//   node dispatch.mjs BASE_URL USER PASSWORD LAT SCREENSHOT_DIR
//
// It prints `READY` once the map, the cards and the timelines are drawn; the test then reports
// a technician at latitude LAT, and the page must move them live. Then it zooms the map, picks
// the next day with visits, filters by station and by a search, drags an order onto a slot in a
// qualified technician's timeline and another onto a technician without the skill (refused with
// the reason), photographs the page and prints one JSON line with what it saw.

import { chromium } from "playwright-core";

const [base, user, password, lat, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const deadline = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error("timed out: " + what)), ms));
async function until(page, fn, arg, ms, what) {
  await Promise.race([page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }), deadline(ms + 500, what)]);
}
const status = (page) => page.textContent("#status");

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
  page.on("console", (m) => m.type() === "error" && !/ERR_CONNECTION_REFUSED|ERR_UNSAFE_PORT|404/.test(m.text()) && console.error("console:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(base + "/dispatch");
  await page.fill("#user", user);
  await page.fill("#pass", password);
  await page.click("button[type=submit]");
  await until(page, () => document.querySelector(".leaflet-container") && document.querySelectorAll("#orders .order").length > 0,
    null, 20000, "the map and the cards");
  // The first day from today with visits on the timelines (weekends and evenings have none).
  let days = 0;
  for (; days < 8; days++) {
    const have = await page.evaluate(() => (window.dispatch.timelines || []).some((r) => r.steps.some((s) => s.kind === "visit")));
    if (have) break;
    const before = await page.inputValue("#day");
    await page.click("#dayNext");
    await until(page, (b) => document.getElementById("day").value !== b && document.getElementById("ruler").textContent.includes(document.getElementById("day").value), before, 10000, "the next day");
    await page.waitForTimeout(400);
  }
  await until(page, () => document.querySelectorAll("#rows .row .visit").length > 0, null, 10000, "visits on the timelines");
  await until(page, () => window.dispatch.live, null, 10000, "the live feed");
  const drawn = await page.evaluate(() => ({
    stations: document.querySelectorAll(".station-mark").length,
    orders: document.querySelectorAll(".leaflet-marker-pane [data-order]").length + document.querySelectorAll(".marker-cluster").length,
    clusters: document.querySelectorAll(".marker-cluster").length,
    routes: document.querySelectorAll("path.route").length,
    cards: document.querySelectorAll("#orders .order").length,
    rows: document.querySelectorAll("#rows .row").length,
    visits: document.querySelectorAll("#rows .visit").length,
    travel: document.querySelectorAll("#rows .travel").length,
    breaks: document.querySelectorAll("#rows .break").length,
    technicians: document.querySelectorAll(".leaflet-marker-pane [data-tech]").length,
  }));
  drawn.days_ahead = days;
  console.log("READY");

  // A position report moves the technician's marker without a reload.
  await until(page, (l) => window.dispatch.board.technicians.some((t) => t.lat === Number(l)), lat, 15000, "live position");
  const moved = await page.evaluate((l) => window.dispatch.board.technicians.find((t) => t.lat === Number(l)).id, lat);

  // Zoom in with the map's control.
  const z0 = await page.evaluate(() => window.dispatch.map.getZoom());
  await page.click(".leaflet-control-zoom-in");
  await until(page, (z) => window.dispatch.map.getZoom() > z, z0, 5000, "zoom in");
  const zoomed = [z0, await page.evaluate(() => window.dispatch.map.getZoom())];

  // Filter by the station of the first technician with visits that day: cards, rows and the map
  // follow (fitted to the station's region).
  const station = await page.evaluate(() => {
    const r = window.dispatch.timelines.find((x) => x.steps.some((s) => s.kind === "visit"));
    return String(r.station_id);
  });
  const allCards = await page.locator("#orders .order").count();
  await page.selectOption("#fStation", station);
  await until(page, (st) => [...document.querySelectorAll("#rows .row")].every((r) => {
    const t = window.dispatch.board.technicians.find((x) => x.id === Number(r.dataset.tech));
    return t && String(t.station_id) === st;
  }), station, 5000, "rows of the station");
  const filtered = await page.evaluate((st) => {
    const b = window.dispatch.board;
    const cards = [...document.querySelectorAll("#orders .order")].map((e) => b.orders.find((o) => o.id === Number(e.dataset.order)));
    return { cards: cards.length, ok: cards.every((o) => String(o.technician_id != null ? o.station_id : o.nearest_station_id) === st),
      rows: document.querySelectorAll("#rows .row").length };
  }, station);
  filtered.all = allCards;

  // Search narrows further, by a customer's name.
  const name = await page.evaluate(() => {
    const el = document.querySelector("#orders .order");
    return window.dispatch.board.orders.find((o) => o.id === Number(el.dataset.order)).customer.split(" ").pop();
  });
  await page.fill("#search", name);
  await until(page, (n) => [...document.querySelectorAll("#orders .order")].every((e) => e.textContent.includes(n)), name, 5000, "search");
  const searched = await page.locator("#orders .order").count();
  await page.fill("#search", "");

  // Drag an unassigned order onto a slot, an hour into the shift, of a technician at its own
  // station who has its skill; then one onto a technician without the skill: refused, with the
  // reason. The station's filter stays on: the map shows its region and routes.
  const plan = await page.evaluate(() => {
    const b = window.dispatch.board;
    const days = new Map(window.dispatch.timelines.map((r) => [r.technician_id, r]));
    for (const o of b.orders.filter((x) => x.technician_id == null)) {
      const here = b.technicians.filter((t) => t.station_id === o.nearest_station_id && days.get(t.id)?.shifts.length);
      const good = here.find((t) => t.skills.some((s) => s.name === o.product_line));
      if (!good) continue;
      const bad = here.find((t) => !t.skills.some((s) => s.name === o.product_line));
      const at = new Date(new Date(days.get(good.id).shifts[0].from).getTime() + 60 * 60000).toISOString();
      return { order: o.id, tech: good.id, station: String(o.nearest_station_id), at, bad: bad ? bad.id : null };
    }
    return null;
  });
  if (!plan) throw new Error("no unassigned order with a qualified technician at its station that day");
  await page.selectOption("#fStation", plan.station);
  await until(page, (o) => document.querySelector(`#orders .order[data-order="${o}"]`), plan.order, 5000, "the order's card");
  plan.x = await page.evaluate((at) => window.dispatch.xFor(at), plan.at);
  await page.dragAndDrop(`#orders .order[data-order="${plan.order}"]`, `#rows .row[data-tech="${plan.tech}"] .track`,
    { targetPosition: { x: Math.max(2, plan.x + 3), y: 12 } });
  await until(page, () => /assigned to|not assigned/.test(document.getElementById("status").textContent), null, 10000, "a reaction to the drop");
  const assigned = await status(page);
  await until(page, (o) => [...document.querySelectorAll("#rows .visit")].some((v) => v.dataset.order === String(o)), plan.order, 10000,
    "the visit on the timeline (status: " + assigned + ")");
  let refused = null;
  if (plan.bad) {
    const pick = await page.evaluate((bad) => {
      const b = window.dispatch.board;
      const tech = b.technicians.find((t) => t.id === bad);
      const o = [...document.querySelectorAll("#orders .order")].map((e) => b.orders.find((x) => x.id === Number(e.dataset.order)))
        .find((x) => x.technician_id == null && !tech.skills.some((s) => s.name === x.product_line));
      return o ? String(o.id) : null;
    }, plan.bad);
    if (pick) {
      await page.dragAndDrop(`#orders .order[data-order="${pick}"]`, `#rows .row[data-tech="${plan.bad}"] .who`);
      await until(page, (p) => document.getElementById("status").textContent.includes("Order " + p + " not assigned"), pick, 10000, "the refusal");
      refused = await status(page);
    }
  }
  await page.waitForTimeout(500);
  // Failed tiles are hidden; nothing broken shows.
  const tiles = await page.evaluate(() => [...document.querySelectorAll("img.leaflet-tile")].filter((t) => t.style.display !== "none" && !t.classList.contains("leaflet-tile-loaded")).length);
  await page.screenshot({ path: `${shots}/dispatch.png` });
  console.log(JSON.stringify({ drawn, moved: Number(moved), zoomed, filtered, searched, order: plan.order, tech: plan.tech, at: plan.at,
    assigned, refused, tiles }));
} catch (e) {
  console.error("FAIL " + e.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}
