// Sitebox technician page. Loads the snapshot once, then applies what the server pushes over
// the WebSocket; it never polls. The socket reconnects by itself and the server sends the
// whole snapshot again on every (re)connect, so a gap is always filled.
"use strict";

const state = { csrf: "", me: null, role: "", data: {}, ws: null, backoff: 1000, skewMs: 0, events: [] };
const $ = (selector) => document.querySelector(selector);

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!response.ok) {
    const error = new Error((data && data.error) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- formatting ----
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0; let v = Number(n);
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i ? v.toFixed(1) : v) + " " + units[i];
}
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}
function boxNow() { return Date.now() + state.skewMs; }
function ago(ms) { return ms ? duration((boxNow() - ms) / 1000) + " ago" : "never"; }
function clock(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–"; }
function money(minor, currency) { return (minor / 100).toFixed(2) + " " + esc(currency); }

// ---- rendering ----
function rows(selector, items, row, empty) {
  const body = $(selector + " tbody");
  body.innerHTML = items && items.length ? items.map(row).join("")
    : `<tr><td colspan="9" class="muted">${esc(empty)}</td></tr>`;
}

function renderStatus(status) {
  if (!status) return;
  const box = status.box;
  state.skewMs = box.now - Date.now();
  $("#site").textContent = box.site ? `Sitebox · ${box.site}` : "Sitebox";
  const skew = Math.round(state.skewMs / 100) / 10;
  const cloudSkew = status.sync.skew_ms === null || status.sync.skew_ms === undefined ? "–" : (status.sync.skew_ms / 1000).toFixed(1) + " s";
  $("#box").innerHTML = [
    ["Uptime", duration(box.uptime_s)],
    ["Box clock", box.clock_trusted === false
      ? `${clock(box.now)} <span class="down">not synchronised: running on the box's own timeline</span>`
      : `${clock(box.now)}`],
    ["Skew vs this phone", `${skew > 0 ? "+" : ""}${skew} s`],
    ["Skew vs cloud (last ack)", cloudSkew],
    ["Disk free", box.disk_total ? `${bytes(box.disk_free)} of ${bytes(box.disk_total)}` : "–"],
    ["Memory (RSS)", bytes(box.rss_bytes)],
    ["Version", esc(box.version)],
  ].map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");

  const radius = status.radius;
  rows("#nas", radius ? radius.nas : [], (n) =>
    `<tr><td>${esc(n.nas)}</td><td class="num">${n.accepts}</td><td class="num">${n.rejects}</td><td class="num">${n.acct_writes}</td><td class="num">${n.drops}</td></tr>`,
    radius ? "no requests yet" : "RADIUS is off");
  $("#rejects").innerHTML = radius && radius.top_rejects.length
    ? radius.top_rejects.map((r) => `<li>${esc(r.reason.replace(/_/g, " "))}: <b>${r.count}</b></li>`).join("")
    : `<li class="muted">no rejects</li>`;

  rows("#queues", status.queues, (q) =>
    `<tr><td>${esc(q.queue)}</td><td class="num">${q.due}</td><td class="num">${q.scheduled}</td><td class="num">${q.running}</td><td class="num ${q.failed ? "warn" : ""}">${q.failed}</td><td>${q.oldest_due_ms ? duration(q.oldest_due_ms / 1000) : "–"}</td></tr>`,
    "no jobs yet");

  const sync = status.sync;
  $("#sync-facts").innerHTML = [
    ["Broker", sync.connected ? `<span class="up">connected</span>` : `<span class="down">not connected</span>`],
    ...sync.backlog.map((l) => [`Backlog · ${esc(l.lane)}`, `${l.unacked} event(s)`]),
    ["Oldest unsent", sync.oldest_unsent_ms ? duration(sync.oldest_unsent_ms / 1000) + " old" : "none"],
    ["Last ack", ago(sync.last_ack)],
    ["Cloud has up to", `seq ${sync.cloud_cursor} of ${sync.last_seq}`],
  ].map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
}

function renderRouters(routers) {
  if (!routers) return;
  rows("#routers", routers, (r) => {
    const facts = [];
    if (r.ros_version) facts.push("RouterOS " + esc(r.ros_version));
    if (r.latency_ms !== null && r.latency_ms !== undefined) facts.push(r.latency_ms + " ms");
    if (r.active_sessions !== null && r.active_sessions !== undefined) facts.push(r.active_sessions + " online");
    if (r.last_seen_at) facts.push("seen " + ago(r.last_seen_at));
    if (!r.managed) facts.push("RADIUS only");
    const error = r.last_error || r.status_detail;
    return `<tr data-router="${esc(r.name)}"><td>${esc(r.name)}${r.state === "disabled" ? ' <span class="muted">(disabled)</span>' : ""}</td>` +
      `<td class="${esc(r.status)}">${esc(r.status)}</td><td>${facts.join(" · ")}${error ? '<br><span class="down">' + esc(error) + "</span>" : ""}</td></tr>`;
  }, "no routers: add one with `siteboxd routers add`");
  const select = $("#diag-router");
  const chosen = select.value;
  select.innerHTML = routers.map((r) => `<option>${esc(r.name)}</option>`).join("");
  if (chosen) select.value = chosen;
}

function renderSessions(sessions) {
  if (!sessions) return;
  $("#session-count").textContent = `(${sessions.length})`;
  rows("#sessions", sessions, (s) => {
    const left = [];
    if (s.expires_at) left.push(duration((s.expires_at - boxNow()) / 1000));
    if (s.time_left_s !== null) left.push(duration(s.time_left_s) + " online");
    if (s.data_left !== null) left.push(bytes(s.data_left));
    // What is left comes first after the name: on a phone the row's far end is off-screen.
    return `<tr data-user="${esc(s.username)}"><td>${esc(s.username)}<br><button class="small danger act" data-kick="${s.id}" type="button">Kick</button></td>` +
      `<td>${left.join("<br>") || "–"}</td>` +
      `<td>${duration(s.session_time_s || (boxNow() - s.started_at) / 1000)}</td><td>${bytes(s.octets)}</td>` +
      `<td>${esc(s.framed_ip || "")}<br><span class="muted">${esc(s.mac || "")}</span></td><td>${esc(s.router)}</td></tr>`;
  }, "nobody online");
}

function renderFailed(failed) {
  if (!failed) return;
  rows("#failed", failed, (j) =>
    `<tr data-job="${j.id}"><td>#${j.id} ${esc(j.kind)}<br><span class="muted">${esc(j.queue)} · ${j.attempts} attempt(s)</span><br>` +
    `<button class="small act" data-retry="${j.id}" type="button">Retry</button> ` +
    `<button class="small quiet act" data-discard="${j.id}" type="button">Discard</button></td>` +
    `<td class="err">${esc(j.error)}</td><td>${ago(j.failed_at)}</td></tr>`,
    "no failed jobs");
}

function renderPayments(payments) {
  if (!payments) return;
  rows("#unprovisioned", payments, (p) =>
    `<tr><td>${esc(p.receipt)}<br><span class="muted">${esc(p.provider)}</span></td><td class="num">${money(p.amount, p.currency)}</td>` +
    `<td>${esc(p.phone || "")}</td><td>${esc(p.reason || (p.state === "applied" ? "no subscription" : p.state))}</td><td>${ago(p.received_at)}</td></tr>`,
    "none: every payment granted its plan");
}

function renderLog(lines) {
  if (!lines) return;
  const pre = $("#log-lines");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = lines.join("\n");
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

function renderEvents() {
  $("#events").innerHTML = state.events.length
    ? state.events.map((e) => `<li>${clock(e.occurred_at).slice(11, 19)} ${esc(e.type)} ${esc(e.subject)}</li>`).join("")
    : `<li class="muted">nothing yet</li>`;
}

function apply(parts) {
  Object.assign(state.data, parts);
  if (parts.status) renderStatus(parts.status);
  if (parts.routers) renderRouters(parts.routers);
  if (parts.sessions) renderSessions(parts.sessions);
  if (parts.failed) renderFailed(parts.failed);
  if (parts.payments) renderPayments(parts.payments);
  if (parts.log) renderLog(parts.log);
}

// ---- live updates ----
function setLink(on) {
  const link = $("#link");
  link.textContent = on ? "live" : "reconnecting…";
  link.className = "link " + (on ? "on" : "off");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws`);
  state.ws = ws;
  ws.onopen = () => { state.backoff = 1000; setLink(true); };
  ws.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "snapshot") { state.data = {}; apply(frame.data); }
    else if (frame.type === "parts") apply(frame.data);
    else if (frame.type === "event") {
      state.events.unshift(frame.event);
      state.events.length = Math.min(state.events.length, 25);
      renderEvents();
    }
  };
  ws.onclose = async () => {
    if (state.ws !== ws) return;
    setLink(false);
    state.ws = null;
    // Closed because the login ended? Then back to the login form.
    try { await api("GET", "/session"); } catch (error) {
      if (error.status === 401) { showLogin(); return; }
    }
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 15000);
  };
}

// ---- views ----
function showLogin() {
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
  $("#dashboard").classList.add("hidden");
  $("#logout").classList.add("hidden");
  $("#me").textContent = "";
  $("#login-view").classList.remove("hidden");
  setLink(false);
  $("#name").focus();
}

async function showDashboard(session) {
  state.csrf = session.csrf; state.me = session.name; state.role = session.role;
  document.body.classList.toggle("readonly", session.role !== "operator");
  $("#me").textContent = `${session.name} (${session.role})`;
  $("#login-view").classList.add("hidden");
  $("#logout").classList.remove("hidden");
  $("#dashboard").classList.remove("hidden");
  apply(await api("GET", "/snapshot"));
  renderEvents();
  connect();
}

async function act(button, method, path, body, after) {
  button.disabled = true;
  try {
    const result = await api(method, path, body);
    if (after) after(result);
  } catch (error) {
    alert(`${path}: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

function wire() {
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#login-error").textContent = "";
    try {
      const session = await api("POST", "/login", { name: $("#name").value, password: $("#password").value });
      $("#password").value = "";
      await showDashboard(session);
    } catch (error) {
      $("#login-error").textContent = error.message;
    }
  });
  $("#logout").addEventListener("click", async () => {
    try { await api("POST", "/logout", {}); } finally { showLogin(); }
  });
  document.addEventListener("click", (event) => {
    const b = event.target.closest("button");
    if (!b) return;
    if (b.dataset.kick && confirm("Disconnect this session?")) {
      act(b, "POST", "/sessions/kick", { session_id: Number(b.dataset.kick) });
    } else if (b.dataset.retry) {
      act(b, "POST", "/jobs/retry", { job_id: Number(b.dataset.retry) });
    } else if (b.dataset.discard && confirm("Delete this failed job for good?")) {
      act(b, "POST", "/jobs/discard", { job_id: Number(b.dataset.discard) });
    }
  });
  $("#receipt-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("#receipt-result");
    try {
      const p = await api("GET", "/payments?receipt=" + encodeURIComponent($("#receipt").value.trim()));
      out.innerHTML = `<p><b>${esc(p.receipt)}</b> ${money(p.amount, p.currency)} · ${esc(p.provider)} · ${esc(p.phone || "")} · ` +
        `<span class="${p.state === "applied" ? "up" : "down"}">${esc(p.state)}</span>${p.reason ? " · " + esc(p.reason) : ""}` +
        `${p.subscription_id ? " · subscription #" + p.subscription_id : ""} · ${clock(p.received_at)}</p>`;
    } catch (error) {
      out.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  });
  $("#voucher-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("#voucher-result");
    try {
      const batch = await api("POST", "/vouchers", { plan: $("#voucher-plan").value.trim(), count: Number($("#voucher-count").value) });
      out.innerHTML = `<p>Batch <b>${esc(batch.batch)}</b>: ${batch.codes.length} voucher(s). ` +
        `<a href="/api/v1/vouchers/sheet?batch=${encodeURIComponent(batch.batch)}" target="_blank" rel="noopener">Print sheet</a></p>` +
        `<div class="codes">${batch.codes.map((c) => `<span>${esc(c)}</span>`).join("")}</div>`;
    } catch (error) {
      out.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  });
  $("#subscriber-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const found = await api("GET", "/subscribers?q=" + encodeURIComponent($("#subscriber-q").value.trim()));
      rows("#subscriber-results", found, (s) => {
        const sub = s.subscription;
        const plan = sub ? `${esc(sub.state)}${sub.expires_at ? " until " + clock(sub.expires_at) : ""}` : "no plan";
        return `<tr><td>${esc(s.username)}</td><td>${esc(s.kind)}</td><td>${esc(s.phone || "")}</td><td>${esc(s.state)}</td><td>${plan}</td><td>${s.open_sessions}</td></tr>`;
      }, "nobody matches");
    } catch (error) {
      rows("#subscriber-results", [], null, error.message);
    }
  });
  $("#router-login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("#diag-result");
    out.innerHTML = `<p class="muted">asking ${esc($("#diag-router").value)}…</p>`;
    try {
      const r = await api("POST", "/diagnostics/router-login", { router: $("#diag-router").value });
      out.innerHTML = r.ok
        ? `<p class="up">${esc(r.router)} (${esc(r.identity)}): logged in in ${r.login_ms.toFixed(1)} ms, round trip ${r.round_trip_ms.toFixed(1)} ms, RouterOS ${esc(r.version)} on ${esc(r.board || "?")}, up ${esc(r.uptime || "?")}</p>`
        : `<p class="down">${esc(r.router)}: ${esc(r.error)}</p>`;
    } catch (error) {
      out.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  });
}

function wireRadiusTest() {
  $("#radius-test-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("#radius-result");
    out.innerHTML = `<p class="muted">asking the RADIUS server…</p>`;
    try {
      const r = await api("POST", "/diagnostics/radius-auth", { username: $("#radius-user").value, password: $("#radius-password").value });
      $("#radius-password").value = "";
      out.innerHTML = r.ok
        ? `<p class="${r.answer === "Access-Accept" ? "up" : "down"}">${esc(r.answer)}${r.reply_message ? ": " + esc(r.reply_message) : ""}` +
          `${r.session_timeout_s ? " · Session-Timeout " + duration(r.session_timeout_s) : ""} · ${r.elapsed_ms.toFixed(1)} ms</p>`
        : `<p class="down">${esc(r.error)}</p>`;
    } catch (error) {
      out.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  });
}

function wireReprovision() {
  $("#reprovision").addEventListener("click", async () => {
    const router = $("#diag-router").value;
    if (!router || !confirm(`Queue ${router}'s RADIUS settings and every subscriber for provisioning?`)) return;
    const out = $("#diag-result");
    try {
      const r = await api("POST", "/routers/reprovision", { router });
      out.innerHTML = `<p class="up">${esc(r.router)}: RADIUS configuration and ${r.subscriber_jobs} subscriber(s) queued</p>`;
    } catch (error) {
      out.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  });
}

async function boot() {
  wire();
  wireReprovision();
  wireRadiusTest();
  try {
    await showDashboard(await api("GET", "/session"));
  } catch (error) {
    if (error.status === 401) showLogin();
    else document.body.textContent = "Sitebox: " + error.message;
  }
}

document.addEventListener("DOMContentLoaded", boot);
