"use strict";
// What the service-network pages share: the signed-in fetch, money and status badges, tables,
// CSV downloads and the sign-in form. Loaded after dom.js and session.js.
const $ = (id) => document.getElementById(id);
const Net = {
  token: Session.stored(),

  async api(path, opts = {}) {
    const r = await fetch(path, { ...opts, headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", ...(opts.headers || {}) } });
    if (r.status === 401) Session.ended("Your session has ended. Please sign in again.");
    return r;
  },

  // A write; on refusal the server's message (naming the field) goes to the page's error line.
  async send(method, path, body) {
    $("error").textContent = ""; $("done").textContent = "";
    const r = await this.api(path, { method, body: JSON.stringify(body || {}) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) { $("error").textContent = `${data.field ? data.field + ": " : ""}${data.message || r.status}`; return null; }
    return data;
  },

  money(minor, currency) {
    return minor == null ? "–" : `${(minor / 100).toFixed(2)}${currency ? " " + currency : ""}`;
  },

  badge(text, kind) { return h("span", { class: `badge ${kind || ""}` }, String(text).replaceAll("_", " ")); },

  status(s) {
    const kind = { approved: "ok", decided: "ok", settled: "ok", accepted: "ok", inspected: "ok", cut: "warn", appealed: "warn",
      in_review: "warn", requested: "warn", shipped: "warn", received: "warn", rejected: "bad", suspended: "bad", terminated: "bad" }[s];
    return this.badge(s, kind);
  },

  table(head, rows, opts = {}) {
    return h("table", {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", { class: opts.num && opts.num.includes(c) ? "num" : "" }, c)))),
      h("tbody", {}, rows.map((r, i) => h("tr", { class: opts.pick ? "pick" : "", "data-row": i, onclick: opts.pick ? () => opts.pick(i) : null },
        r.map((c, j) => h("td", { class: opts.num && opts.num.includes(head[j]) ? "num" : "" }, c))))));
  },

  async download(path, name) {
    const r = await this.api(path);
    if (!r.ok) { $("error").textContent = (await r.json()).message; return; }
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a"); a.href = url; a.download = name; a.click(); URL.revokeObjectURL(url);
  },

  when(t) { return t ? new Date(t).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–"; },

  // Sign-in, then `start(me)` once the token is of one of `roles`.
  boot(roles, page, start) {
    $("loginForm").onsubmit = async (e) => {
      e.preventDefault();
      try { this.token = await Session.signIn($("username").value, $("password").value); go(); }
      catch (err) { $("loginError").textContent = err.message; }
    };
    const go = async () => {
      const me = await Session.admit(this.token, roles, page);
      if (!me) return;
      $("login").classList.add("hidden"); $("app").classList.remove("hidden");
      $("who").textContent = me.display_name;
      $("signOut").onclick = () => Session.signOut(this.token);
      start(me);
    };
    if (this.token) go(); else $("login").classList.remove("hidden");
  },

  tabs(show) {
    for (const b of document.querySelectorAll("#tabs button")) {
      b.onclick = () => {
        for (const x of document.querySelectorAll("#tabs button")) x.classList.toggle("on", x === b);
        show(b.dataset.tab);
      };
    }
  },
};
