// A station manager's and a claims reviewer's day in headless Chromium (Debian's `chromium`,
// playwright-core), at 1366×768. Run by tests/e2e/browser.rs:
//
//   node network.mjs BASE_URL STATION_TOKEN REVIEWER_TOKEN ORDER_TO_CLAIM SCREENSHOT_DIR
//
// The station manager accepts an order, declines another with a reason, assigns a third to a
// technician, files the claim for a completed repair, orders the replenishment suggestion and
// books in a shipped parts order; the reviewer finds the claim in the queue, asks for the old
// part back, approves the labour and cuts the travel to half; the station ships the part, the
// reviewer books it in, inspects it and cuts its line; the station appeals once; the reviewer
// approves the reopened lines and draws up the station's settlement. Any dialog or CSP
// violation fails the run. Prints `READY`, then one JSON line.

import { chromium } from "playwright-core";

const [base, stationToken, reviewerToken, orderToClaim, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const deadline = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error("timed out: " + what)), ms));
async function until(page, fn, arg, ms, what) {
  await Promise.race([page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }), deadline(ms + 500, what)]);
}
const done = (page, text, what) => until(page, (t) => document.getElementById("done").textContent.includes(t), text, 10000, what);

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const dialogs = [];
const out = {};
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const open = async (path) => {
    const page = await context.newPage();
    page.on("dialog", async (d) => { dialogs.push(`${path}: ${d.message()}`); await d.dismiss(); });
    page.on("console", (m) => m.type() === "error" && !/status of 40[9]/.test(m.text()) && console.error(path, "console:", m.text()));
    await page.addInitScript(() => document.addEventListener("securitypolicyviolation", () => (window.cspViolations = (window.cspViolations || 0) + 1)));
    await page.goto(base + path);
    return page;
  };
  console.log("READY");

  // The station manager's orders: accept, decline with a reason, assign.
  const station = await open(`/station?token=${stationToken}`);
  await until(station, () => document.querySelectorAll("[data-accept], [data-decline]").length >= 3, null, 15000, "the station's open orders");
  out.title = await station.evaluate(() => document.getElementById("title").textContent);
  const ids = await station.evaluate(() => [...document.querySelectorAll("[data-decline]")].map((b) => Number(b.dataset.decline)));
  const [accept, decline, assign] = ids;
  await station.click(`[data-accept="${accept}"]`);
  await done(station, `Order ${accept} accepted`, "the acceptance");
  await station.click(`[data-decline="${decline}"]`);
  await station.fill("#declineReason", "No refrigeration technician free this week");
  await station.click("#declineSend");
  await done(station, `Order ${decline} declined`, "the decline");
  await until(station, (id) => !document.querySelector(`[data-decline="${id}"]`), decline, 10000, "the declined order leaves the list");
  const tech = await station.evaluate((id) => { const s = document.querySelector(`[data-tech-for="${id}"]`); const o = s.options[s.options.length - 1]; s.value = o.value; return Number(o.value); }, assign);
  await station.click(`[data-assign="${assign}"]`);
  await done(station, `Order ${assign} assigned`, "the assignment");
  out.orders = { accept, decline, assign, tech };
  // The actions are on screen without scrolling at 1366×768.
  out.stationFits = await station.evaluate(() => {
    const b = document.querySelector("[data-decline]").getBoundingClientRect();
    return b.right <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth;
  });
  await station.screenshot({ path: `${shots}/station-orders.png` });

  // The claim for a completed repair.
  await station.click('#tabs button[data-tab="claims"]');
  await until(station, (id) => document.querySelector(`[data-claim-order="${id}"]`), orderToClaim, 15000, "the repair to claim");
  await station.click(`[data-claim-order="${orderToClaim}"]`);
  await station.click("#claimSend");
  await done(station, "filed", "the claim");
  await until(station, () => /^Claim \d+/.test(document.getElementById("sideTitle").textContent), null, 10000, "the claim's detail");
  out.claim = await station.evaluate(() => Number(document.getElementById("sideTitle").textContent.match(/^Claim (\d+)/)[1]));
  await station.screenshot({ path: `${shots}/station-claim.png` });

  // Stock: order the replenishment suggestion (twice: one order), book in a shipped order.
  await station.click('#tabs button[data-tab="stock"]');
  await until(station, () => document.getElementById("orderSuggested"), null, 15000, "the replenishment suggestion");
  await station.click("#orderSuggested");
  await done(station, "placed", "the parts order");
  out.partsOrder = await station.evaluate(() => Number(document.getElementById("done").textContent.match(/Parts order (\d+)/)[1]));
  await until(station, () => document.querySelector("[data-receive]"), null, 15000, "a shipped parts order");
  const receive = await station.evaluate(() => Number(document.querySelector("[data-receive]").dataset.receive));
  await station.click(`[data-receive="${receive}"]`);
  await done(station, `Parts order ${receive} booked in`, "the receipt");
  out.received = receive;
  await station.screenshot({ path: `${shots}/station-stock.png` });
  out.stationCsp = await station.evaluate(() => window.cspViolations || 0);

  // The reviewer: the claim in the queue; the old part asked back before its line is decided;
  // the labour approved, anything else cut to half.
  const desk = await open(`/claims?token=${reviewerToken}`);
  const openClaim = async (what) => {
    await until(desk, (id) => [...document.querySelectorAll("#list tbody tr")].some((r) => r.firstChild.textContent === String(id)), out.claim, 15000, what);
    await desk.evaluate((id) => [...document.querySelectorAll("#list tbody tr")].find((r) => r.firstChild.textContent === String(id)).click(), out.claim);
  };
  await openClaim("the claim in the queue");
  await until(desk, () => document.querySelector("[data-approve]"), null, 10000, "the claim's lines");
  const part = await desk.evaluate(() => Number(document.querySelector('[data-return$=":requested"]').dataset.return.split(":")[0]));
  await desk.click(`[data-return="${part}:requested"]`);
  await done(desk, "Old part: requested", "the return request");
  await until(desk, (l) => document.querySelector(`[data-approve]:not([data-approve="${l}"])`), part, 10000, "the lines after the request");
  const lines = await desk.evaluate((l) => [...document.querySelectorAll("[data-approve]")].map((b) => Number(b.dataset.approve)).filter((id) => id !== l), part);
  const cut = async (line, why) => {
    await until(desk, (l) => document.querySelector(`[data-cut="${l}"]`), line, 10000, "the line to cut");
    const claimed = await desk.evaluate((l) => Number(document.querySelector(`[data-cut="${l}"]`).closest("tr").children[1].textContent), line);
    await desk.fill(`#amount${line}`, String((claimed / 2).toFixed(2)));
    await desk.fill(`#why${line}`, why);
    await desk.click(`[data-cut="${line}"]`);
    await until(desk, (l) => !document.querySelector(`[data-cut="${l}"]`), line, 10000, "the cut");
  };
  await desk.click(`[data-approve="${lines[0]}"]`);
  await done(desk, "approved", "the approval");
  for (const line of lines.slice(1)) await cut(line, "half the distance on the route");
  out.lines = lines.length + 1;
  out.partLine = part;
  // A line waiting for its old part cannot be decided yet.
  out.partWaits = await desk.evaluate((l) => !document.querySelector(`[data-cut="${l}"]`), part);

  // The station ships the old part back, with carrier and tracking.
  await station.click('#tabs button[data-tab="claims"]');
  await until(station, (l) => document.querySelector(`[data-ship="${l}"]`), part, 15000, "the part to ship");
  await station.fill(`#carrier${part}`, "DHL");
  await station.fill(`#tracking${part}`, "JJD000390007");
  await station.click(`[data-ship="${part}"]`);
  await done(station, "Old part on its way", "the shipment");

  // The reviewer finds it among the returns, books it in, inspects it, and cuts its line.
  await desk.click('#tabs button[data-tab="returns"]');
  await openClaim("the claim among the returns");
  for (const step of ["received", "inspected"]) {
    await until(desk, (k) => document.querySelector(`[data-return="${k}"]`), `${part}:${step}`, 10000, `the ${step} button`);
    await desk.click(`[data-return="${part}:${step}"]`);
    await done(desk, `Old part: ${step}`, `the part ${step}`);
  }
  await cut(part, "worn, not faulty");
  await desk.screenshot({ path: `${shots}/claims-review.png` });

  // The station appeals the cuts, once.
  await station.click('#tabs button[data-tab="claims"]');
  await until(station, () => document.getElementById("appealSend"), null, 15000, "the appeal form");
  await station.fill("#appealReason", "Photos of the burnt board attached; the route was 38 km");
  await station.click("#appealSend");
  await done(station, "Appeal sent", "the appeal");
  await until(station, () => !document.getElementById("appealSend"), null, 10000, "the appeal form gone after the one appeal");
  // The list beside the detail follows: the claim's row says appealed.
  await until(station, (id) => [...document.querySelectorAll("#list tbody tr")].some((r) => r.firstChild.textContent === String(id) && r.textContent.includes("appealed")), out.claim, 10000, "the appealed row");
  await station.screenshot({ path: `${shots}/station-appeal.png` });

  // The appealed claim is back in the reviewer's queue; the reopened lines are approved.
  await desk.click('#tabs button[data-tab="queue"]');
  await openClaim("the appealed claim in the queue");
  await until(desk, () => document.querySelector("[data-approve]"), null, 10000, "the reopened lines");
  out.reopened = 0;
  for (;;) {
    const next = await desk.evaluate(() => { const b = document.querySelector("[data-approve]"); return b ? Number(b.dataset.approve) : null; });
    if (next === null) break;
    await desk.click(`[data-approve="${next}"]`);
    await until(desk, (l) => !document.querySelector(`[data-approve="${l}"]`), next, 10000, "the approval after the appeal");
    out.reopened += 1;
  }
  await desk.screenshot({ path: `${shots}/claims-appeal.png` });

  // The station's settlement for today.
  await desk.click('#tabs button[data-tab="settlements"]');
  await until(desk, () => document.getElementById("stDraft"), null, 10000, "the settlement form");
  const stationName = out.title.replace(/ — station portal$/, "");
  await desk.evaluate((name) => { const s = document.getElementById("stStation"); s.value = [...s.options].find((o) => o.textContent === name).value; }, stationName);
  const today = new Date().toISOString().slice(0, 10);
  await desk.fill("#stFrom", today);
  await desk.fill("#stTo", today);
  await desk.click("#stDraft");
  await done(desk, "drawn up", "the settlement");
  out.settlement = await desk.evaluate(() => document.getElementById("done").textContent);
  out.reviewerFits = await desk.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await desk.screenshot({ path: `${shots}/claims-settlement.png` });
  out.reviewerCsp = await desk.evaluate(() => window.cspViolations || 0);
  out.dialogs = dialogs;
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.stack || e), dialogs, ...out }));
} finally {
  await browser.close();
}
