// The agent desk and the wallboard in headless Chromium (Debian's `chromium`, driven by
// playwright-core), with a WAV file as the microphone. Run by tests/e2e/browser.rs, which
// places the sipp call and checks the recording; this script works the pages:
//
//   node desk.mjs BASE_URL AGENT SUPERVISOR PASSWORD MIC_WAV SCREENSHOT_DIR
//
// It prints `READY` once the agent is available, then one JSON line with what it measured.
// Every wait has a deadline; on failure it prints the reason and exits non-zero.

import { chromium } from "playwright-core";

const [base, agent, supervisor, password, micWav, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const fail = (why) => { console.error("FAIL " + why); process.exit(1); };
const deadline = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error("timed out: " + what)), ms));
async function until(page, fn, arg, ms, what) {
  await Promise.race([page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }), deadline(ms + 500, what)]);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${micWav}`,
    "--autoplay-policy=no-user-gesture-required",
    // Plain host candidates instead of mDNS names, so the service can reach the page.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
  ],
});
try {
  // The screen of a typical call-center PC.
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const desk = await context.newPage();
  const board = await context.newPage();
  desk.on("console", (m) => m.type() === "error" && console.error("desk console:", m.text()));

  // The agent signs in and goes available.
  await desk.goto(base + "/desk");
  await desk.fill("#username", agent);
  await desk.fill("#password", password);
  await desk.click("button[type=submit]");
  await until(desk, () => window.desk && document.getElementById("agentName").textContent !== "", null, 10000, "desk hello");
  await until(desk, () => window.desk.state !== "logged_out", null, 10000, "first state");
  const start = await desk.evaluate(() => ({
    state: window.desk.state,
    badge: document.getElementById("stateBadge").textContent,
    transfer: document.getElementById("transferQueue").value,
  }));
  await desk.click("#btnAvailable");
  await until(desk, () => window.desk.state === "available", null, 10000, "agent available");

  // The supervisor's wallboard (its own session).
  const login = await fetch(base + "/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: supervisor, password }),
  }).then((r) => r.json());
  await board.goto(`${base}/wallboard?token=${login.token}`);
  await until(board, () => window.board && window.board.queues.length > 0, null, 10000, "wallboard data");
  console.log("READY");

  // A first caller gives up while it rings: the desk says the call was missed.
  await until(desk, () => !document.getElementById("ringing").classList.contains("hidden"), null, 60000, "first ringing");
  await until(desk, () => !document.getElementById("missed").classList.contains("hidden"), null, 20000, "missed notice");
  const missed = await desk.evaluate(() => ({
    text: document.getElementById("missed").textContent,
    ringing: !document.getElementById("ringing").classList.contains("hidden"),
  }));
  if (shots) await desk.screenshot({ path: `${shots}/desk-missed.png` });
  console.log("MISSED");

  // The call arrives: the screen pop is on the page before anyone answers.
  await until(desk, () => window.desk.offers.length >= 2 && !document.getElementById("ringing").classList.contains("hidden"), null, 60000, "ringing");
  await until(desk, () => window.desk.offers.some((o) => o.pop), null, 5000, "screen pop");
  const ringing = await desk.evaluate(() => ({
    caller: document.getElementById("ringCaller").textContent,
    name: (document.getElementById("popName") || {}).textContent || null,
    badges: [...document.querySelectorAll("#popAssets .badge")].map((b) => b.textContent),
    offer: window.desk.offers[window.desk.offers.length - 1],
    missedShown: !document.getElementById("missed").classList.contains("hidden"),
    // On a 1366×768 screen the answer button and the softphone are in view without scrolling.
    answerBottom: document.getElementById("btnAnswer").getBoundingClientRect().bottom,
    phoneBottom: document.getElementById("phoneStatus").getBoundingClientRect().bottom,
    height: window.innerHeight,
  }));
  await until(board, () => window.board.queues.find((q) => q.name === "general").waiting === 1, null, 5000, "wallboard waiting");
  const waitingBoard = await board.evaluate(() => window.board.queues.find((q) => q.name === "general"));
  if (shots) {
    await desk.screenshot({ path: `${shots}/desk-ringing.png` });
    await board.screenshot({ path: `${shots}/wallboard-waiting.png` });
  }

  await desk.click("#btnAnswer");
  await until(desk, () => window.desk.media === "connected", null, 15000, "softphone connected");
  // Let the caller's audio flow for a while; the page measures what it receives.
  await desk.waitForTimeout(3000);
  const rx = await desk.evaluate(() => ({ peak: window.desk.rxPeak, now: window.desk.rxEnergy }));
  await until(board, () => window.board.queues.find((q) => q.name === "general").answered === 1, null, 5000, "wallboard answered");
  const answeredBoard = await board.evaluate(() => window.board.queues.find((q) => q.name === "general"));
  if (shots) {
    await desk.screenshot({ path: `${shots}/desk-on-call.png` });
    await board.screenshot({ path: `${shots}/wallboard-answered.png` });
  }
  const onCall = await desk.evaluate(() => ({
    hangupBottom: document.getElementById("btnHangup").getBoundingClientRect().bottom,
    phoneBottom: document.getElementById("phoneStatus").getBoundingClientRect().bottom,
  }));
  await desk.click("#btnHangup");
  await until(desk, () => window.desk.lastEnded !== null, null, 10000, "call ended");
  const ended = await desk.evaluate(() => window.desk.lastEnded);
  // The wrap-up form is up; when the wrap-up time ends (nothing typed) it goes with it.
  const wrapShown = await desk.evaluate(() => !document.getElementById("wrapCard").classList.contains("hidden"));
  // Filed as a repair order: the panel says who comes and when (auto-assigned at once).
  await desk.selectOption("#disposition", "repair_order");
  const assetValue = await desk.evaluate(() => [...document.getElementById("wrapAsset").options].map((o) => o.value).find((v) => v));
  await desk.selectOption("#wrapAsset", assetValue);
  await desk.fill("#wrapSubject", "Drum does not turn");
  await desk.click("#btnSaveWrap");
  await until(desk, () => document.getElementById("wrapVisit").textContent !== "", null, 10000, "visit shown");
  const visit = await desk.evaluate(() => ({ line: document.getElementById("wrapVisit").textContent, ro: window.desk.wrapUp.repair_order }));
  if (shots) await desk.screenshot({ path: `${shots}/desk-wrap-up.png` });
  await until(desk, () => window.desk.state === "available", null, 40000, "available after wrap-up");
  const wrapAfter = await desk.evaluate(() => !document.getElementById("wrapCard").classList.contains("hidden"));

  // The desk lists the agent's tasks; the wallboard the supervisors' alerts.
  await until(desk, () => Array.isArray(window.desk.tasks), null, 10000, "task list");
  const tasks = await desk.evaluate(() => ({ n: window.desk.tasks.length, rows: document.querySelectorAll("#tasks tbody tr").length }));
  await until(board, () => Array.isArray(window.alerts), null, 10000, "alerts");
  const alerts = await board.evaluate(() => ({ n: window.alerts.length, rows: document.querySelectorAll("#alerts tbody tr").length }));

  // The reports page: the call just handled is in the call-center report; service quality
  // draws a bar per model. The call's record is written just after the call ends, so the page
  // is reloaded (for up to ten seconds) until the report holds a queue; the test then checks it.
  const reports = await context.newPage();
  reports.on("console", (m) => m.type() === "error" && console.error("reports console:", m.text()));
  const recordBy = Date.now() + 10000;
  for (;;) {
    await reports.goto(`${base}/reports?token=${login.token}`);
    await until(reports, () => window.lastReport && window.lastReport.tab === "call-center", null, 10000, "call-center report");
    const answered = await reports.evaluate(() => window.lastReport.data.queues.some((q) => q.answered > 0));
    if (answered || Date.now() > recordBy) break;
    await reports.waitForTimeout(500);
  }
  const callCenter = await reports.evaluate(() => ({
    queues: window.lastReport.data.queues,
    columns: document.querySelectorAll("#chart svg rect").length,
  }));
  await reports.click("button[data-tab=service]");
  await until(reports, () => window.lastReport.tab === "service", null, 10000, "service report");
  const service = await reports.evaluate(() => ({
    rows: window.lastReport.data.length,
    bars: document.querySelectorAll("#chart svg rect").length,
    tableRows: document.querySelectorAll("#table tbody tr").length,
  }));
  if (shots) await reports.screenshot({ path: `${shots}/reports-service.png` });
  console.log(JSON.stringify({ start, missed, ringing, onCall, waitingBoard, answeredBoard, rx, ended, wrapShown, visit, wrapAfter, tasks, alerts, callCenter, service }));
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
}
