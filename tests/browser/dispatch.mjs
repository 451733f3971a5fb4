// The dispatcher's page in headless Chromium (Debian's `chromium`, driven by playwright-core).
// Run by tests/e2e/browser.rs, whose server has an unreachable tile URL (the map must draw
// without tiles, as offline):
//
//   node dispatch.mjs BASE_URL USER PASSWORD LAT SCREENSHOT_DIR
//
// It prints `READY` once the map is drawn; the test then reports a technician at latitude LAT,
// and the page must move them live. Then it drags an unassigned order onto a technician with its
// skill and prints one JSON line with what it saw.

import { chromium } from "playwright-core";

const [base, user, password, lat, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const deadline = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error("timed out: " + what)), ms));
async function until(page, fn, arg, ms, what) {
  await Promise.race([page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }), deadline(ms + 500, what)]);
}

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
  page.on("console", (m) => m.type() === "error" && !m.text().includes("ERR_CONNECTION_REFUSED") && console.error("console:", m.text()));
  await page.goto(base + "/dispatch");
  await page.fill("#user", user);
  await page.fill("#pass", password);
  await page.click("button[type=submit]");
  await until(page, () => document.querySelectorAll("#overlay [data-order]").length > 0, null, 15000, "the map");
  const drawn = await page.evaluate(() => ({
    visible: (() => {
      const box = document.getElementById("map").getBoundingClientRect();
      return [...document.querySelectorAll("#overlay [data-order]")].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
      }).length;
    })(),
    stations: document.querySelectorAll("#overlay [data-station]").length,
    orders: document.querySelectorAll("#overlay [data-order]").length,
    routes: document.querySelectorAll("#overlay [data-route]").length,
    unassigned: document.querySelectorAll("#unassigned .order").length,
    technicians: document.querySelectorAll("#techs .tech").length,
  }));
  console.log("READY");

  // A position report moves the technician on the map without a reload.
  await until(page, (l) => window.dispatch.board.technicians.some((t) => t.lat === Number(l)), lat, 15000, "live position");
  const moved = await page.evaluate((l) => window.dispatch.board.technicians.find((t) => t.lat === Number(l)).id, lat);

  // Drag an unassigned order onto a technician who has its skill (the server refuses others).
  const [order, tech] = await page.evaluate(() => {
    const b = window.dispatch.board;
    for (const el of document.querySelectorAll("#unassigned .order")) {
      const o = b.orders.find((x) => x.id === Number(el.dataset.order));
      const t = b.technicians.find((x) => x.skills.some((s) => s.name === o.product_line) &&
        document.querySelector(`#techs .tech[data-tech="${x.id}"]`));
      if (t) return [String(o.id), String(t.id)];
    }
    throw new Error("no unassigned order with a qualified technician");
  });
  const before = await page.textContent("#status");
  await page.dragAndDrop(`#unassigned .order[data-order="${order}"]`, `#techs .tech[data-tech="${tech}"]`);
  await until(page, (b) => document.getElementById("status").textContent !== b, before, 10000, "a reaction to the drop");
  await until(page, (o) => !document.querySelector(`#unassigned .order[data-order="${o}"]`), order, 10000, "the list updated");
  await until(page, () => /assigned to/.test(document.getElementById("status").textContent), null, 10000,
    "assignment (status: " + (await page.textContent("#status")) + ")");
  // Tiles that cannot be fetched are dropped; the map stays.
  await until(page, () => document.querySelectorAll("#tiles img").length === 0, null, 10000, "failed tiles dropped");
  const tiles = await page.evaluate(() => document.querySelectorAll("#tiles img").length);
  await page.screenshot({ path: `${shots}/dispatch.png` });
  console.log(JSON.stringify({ drawn, moved: Number(moved), order: Number(order), tech: Number(tech), tiles,
    status: await page.textContent("#status") }));
} catch (e) {
  console.error("FAIL " + e.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}
