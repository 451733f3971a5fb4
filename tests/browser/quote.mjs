// An agent records a customer's yes to a quote on the phone, in headless Chromium (Debian's
// `chromium`, playwright-core), at 1366×768. Run by tests/e2e/browser.rs:
//
//   node quote.mjs BASE_URL AGENT_TOKEN CUSTOMER_NAME SCREENSHOT_DIR
//
// The agent finds the customer on the desk, reads the waiting quote's lines and total, and
// records the acceptance with a note. Any dialog or CSP violation fails the run. Prints
// `READY`, then one JSON line.

import { chromium } from "playwright-core";

const [base, token, name, shots] = process.argv.slice(2);
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
  const desk = await context.newPage();
  desk.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  desk.on("console", (m) => m.type() === "error" && console.error("desk console:", m.text()));
  await desk.addInitScript(() => document.addEventListener("securitypolicyviolation", () => (window.cspViolations = (window.cspViolations || 0) + 1)));
  await desk.goto(`${base}/desk?token=${token}`);
  console.log("READY");

  await until(desk, () => !document.getElementById("app").classList.contains("hidden"), null, 15000, "the desk");
  await desk.click("#btnFind");
  await desk.fill("#searchBox", name);
  await desk.click("#btnSearch");
  await until(desk, () => document.querySelector("#searchResults button[data-id]"), null, 10000, "the search result");
  await desk.click("#searchResults button[data-id]");
  await until(desk, () => document.querySelector("[data-quote-accept]"), null, 15000, "the waiting quote");
  out.quote = await desk.evaluate(() => document.querySelector("[data-quote]").textContent);
  out.prefilled = await desk.evaluate(() => document.querySelector("[data-quote-name]").value);
  await desk.fill("[data-quote-note]", "read out 45 min labour and travel; agreed");
  await desk.screenshot({ path: `${shots}/desk-quote.png` });
  await desk.click("[data-quote-accept]");
  await until(desk, () => document.querySelector("[data-quote-result]").textContent.length > 0, null, 10000, "the acceptance");
  out.result = await desk.evaluate(() => document.querySelector("[data-quote-result]").textContent);
  out.accepted = await desk.evaluate(() => window.desk.quoteAccepted || null);
  out.fits = await desk.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await desk.screenshot({ path: `${shots}/desk-quote-accepted.png` });
  out.csp = await desk.evaluate(() => window.cspViolations || 0);
  out.dialogs = dialogs;
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.stack || e), dialogs, ...out }));
} finally {
  await browser.close();
}
