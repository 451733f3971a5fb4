// Signing in and out, shared by the pages. Before a page starts it asks `Session.admit`: a token
// of a role the page is not for is told so (and dropped) instead of "reconnecting…" for ever;
// one that no longer works shows the sign-in form. A WebSocket closed with code 4401 means the
// session ended (signed out, here or elsewhere, or expired): the page shows the sign-in form.
const Session = {
  key: "aftercare.token",
  SIGNED_OUT: 4401,

  // Exchange a username and password for a token (kept for this tab); throws with the
  // server's message (wrong password, too many attempts …).
  async signIn(username, password) {
    const r = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.message || "sign-in failed");
    this.leaving = false;
    sessionStorage.setItem(this.key, data.token);
    return data.token;
  },

  stored() {
    return new URLSearchParams(location.search).get("token") || sessionStorage.getItem(this.key);
  },

  async admit(token, roles, page) {
    const r = await fetch("/api/v1/me", { headers: { Authorization: "Bearer " + token } }).catch(() => null);
    if (!r) return null;
    if (r.status === 401) { this.ended("Your session has ended. Please sign in again."); return null; }
    const me = await r.json().catch(() => null);
    if (!r.ok || !me) return null;
    if (!roles.includes(me.role)) {
      this.ended(`You are signed in as ${me.username}, a ${me.role}: ${page} is for ${roles.join(", ")}.`);
      return null;
    }
    return me;
  },

  ended(message) {
    // Our own sign-out closes the page's socket too: say what the user did.
    if (this.leaving) message = "Signed out.";
    sessionStorage.removeItem(this.key);
    if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);
    document.getElementById("app").classList.add("hidden");
    document.getElementById("login").classList.remove("hidden");
    document.getElementById("loginError").textContent = message;
    window.signedOut = message;
  },

  async signOut(token) {
    this.leaving = true;
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + token } }).catch(() => null);
    this.ended("Signed out.");
  },
};
