// Hostile data on every page, in headless Chromium (Debian's `chromium`, playwright-core). Run by
// tests/e2e/browser.rs, which has written XSS into the fields the pages show (a customer, an
// asset's model, a ticket, a repair order, an agent's name, a technician, a station; the station
// manager's station, a claim's review reasons and appeal, a parts order's carrier and tracking):
//
//   node xss.mjs BASE_URL XSS AGENT_TOKEN SUPERVISOR_TOKEN TECHNICIAN_TOKEN SCREENSHOT_DIR \
//     STATION_TOKEN REVIEWER_TOKEN CLAIM_ID
//
// Each page must show the text as text: any dialog (alert/confirm/prompt) fails the run. Then the
// sign-out paths: the desk's Sign out button, a session ended elsewhere closing the wallboard's
// socket, and a technician's token on the wallboard. Prints `READY`, then one JSON line.

import { chromium } from "playwright-core";

const [base, xss, agent, supervisor, technician, shots, manager, reviewer, claim] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const deadline = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error("timed out: " + what)), ms));
async function until(page, fn, arg, ms, what) {
  await Promise.race([page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }), deadline(ms + 500, what)]);
}

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const dialogs = [];
const violations = [];
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const open = async (path) => {
    const page = await context.newPage();
    page.on("dialog", async (d) => { dialogs.push(`${path}: ${d.message()}`); await d.dismiss(); });
    page.on("console", (m) => m.type() === "error" && !/ERR_CONNECTION_REFUSED|status of 40[134]/.test(m.text()) && console.error(path, "console:", m.text()));
    await page.addInitScript(() => document.addEventListener("securitypolicyviolation", (e) => (window.cspViolations = (window.cspViolations || 0) + 1)));
    await page.goto(base + path);
    return page;
  };
  console.log("READY");

  // The desk: find the customer, open their screen pop (customer, asset, ticket, order).
  const desk = await open(`/desk?token=${agent}`);
  await until(desk, () => !document.getElementById("app").classList.contains("hidden"), null, 15000, "the desk");
  await desk.evaluate((q) => { document.getElementById("searchBox").value = q; document.getElementById("btnSearch").click(); }, "Zyx");
  await until(desk, () => document.querySelector("#searchResults button[data-id]"), null, 10000, "search results");
  await desk.evaluate(() => document.querySelector("#searchResults button[data-id]").click());
  await until(desk, (t) => document.getElementById("popName")?.textContent === t, xss, 10000, "the screen pop");
  const deskSeen = await desk.evaluate((t) => ({
    name: document.getElementById("popName").textContent === t,
    asset: [...document.querySelectorAll("#popAssets td")].some((e) => e.textContent.includes(t)),
    elsewhere: document.getElementById("pop").textContent.split(t).length - 1,
    injected: document.querySelectorAll("#pop img, #pop svg, #searchResults img").length,
  }), xss);
  await desk.screenshot({ path: `${shots}/xss-desk.png` });

  // The wallboard: the agent's name (signed in on the desk above).
  const board = await open(`/wallboard?token=${supervisor}`);
  await until(board, (t) => [...document.querySelectorAll("#agents td")].some((e) => e.textContent === t), xss, 15000, "the agent on the wallboard");
  const boardInjected = await board.evaluate(() => document.querySelectorAll("#agents img").length);

  // Dispatch: the technician and the station.
  const dispatch = await open(`/dispatch?token=${supervisor}`);
  await until(dispatch, (t) => [...document.querySelectorAll("#rows .who")].some((e) => e.textContent === t), xss, 15000, "the technician in dispatch");
  await until(dispatch, (t) => [...document.querySelectorAll("#orders .order")].some((e) => e.textContent.includes(t)), xss, 15000, "the order card in dispatch");
  const dispatchInjected = await dispatch.evaluate(() => document.querySelectorAll("#rows img, #orders img, .leaflet-marker-pane img, .leaflet-tooltip-pane img").length);
  await dispatch.screenshot({ path: `${shots}/xss-dispatch.png` });

  // Reports: the station ranking names the station.
  const reports = await open(`/reports?token=${supervisor}`);
  await until(reports, () => !document.getElementById("app").classList.contains("hidden"), null, 15000, "the reports");
  await reports.click('button[data-tab="stations"]');
  await until(reports, (t) => [...document.querySelectorAll("#table td, #chart text")].some((e) => e.textContent.includes(t.slice(0, 20))), xss, 15000, "the station in the ranking");
  const reportsInjected = await reports.evaluate(() => document.querySelectorAll("#table img, #chart img").length);
  await reports.screenshot({ path: `${shots}/xss-reports.png` });
  // The complaints tab: the report and the complaint list with its filters.
  await reports.click('button[data-tab="complaints"]');
  await until(reports, (t) => [...document.querySelectorAll("#cfList td")].some((e) => e.textContent === t), xss, 15000, "the complaint in the list");
  await reports.evaluate(() => { document.getElementById("cfOverdue").checked = false; document.getElementById("cfCategory").value = "delay"; document.getElementById("cfShow").click(); });
  await until(reports, () => [...document.querySelectorAll("#cfList tbody tr")].every((r) => r.children[2].textContent === "delay"), null, 10000, "the list narrowed by category");
  const complaintListed = await reports.evaluate((t) => [...document.querySelectorAll("#cfList td")].some((e) => e.textContent === t), xss);
  const complaintsInjected = await reports.evaluate(() => document.querySelectorAll("#extra img, #extra svg").length);
  await reports.screenshot({ path: `${shots}/xss-complaints.png` });
  // The station portal: its title, the claim (reasons, appeal), the parts order's tracking.
  const count = (page, sel) => page.evaluate(([t, s]) => [...document.querySelectorAll(s)].map((e) => e.textContent.split(t).length - 1).reduce((a, b) => a + b, 0), [xss, sel]);
  const portal = await open(`/station?token=${manager}`);
  await until(portal, (t) => document.getElementById("title").textContent.includes(t), xss, 15000, "the portal's title");
  const portalTitle = await portal.evaluate((t) => document.getElementById("title").textContent === `${t} — station portal`, xss);
  await portal.click('#tabs button[data-tab="claims"]');
  await until(portal, (id) => [...document.querySelectorAll("#list button")].some((b) => b.textContent === `Claim ${id}`), claim, 15000, "the claimed repair");
  await portal.evaluate((id) => [...document.querySelectorAll("#list button")].find((b) => b.textContent === `Claim ${id}`).click(), claim);
  await until(portal, (t) => document.getElementById("side").textContent.includes(t), xss, 10000, "the claim's reasons");
  const portalClaim = await count(portal, "#side td, #side dd");
  await portal.screenshot({ path: `${shots}/xss-station.png` });
  let portalInjected = await portal.evaluate(() => document.querySelectorAll("#side img, #side svg, #list img, #list svg, header img").length);
  await portal.click('#tabs button[data-tab="stock"]');
  await until(portal, (t) => document.getElementById("sideTitle").textContent === "Replenishment"
    && [...document.querySelectorAll("#side td")].some((e) => e.textContent.includes(t)), xss, 15000, "the parts order's tracking");
  const portalTracking = await count(portal, "#side td");
  portalInjected += await portal.evaluate(() => document.querySelectorAll("#side img, #side svg").length);

  // The claims desk: the appealed claim in the queue, its station, reasons and appeal.
  const claimsDesk = await open(`/claims?token=${reviewer}`);
  await until(claimsDesk, (id) => [...document.querySelectorAll("#list tbody tr")].some((r) => r.firstChild.textContent === String(id)), claim, 15000, "the appealed claim");
  await claimsDesk.evaluate((id) => [...document.querySelectorAll("#list tbody tr")].find((r) => r.firstChild.textContent === String(id)).click(), claim);
  await until(claimsDesk, (t) => document.getElementById("side").textContent.includes(t), xss, 10000, "the claim's detail");
  const claimsSeen = await count(claimsDesk, "#sideTitle, #side td, #side dd, #list td");
  const claimsInjected = await claimsDesk.evaluate(() => document.querySelectorAll("#side img, #side svg, #list img, #list svg").length);
  await claimsDesk.screenshot({ path: `${shots}/xss-claims.png` });
  const csp = await Promise.all([desk, board, dispatch, reports, portal, claimsDesk].map((p) => p.evaluate(() => window.cspViolations || 0)));

  // Sign out from the desk: the sign-in form comes back, and the socket is closed.
  await desk.click("#btnSignOut");
  await until(desk, () => !document.getElementById("login").classList.contains("hidden"), null, 10000, "the desk's sign-in form");
  const deskSignedOut = await desk.textContent("#loginError");

  // The supervisor's session ends elsewhere (another tab signs out): the wallboard follows.
  const t0 = Date.now();
  await reports.evaluate((tok) => fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + tok } }), supervisor);
  await until(board, () => !document.getElementById("login").classList.contains("hidden"), null, 15000, "the wallboard closing");
  const wallboardClosedMs = Date.now() - t0;
  await board.waitForTimeout(2500);
  const wallboardStays = await board.evaluate(() => !document.getElementById("login").classList.contains("hidden"));

  // A technician on the wallboard is told it is not for them.
  const wrong = await open(`/wallboard?token=${technician}`);
  await until(wrong, () => document.getElementById("loginError").textContent.length > 0, null, 10000, "the wrong-role message");
  const wrongRole = await wrong.textContent("#loginError");

  console.log(JSON.stringify({ dialogs, deskSeen, boardInjected, dispatchInjected, reportsInjected, csp,
    complaintListed, complaintsInjected, portalTitle, portalClaim, portalTracking, portalInjected, claimsDesk: claimsSeen, claimsInjected,
    deskSignedOut, wallboardClosedMs, wallboardStays, wrongRole }));
} catch (e) {
  console.error("FAIL " + e.message, JSON.stringify({ dialogs }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
