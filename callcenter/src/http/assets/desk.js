"use strict";
const $ = (id) => document.getElementById(id);
// Exposed for tests and diagnostics.
window.desk = { state: "logged_out", offers: [], rxEnergy: 0, rxPeak: 0, media: null, popAt: null, lastEnded: null };
let token = Session.stored();
let ws, current = null, pc = null, localStream = null, muted = false, onHold = false, customer = null, wrapStarted = 0;

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new Error((data && (data.message || data.error)) || r.statusText);
  return data;
}

$("loginForm").onsubmit = async (e) => {
  e.preventDefault();
  try { token = await Session.signIn($("username").value, $("password").value); start(); }
  catch (err) { $("loginError").textContent = err.message; }
};

// Agent tasks: claim one, call the customer from here (preview dial), finish with an outcome.
async function loadTasks() {
  let list = [];
  try { list = await api("GET", "/api/v1/agent-tasks?limit=30"); } catch (e) { $("taskResult").textContent = e.message; return; }
  window.desk.tasks = list;
  const me = window.desk.userId;
  const outcomes = ["reached", "no_answer", "wrong_number", "declined", "handled"];
  fill($("tasks").tBodies[0], list.length ? list.map((t) => {
    const mine = t.status === "claimed" && t.claimed_by === me;
    const act = t.status === "open" ? h("button", { "data-claim": t.id }, "Claim")
      : mine ? [h("button", { "data-call": t.id }, "Call"), " ",
        h("select", { "data-outcome": t.id, style: "width:auto" }, outcomes.map((o) => h("option", {}, o))), " ",
        h("button", { "data-finish": t.id }, "Done")]
      : h("span", { class: "muted" }, "taken");
    // Who and what it is about first; a voicemail shows the number to call and its message.
    const who = [t.customer_name || (t.callback_number ? "Unknown caller" : ""), t.product].filter(Boolean).join(" · ");
    const about = h("td", {}, h("div", { class: "task-who" }, who),
      t.callback_number ? h("div", { class: "muted" }, "Call back " + t.callback_number) : "",
      h("div", { class: "muted task-summary" }, t.summary),
      t.kind === "voicemail" && t.cdr_id ? h("button", { "data-play": t.cdr_id, class: "small" }, "▶ Play message") : "");
    return h("tr", { "data-task": t.id }, h("td", {}, t.kind.replace(/_/g, " ")), about, h("td", {}, act));
  }) : h("tr", {}, h("td", { class: "muted" }, "No tasks.")));
  for (const b of document.querySelectorAll("[data-play]")) b.onclick = () => playMessage(b);
  for (const b of document.querySelectorAll("[data-claim]")) b.onclick = () => taskDo(`/api/v1/agent-tasks/${b.dataset.claim}/claim`, {});
  for (const b of document.querySelectorAll("[data-call]")) b.onclick = () => { $("taskResult").textContent = "calling…"; send({ type: "preview_dial", task: Number(b.dataset.call) }); };
  for (const b of document.querySelectorAll("[data-finish]")) b.onclick = () =>
    taskDo(`/api/v1/agent-tasks/${b.dataset.finish}/finish`, { outcome: document.querySelector(`[data-outcome="${b.dataset.finish}"]`).value });
}
// A voicemail's recording: fetched with the session's token (an <audio> element cannot send it),
// then played from a blob.
async function playMessage(button) {
  try {
    const r = await fetch(`/api/v1/cdrs/${button.dataset.play}/voicemail`, { headers: { "Authorization": "Bearer " + token } });
    if (!r.ok) throw new Error(r.status === 404 ? "the message is not there" : r.statusText);
    const audio = h("audio", { controls: "", src: URL.createObjectURL(await r.blob()), class: "message" });
    button.replaceWith(audio);
    window.desk.played = (window.desk.played || 0) + 1;
    audio.play().catch(() => {});
  } catch (e) { $("taskResult").textContent = "message: " + e.message; }
}
async function taskDo(path, body) {
  try { await api("POST", path, body); $("taskResult").textContent = ""; } catch (e) { $("taskResult").textContent = e.message; }
  loadTasks();
}
$("btnTasks").onclick = loadTasks;
setInterval(() => { if (token && !$("app").classList.contains("hidden")) loadTasks(); }, 30000);

function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }

async function start() {
  if (!(await Session.admit(token, ["agent", "supervisor", "admin"], "the agent desk"))) return;
  $("login").classList.add("hidden"); $("app").classList.remove("hidden");
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${proto}//${location.host}/api/v1/agent/ws?token=${encodeURIComponent(token)}`);
  ws.onmessage = (ev) => handle(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    if (ev.code === Session.SIGNED_OUT) { Session.ended("Your session ended. Please sign in again."); return; }
    $("phoneStatus").textContent = "disconnected — reconnecting"; setTimeout(start, 2000);
  };
}
$("btnSignOut").onclick = () => Session.signOut(token);
setInterval(() => send({ type: "ping" }), 20000);

function setState(s) {
  window.desk.state = s.state;
  const b = $("stateBadge"); b.className = "badge st-" + s.state;
  b.textContent = s.state.replace("_", " ") + (s.reason ? ` (${s.reason})` : "");
  $("pending").textContent = s.pending ? `next: ${s.pending}` : "";
  const was = window.desk.previous; window.desk.previous = s.state;
  if (s.state === "wrap_up") { wrapStarted = Date.now(); }
  // Wrap-up time over (the timer made the agent available): the form goes unless it holds
  // unsaved work, which stays with a warning until saved, discarded or the next call rings.
  if (was === "wrap_up" && s.state !== "wrap_up" && s.state !== "on_call" && !$("wrapCard").classList.contains("hidden")) {
    if (wrapDirty()) $("wrapResult").textContent = "Wrap-up time is over: save these notes now (or press Ready to discard).";
    else hideWrap();
  }
}
function wrapDirty() { return !window.desk.wrapSaved && ($("wrapNotes").value.trim() !== "" || $("wrapSubject").value.trim() !== ""); }
function hideWrap() {
  $("wrapCard").classList.add("hidden");
  $("wrapNotes").value = ""; $("wrapSubject").value = ""; $("wrapResult").textContent = "";
}

function handle(m) {
  switch (m.type) {
    case "hello":
      $("agentName").textContent = m.name;
      window.desk.userId = m.agent; loadTasks();
      // No queue is picked for the agent: a transfer names its target.
      fill($("transferQueue"), h("option", { value: "", selected: "" }, "— queue —"), m.queues.map((q) => h("option", { value: q }, q)));
      break;
    case "state": setState(m); break;
    case "queues":
      fill($("queues").tBodies[0], m.queues.map((q) =>
        h("tr", {}, h("td", {}, q.name), h("td", {}, q.waiting), h("td", {}, `${Math.round(q.longest_wait_seconds)} s`), h("td", {}, q.agents_available))));
      if (window.desk.state === "wrap_up" && wrapStarted) $("wrapTimer").textContent = `${Math.round((Date.now() - wrapStarted) / 1000)} s`;
      break;
    case "offer": offer(m); break;
    case "withdrawn":
      if (current && current.call === m.call && !current.answered) {
        // The caller hung up (or the call went to another agent) while it rang here.
        const at = new Date().toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
        $("missed").textContent = `Missed call from ${current.caller} at ${at}: it stopped ringing before it was answered.`;
        $("missed").classList.remove("hidden");
        window.desk.missed = (window.desk.missed || 0) + 1;
        current = null; $("ringing").classList.add("hidden");
      }
      break;
    case "connected":
      if (current && current.call === m.call) { current.connected = true; showCall(); }
      break;
    case "media":
      if (pc && current && current.call === m.call) {
        pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).then(() => { $("phoneStatus").textContent = "connecting audio…"; });
      }
      break;
    case "ended": ended(m); break;
    case "error": $("phoneStatus").textContent = "⚠ " + m.message; break;
  }
}

function offer(m) {
  const again = current && current.call === m.call;
  // A new call rings: the last call's form goes (its notes were saved or the time is over).
  if (!again) { hideWrap(); $("missed").classList.add("hidden"); window.desk.wrapSaved = false; }
  current = Object.assign(current && again ? current : {}, m);
  window.desk.offers.push({ call: m.call, caller: m.caller, invite_at_us: m.invite_at_us, received_ms: Date.now(), pop: !!m.pop });
  if (m.pop) window.desk.popAt = Date.now();
  $("ringCaller").textContent = m.caller;
  $("ringInfo").textContent = `${m.queue}${m.skills.length ? " · " + m.skills.join(", ") : ""} · waited ${Math.round(m.waited_seconds)} s${m.callback ? " · callback" : ""}`;
  renderPop(m);
  if (m.callback) { answer(); return; }
  if (!current.answered) $("ringing").classList.remove("hidden");
}

// The warranty state and what decided it: a mileage or hours limit, a contract, or the factory
// cover (with separate parts and labour dates when they differ).
function warrantyDetail(w) {
  const n = (x) => Number(x).toLocaleString("en-GB");
  switch (w.rule) {
    case "mileage_exceeded": return ` · ${n(w.actual_km)} km, limit ${n(w.limit_km)} km`;
    case "hours_exceeded": return ` · ${n(w.actual_hours)} h, limit ${n(w.limit_hours)} h`;
    case "no_coverage": return " · no cover";
    case "contract": return ` · ${w.name} until ${w.until}`;
    case "factory":
      if (w.parts_until !== w.labor_until) return ` · parts until ${w.parts_until} · labour until ${w.labor_until}`;
      return ` · until ${w.until}`;
    default: return w.until ? " · until " + w.until : "";
  }
}
// Where the factory warranty starts and the fact that decided it.
function warrantyStart(s) {
  if (!s) return "";
  switch (s.basis) {
    case "registered_sale": return `from the registered sale on ${s.sold_on}`;
    case "production_grace": return `from production ${s.produced_on} + ${s.grace_months} months (no sale registered)`;
    default: return `from the stated purchase date ${s.purchase_date}`;
  }
}
function warrantyBadge(w) {
  const label = { in_warranty: "In warranty", expiring_soon: "Expiring soon", expired: "Expired" }[w.state] || w.state;
  return h("span", {}, h("span", { class: `badge w-${w.state}` }, label, warrantyDetail(w)),
    h("div", { class: "muted warranty-start" }, warrantyStart(w.start)));
}

function renderPop(m) {
  const p = m.pop;
  customer = p ? p.customer : null;
  $("unknownCard").classList.toggle("hidden", !!p);
  $("findTitle").textContent = "Unknown caller";
  if (!p) { $("pop").classList.remove("muted"); fill($("pop"), h("div", { class: "big" }, m.caller), h("div", { class: "muted" }, "Not in the CRM. Search or create the customer."));
            $("searchBox").value = m.caller; $("newPhone").value = m.caller; fillAssets([]); return; }
  const c = p.customer;
  $("pop").classList.remove("muted");
  const none = (tag) => h(tag, {}, h(tag === "li" ? "span" : "td", { class: "muted" }, "none"));
  const rows = (list, row, tag = "tr") => (list.length ? list.map(row) : none(tag));
  const td = (...c) => h("td", {}, ...c);
  const section = (title, ...body) => [h("h2", { style: "margin-top:10px" }, title), ...body];
  fill($("pop"),
    h("div", { class: "big", id: "popName" }, c.name),
    h("div", { class: "muted" }, c.phones.map((x) => x.number).join(", "), c.email ? " · " + c.email : "",
      c.do_not_call ? [" · ", h("b", {}, "do not call")] : ""),
    section("Assets", h("table", { id: "popAssets" },
      h("tr", {}, h("th", {}, "Model"), h("th", {}, "Line"), h("th", {}, "Warranty")),
      p.assets.map((a) => h("tr", {}, td(a.model_name, h("div", { class: "muted" }, a.serial)), td(a.category), td(warrantyBadge(a.warranty)))))),
    section("Open service requests", h("table", {}, rows(p.open_tickets, (t) => h("tr", {}, td(`#${t.id}`), td(t.subject), td(t.status))))),
    section("Repair orders", h("table", {}, rows(p.repair_orders, (r) => h("tr", {}, td(`RO ${r.id}`), td(r.status), td(String(r.description).slice(0, 80)))))),
    section("Quotes", h("div", { id: "popQuotes" }, h("span", { class: "muted" }, "none"))),
    section("Recent contacts", h("table", {}, rows(p.recent_interactions, (i) => h("tr", {}, td(i.at.slice(0, 10)), td(i.kind), td(String(i.summary).slice(0, 120)))))),
    section("Suggested articles", h("ul", {}, rows(m.articles || [], (a) => h("li", {}, h("b", {}, a.title), " ", h("span", { class: "muted" }, String(a.body).slice(0, 100))), "li"))));
  fillAssets(p.assets);
  showQuotes(p.repair_orders);
}

// The latest quote of each open repair order. One waiting for the customer's yes is read out
// by the agent, who records the acceptance with a note of the call.
async function showQuotes(orders) {
  const open = orders.filter((r) => ["new", "assigned", "in_progress"].includes(r.status));
  const cards = [];
  for (const r of open) {
    const list = await api("GET", `/api/v1/repair-orders/${r.id}/quotes`).catch(() => []);
    if (list.length) cards.push(quoteCard(r, list[list.length - 1]));
  }
  if (cards.length) fill($("popQuotes"), cards);
  window.desk.quotesShown = cards.length;
}
function quoteCard(r, q) {
  const money = (m) => `${(m / 100).toFixed(2)} ${q.currency}`;
  const lines = h("table", {}, q.lines.map((l) => h("tr", {}, h("td", {}, l.description),
    h("td", { style: "text-align:right" }, l.covered ? "warranty" : money(l.gross_minor)))));
  const head = (state) => h("b", {}, `RO ${r.id} · quote v${q.version} · ${money(q.total_minor)} incl. tax · ${state}`);
  if (q.status !== "offered") return h("div", { "data-quote": q.id }, head(q.status), lines);
  const name = h("input", { "data-quote-name": q.id, value: customer ? customer.name : "", placeholder: "the customer's name", "aria-label": "customer's name" });
  const note = h("input", { "data-quote-note": q.id, placeholder: "what you read out and they agreed to", size: 36, "aria-label": "note of the call" });
  const result = h("span", { class: "muted", "data-quote-result": q.id });
  const button = h("button", { "data-quote-accept": q.id, onclick: async () => {
    try {
      const a = await api("POST", `/api/v1/repair-orders/${r.id}/quote/accept`, { quote_id: q.id, customer_name: name.value, note: note.value });
      result.textContent = `accepted on the phone: the technician may start`;
      button.disabled = true;
      window.desk.quoteAccepted = a.id;
    } catch (err) { result.textContent = "⚠ " + err.message; }
  } }, "Accepted on the phone");
  return h("div", { "data-quote": q.id }, head("waiting for the customer's yes"), lines, h("div", {}, name, " ", note, " ", button, " ", result));
}

function fillAssets(assets) {
  fill($("wrapAsset"), h("option", { value: "" }, "— asset —"), assets.map((a) => h("option", { value: a.id }, `${a.model_name} · ${a.serial}`)));
}

async function answer() {
  if (!current) return;
  current.answered = true;
  $("ringing").classList.add("hidden");
  $("phoneStatus").textContent = "starting softphone…";
  let sdp = null;
  try {
    localStream = localStream || await navigator.mediaDevices.getUserMedia({ audio: true });
    pc = new RTCPeerConnection({ iceServers: [] });
    localStream.getTracks().forEach((t) => pc.addTrack(t, localStream));
    pc.ontrack = (ev) => { $("remoteAudio").srcObject = ev.streams[0] || new MediaStream([ev.track]); meter(ev.track); };
    pc.onconnectionstatechange = () => { $("phoneStatus").textContent = "audio: " + pc.connectionState; window.desk.media = pc.connectionState; };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((res) => { if (pc.iceGatheringState === "complete") res(); else { pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && res(); setTimeout(res, 2000); } });
    sdp = pc.localDescription.sdp;
  } catch (err) { $("phoneStatus").textContent = "no microphone: " + err.message; }
  send({ type: "answer", call: current.call, sdp });
}

function meter(track) {
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(new MediaStream([track]));
  const an = ctx.createAnalyser(); an.fftSize = 2048; src.connect(an);
  const buf = new Float32Array(an.fftSize);
  const tick = () => {
    an.getFloatTimeDomainData(buf);
    let e = 0; for (const v of buf) e += v * v; e = Math.sqrt(e / buf.length);
    window.desk.rxEnergy = e; window.desk.rxPeak = Math.max(window.desk.rxPeak, e);
    $("rxMeter").style.width = Math.min(100, e * 400) + "%";
    if (pc) requestAnimationFrame(tick); else ctx.close();
  };
  tick();
}

function showCall() {
  $("callCard").classList.remove("hidden"); $("wrapCard").classList.add("hidden");
  $("callCaller").textContent = current.caller + (customer ? " — " + customer.name : "");
  $("callInfo").textContent = `${current.queue} · ${current.ivr_path || ""}`;
  onHold = false; muted = false; $("btnHold").textContent = "Hold"; $("btnMute").textContent = "Mute";
}

function ended(m) {
  window.desk.lastEnded = m;
  if (pc) { pc.close(); pc = null; }
  $("phoneStatus").textContent = "call ended (" + m.by + ")";
  $("callCard").classList.add("hidden"); $("ringing").classList.add("hidden");
  $("wrapCard").classList.remove("hidden"); $("wrapResult").textContent = "";
  current = Object.assign(current || {}, { ended: true, call_id: m.call_id });
}

$("btnAnswer").onclick = answer;
$("btnDecline").onclick = () => { if (current) send({ type: "decline", call: current.call }); current = null; $("ringing").classList.add("hidden"); };
$("btnHangup").onclick = () => send({ type: "hangup" });
$("btnHold").onclick = () => { onHold = !onHold; send({ type: "hold", on: onHold }); $("btnHold").textContent = onHold ? "Resume" : "Hold"; };
$("btnMute").onclick = () => { muted = !muted; localStream && localStream.getAudioTracks().forEach((t) => (t.enabled = !muted)); $("btnMute").textContent = muted ? "Unmute" : "Mute"; };
$("btnTransfer").onclick = () => {
  if (!$("transferQueue").value) { $("phoneStatus").textContent = "pick the queue to transfer to"; return; }
  send({ type: "transfer", queue: $("transferQueue").value });
};
$("btnAvailable").onclick = () => send({ type: "state", state: "available" });
$("btnBreak").onclick = () => send({ type: "state", state: "break", reason: $("breakReason").value });
$("btnLogout").onclick = () => send({ type: "state", state: "logged_out" });
$("btnReady").onclick = () => { send({ type: "wrap_up_done" }); hideWrap(); };
"123456789*0#".split("").forEach((d) => { const b = document.createElement("button"); b.textContent = d; b.onclick = () => send({ type: "dtmf", digits: d }); $("keypad").appendChild(b); });

$("btnSaveWrap").onclick = async () => {
  if (!current || !current.call_id) { $("wrapResult").textContent = "no call to file"; return; }
  if (!customer) { $("wrapResult").textContent = "pick or create the customer first"; return; }
  const body = { call_id: current.call_id, customer_id: customer.id, disposition: $("disposition").value, notes: $("wrapNotes").value };
  if ($("wrapSubject").value) body.subject = $("wrapSubject").value;
  if ($("wrapAsset").value) body.asset_id = Number($("wrapAsset").value);
  try {
    const r = await api("POST", "/api/v1/desk/wrap-up", body);
    $("wrapResult").textContent = "Saved" + (r.ticket ? ` · service request #${r.ticket.id}` : "") + (r.repair_order ? ` · repair order ${r.repair_order.id}` : "");
    window.desk.wrapUp = r; window.desk.wrapSaved = true;
    if (r.repair_order) await showVisit(r.repair_order);
  } catch (err) { $("wrapResult").textContent = "⚠ " + err.message; }
};

// What the agent tells the caller before hanging up: who comes and when, or why nobody is booked yet.
async function showVisit(ro) {
  let line;
  if (ro.technician_id) {
    const techs = await api("GET", "/api/v1/technicians" + (ro.station_id ? "?station_id=" + ro.station_id : "")).catch(() => []);
    const t = techs.find((x) => x.id === ro.technician_id);
    const when = ro.appointment ? `${fmtTime(ro.appointment.from)}–${fmtTime(ro.appointment.to, true)}`
      : ro.scheduled_for ? fmtTime(ro.scheduled_for) : "day not planned yet";
    line = `Technician: ${t ? t.name : "#" + ro.technician_id} · visit ${when}`;
  } else {
    line = "No technician yet" + (ro.unassigned_reason ? ` (${ro.unassigned_reason.replace(/_/g, " ")})` : "") + ": dispatch will plan it.";
  }
  $("wrapVisit").textContent = line;
  window.desk.visit = line;
}
function fmtTime(iso, timeOnly) {
  const d = new Date(iso);
  const opts = timeOnly ? { hour: "2-digit", minute: "2-digit" } : { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return d.toLocaleString("en-GB", opts);
}

// Outside a call (an e-mail, a customer's yes to a quote on another line): find the customer.
$("btnFind").onclick = () => {
  $("findTitle").textContent = "Find a customer";
  $("unknownCard").classList.remove("hidden");
  $("searchBox").focus();
};
$("btnSearch").onclick = async () => {
  try {
    const list = await api("GET", "/api/v1/customers?q=" + encodeURIComponent($("searchBox").value));
    fill($("searchResults").tBodies[0], list.length ? list.map((c) => h("tr", {}, h("td", {}, c.name), h("td", {}, c.phones.map((p) => p.number).join(", ")),
      h("td", {}, h("button", { "data-id": c.id }, "Use")))) : h("tr", {}, h("td", { class: "muted" }, "no match")));
    $("searchResults").querySelectorAll("button").forEach((b) => (b.onclick = () => pick(Number(b.dataset.id))));
  } catch (err) { fill($("searchResults").tBodies[0], h("tr", {}, h("td", {}, "⚠ " + err.message))); }
};
async function pick(id) {
  const c = await api("GET", "/api/v1/customers/" + id);
  const phone = c.phones.length ? c.phones[0].number : null;
  const pop = (phone && await api("GET", "/api/v1/screen-pop?phone=" + encodeURIComponent(phone)).catch(() => null))
    || { customer: c, assets: [], open_tickets: [], repair_orders: [], recent_interactions: [] };
  renderPop(Object.assign({}, current || { caller: "" }, { pop, articles: [] }));
}
$("btnCreate").onclick = async () => {
  try {
    const c = await api("POST", "/api/v1/customers", { name: $("newName").value, phones: [{ number: $("newPhone").value }] });
    $("createResult").textContent = `Created customer ${c.id}`;
    await pick(c.id);
  } catch (err) { $("createResult").textContent = "⚠ " + err.message; }
};

if (token) start();
