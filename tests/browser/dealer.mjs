// A dealer's day in headless Chromium (Debian's `chromium`, playwright-core), at 1366×768. Run
// by tests/e2e/browser.rs:
//
//   node dealer.mjs BASE_URL DEALER_TOKEN VIN SCREENSHOT_DIR
//
// The dealer opens its portal, registers the sale of a new motorcycle by VIN for a walk-in
// buyer (a failed delivery inspection is refused first, the field named), registers it again
// (answered as already registered), finds it in the list of what it sold with its history, and
// reads its after-sales figures. Markup in the buyer's name shows as text. Any dialog or CSP
// violation fails the run. Prints `READY`, then one JSON line.

import { chromium } from "playwright-core";

const [base, token, vin, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const deadline = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error("timed out: " + what)), ms));
async function until(page, fn, arg, ms, what) {
  await Promise.race([page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }), deadline(ms + 500, what)]);
}

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const dialogs = [];
const out = {};
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on("console", (m) => m.type() === "error" && !/status of 4(09|22)/.test(m.text()) && console.error("console:", m.text()));
  await page.addInitScript(() => document.addEventListener("securitypolicyviolation", () => (window.cspViolations = (window.cspViolations || 0) + 1)));
  await page.goto(`${base}/dealer?token=${token}`);
  console.log("READY");

  await until(page, () => document.getElementById("title").textContent.includes("dealer portal"), null, 15000, "the portal");
  out.title = await page.evaluate(() => document.getElementById("title").textContent);
  await until(page, () => document.querySelectorAll("#list tbody tr").length > 0, null, 10000, "what the dealer sold");
  out.soldBefore = await page.evaluate(() => document.querySelectorAll("#list tbody tr").length);
  await page.screenshot({ path: `${shots}/dealer-sold.png` });

  // Register a sale; a failed inspection first.
  await page.click('#tabs button[data-tab="register"]');
  await until(page, () => document.getElementById("saleForm"), null, 5000, "the sale form");
  const today = new Date().toISOString().slice(0, 10);
  await page.fill("#saleId", vin);
  await page.fill("#soldOn", today);
  await page.fill("#buyerName", "Lena <img src=x onerror=alert(1)> Voss");
  await page.fill("#buyerPhone", "+49 40 5550199");
  await page.fill("#inspectedOn", today);
  await page.fill("#inspector", "K. Brandt");
  await page.fill("#odometer", "7");
  await page.uncheck("#passed");
  await page.click("#saleSend");
  await until(page, () => document.getElementById("error").textContent.length > 0, null, 10000, "the refusal");
  out.refused = await page.evaluate(() => document.getElementById("error").textContent);
  await page.check("#passed");
  await page.click("#saleSend");
  await until(page, () => document.getElementById("done").textContent.includes("registered"), null, 10000, "the registration");
  out.registered = await page.evaluate(() => document.getElementById("done").textContent);
  await page.screenshot({ path: `${shots}/dealer-registered.png` });
  await page.click("#saleSend");
  await until(page, () => document.getElementById("done").textContent.includes("already"), null, 10000, "the retry");
  out.retried = await page.evaluate(() => document.getElementById("done").textContent);

  // The new sale heads the list; its history opens.
  await page.click('#tabs button[data-tab="vehicles"]');
  await until(page, (v) => document.querySelector("#list tbody tr") && document.querySelector("#list tbody tr").textContent.includes(v), vin, 10000, "the new sale in the list");
  await page.click("#list tbody tr");
  await until(page, () => document.getElementById("sideTitle").textContent.length > 0 && document.querySelector("#side h2"), null, 5000, "the history");
  out.history = await page.evaluate(() => document.getElementById("side").textContent);
  out.injected = await page.evaluate(() => document.querySelectorAll("#main img").length);
  out.fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await page.screenshot({ path: `${shots}/dealer-history.png` });

  // The figures.
  await page.click('#tabs button[data-tab="figures"]');
  await until(page, () => document.getElementById("figuresCsv"), null, 10000, "the figures");
  out.figures = await page.evaluate(() => [...document.querySelectorAll("#list tbody td")].map((t) => t.textContent));
  await page.screenshot({ path: `${shots}/dealer-figures.png` });
  out.csp = await page.evaluate(() => window.cspViolations || 0);
  out.dialogs = dialogs;
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.stack || e), dialogs, ...out }));
} finally {
  await browser.close();
}
