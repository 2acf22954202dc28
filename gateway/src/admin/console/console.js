// The s3store admin console: renders one page from the admin API (/admin/v1). The admin token
// is typed once per tab and kept in sessionStorage; every request sends it as a bearer token.
// Data from the cluster is always put into the page as text, never as HTML.
"use strict";

const API = "/admin/v1";
const TOKEN = "s3store-admin-token";
const page = document.body.dataset.page;
const content = document.getElementById("content");
const errorLine = document.getElementById("error");
let refreshTimer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else if (k === "width") node.style.width = v; // CSSOM: the CSP allows no style attributes
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN) };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, init);
  if (r.status === 401) throw new Unauthorized("the admin token was not accepted");
  if (r.status === 204) return null;
  const answer = await r.json();
  if (!r.ok) throw new Error(answer.message || r.statusText);
  return answer;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
}

function ago(ms) {
  if (!ms) return "never";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function table(headings, rows, id) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows));
}

function card(label, value, id) {
  return el("div", { class: "card", id }, el("div", { class: "label", text: label }),
    el("div", { class: "value", text: value }));
}

function showError(e) {
  if (e instanceof Unauthorized) { signOut(e.message); return; }
  errorLine.textContent = e.message;
  errorLine.hidden = false;
}

function clearError() { errorLine.hidden = true; errorLine.textContent = ""; }

// Runs an action of a form or button, then renders the page again.
function act(fn) {
  return async (event) => {
    if (event) event.preventDefault();
    clearError();
    try { await fn(event); await render(); } catch (e) { showError(e); }
  };
}

// ---- Cluster health ----
async function clusterPage() {
  const [status, jobs] = await Promise.all([api("GET", "/cluster"), api("GET", "/jobs")]);
  const zones = [...new Set(status.nodes.map((n) => n.zone))].sort();
  const rebalance = jobs.find((j) => j.name === "rebalance");
  const moving = status.moving_from === null
    ? "no data moving"
    : "moving data from epoch " + status.moving_from + " (" + (rebalance && rebalance.detail || "") + ")";
  const rows = status.nodes.map((n) => el("tr", { "data-node": n.id },
    el("td", { text: n.id }), el("td", { text: n.address }), el("td", { text: n.zone }),
    el("td", { class: "num", text: n.weight }), el("td", { text: n.role }),
    el("td", { class: n.up ? "up" : "down", text: n.up ? "up" : "DOWN" }),
    el("td", { class: "num", text: n.hints === null ? "–" : n.hints }),
    el("td", { class: "num", text: bytes(n.bytes) }),
    el("td", { class: "num", text: n.versions === null ? "–" : n.versions })));
  const moves = rebalance ? rebalance.gateways.map((g) => el("li", {},
    g.gateway + ": " + (g.running ? "pass under way since " + ago(g.started_ms)
      : "last pass " + ago(g.finished_ms) + ": " + g.summary))) : [];
  return [
    el("div", { class: "cards" },
      card("Nodes up", status.nodes_up + " of " + status.nodes.length, "nodes-up"),
      card("Map epoch", status.epoch, "epoch"),
      card("Replication", "n=" + status.replication.n + " w=" + status.replication.w + " r=" + status.replication.r),
      card("Zones", zones.length + " (" + zones.join(", ") + ")", "zones"),
      card("Hints held", status.hints, "hints")),
    el("h2", { text: "Nodes" }),
    table(["Node", "Address", "Zone", "Weight", "Role", "State", "Hints", "Stored", "Versions"], rows, "nodes"),
    el("h2", { text: "Data movement" }),
    el("p", { id: "moving", text: moving }),
    el("ul", { id: "move-progress" }, moves),
  ];
}

// ---- Buckets ----
function quotaCell(b) {
  if (!b.quota) return el("span", { class: "muted", text: "none" });
  const parts = [];
  if (b.quota.max_bytes !== null) {
    const pct = Math.min(100, (100 * b.bytes) / Math.max(1, b.quota.max_bytes));
    parts.push(el("div", {}, bytes(b.bytes) + " of " + bytes(b.quota.max_bytes),
      el("div", { class: "bar" }, el("div", { width: pct.toFixed(0) + "%" }))));
  }
  if (b.quota.max_objects !== null) parts.push(el("div", {}, b.objects + " of " + b.quota.max_objects + " objects"));
  return parts;
}

function policyCell(b) {
  if (!b.policy) return el("span", { class: "muted", text: "none" });
  return b.policy.statements + (b.policy.statements === 1 ? " statement" : " statements") +
    (b.policy.public ? ", public" : "");
}

async function bucketsPage() {
  const buckets = await api("GET", "/buckets");
  const rows = buckets.map((b) => el("tr", { "data-bucket": b.name },
    el("td", { text: b.name }), el("td", { text: b.owner }),
    el("td", { class: "num", text: b.objects }), el("td", { class: "num", text: bytes(b.bytes) }),
    el("td", {}, quotaCell(b)), el("td", {}, policyCell(b)),
    el("td", { text: b.public_read ? "yes" : "no" }),
    el("td", { text: b.default_encryption || "SSE-S3" }),
    el("td", { text: b.website ? "yes" : "no" })));
  const names = buckets.map((b) => el("option", { value: b.name, text: b.name }));
  const quotaForm = el("form", { class: "inline", id: "quota-form", onsubmit: act(async () => {
    const number = (id) => {
      const v = document.getElementById(id).value.trim();
      return v === "" ? null : Number(v);
    };
    const bucket = document.getElementById("quota-bucket").value;
    const quota = { max_bytes: number("quota-bytes"), max_objects: number("quota-objects") };
    if (quota.max_bytes === null && quota.max_objects === null) {
      await api("DELETE", "/buckets/" + encodeURIComponent(bucket) + "/quota");
    } else {
      await api("PUT", "/buckets/" + encodeURIComponent(bucket) + "/quota", quota);
    }
  }) },
    el("label", { for: "quota-bucket", text: "Bucket" }), el("select", { id: "quota-bucket" }, names),
    el("label", { for: "quota-bytes", text: "Max bytes" }), el("input", { id: "quota-bytes", type: "number", min: "0" }),
    el("label", { for: "quota-objects", text: "Max objects" }), el("input", { id: "quota-objects", type: "number", min: "0" }),
    el("button", { type: "submit", class: "primary", id: "quota-set", text: "Set quota" }),
    el("span", { class: "muted", text: "both empty removes the quota" }));
  return [
    el("div", { class: "cards" }, card("Buckets", buckets.length, "bucket-count"),
      card("Objects", buckets.reduce((s, b) => s + b.objects, 0)),
      card("Stored", bytes(buckets.reduce((s, b) => s + b.bytes, 0)))),
    el("h2", { text: "Buckets" }),
    table(["Bucket", "Owner", "Objects", "Bytes", "Quota", "Policy", "Public read", "Default encryption", "Website"], rows, "buckets"),
    el("h2", { text: "Quota" }), buckets.length ? quotaForm : el("p", { class: "muted", text: "no buckets yet" }),
  ];
}

// ---- Keys and grants ----
let lastCreated = null;

async function keysPage() {
  const [keys, buckets] = await Promise.all([api("GET", "/keys"), api("GET", "/buckets")]);
  const rows = keys.map((k) => el("tr", { "data-key": k.id },
    el("td", { text: k.id }),
    el("td", {}, Object.keys(k.grants).length === 0 ? el("span", { class: "muted", text: "no grants" }) :
      Object.entries(k.grants).map(([bucket, role]) => el("span", { class: "grant" }, bucket + ": " + role,
        el("button", { type: "button", class: "danger", "data-revoke": k.id + "/" + bucket, text: "Revoke",
          onclick: act(() => api("DELETE", "/keys/" + encodeURIComponent(k.id) + "/grants/" + encodeURIComponent(bucket))) })))),
    el("td", {}, el("button", { type: "button", class: "danger", "data-delete": k.id, text: "Delete key",
      onclick: (event) => {
        const b = event.target;
        if (b.dataset.armed) return act(() => api("DELETE", "/keys/" + encodeURIComponent(k.id)))(event);
        b.dataset.armed = "1";
        b.textContent = "Confirm delete";
      } }))));
  const created = lastCreated ? el("div", { class: "secret", id: "created-key" },
    "Access key ", el("strong", { text: lastCreated.id }), " — secret ",
    el("code", { id: "created-secret", text: lastCreated.secret }), " (shown once: copy it now)") : null;
  const createForm = el("form", { class: "inline", id: "create-form", onsubmit: act(async () => {
    const id = document.getElementById("new-key-id").value.trim();
    lastCreated = await api("POST", "/keys", id ? { id } : {});
  }) },
    el("label", { for: "new-key-id", text: "Key id (optional)" }),
    el("input", { id: "new-key-id", pattern: "[A-Za-z0-9]{1,128}" }),
    el("button", { type: "submit", class: "primary", id: "create-key", text: "Create key" }));
  const grantForm = el("form", { class: "inline", id: "grant-form", onsubmit: act(async () => {
    const id = document.getElementById("grant-key").value;
    const bucket = document.getElementById("grant-bucket").value;
    const role = document.getElementById("grant-role").value;
    await api("PUT", "/keys/" + encodeURIComponent(id) + "/grants/" + encodeURIComponent(bucket), { role });
  }) },
    el("label", { for: "grant-key", text: "Key" }),
    el("select", { id: "grant-key" }, keys.map((k) => el("option", { value: k.id, text: k.id }))),
    el("label", { for: "grant-bucket", text: "Bucket" }),
    el("select", { id: "grant-bucket" }, buckets.map((b) => el("option", { value: b.name, text: b.name }))),
    el("label", { for: "grant-role", text: "Role" }),
    el("select", { id: "grant-role" }, ["read", "write", "owner"].map((r) => el("option", { value: r, text: r }))),
    el("button", { type: "submit", class: "primary", id: "grant", text: "Grant" }));
  return [
    el("h2", { text: "New key" }), createForm, created,
    el("h2", { text: "Stored keys" }),
    keys.length ? table(["Key", "Grants", ""], rows, "keys") : el("p", { class: "muted", id: "keys", text: "no stored keys" }),
    el("h2", { text: "Grant a role" }),
    keys.length && buckets.length ? grantForm : el("p", { class: "muted", text: "needs a key and a bucket" }),
  ];
}

// ---- Background jobs ----
let lastRepair = null;

async function jobsPage() {
  const [jobs, rotation] = await Promise.all([api("GET", "/jobs"), api("GET", "/rotate")]);
  const sections = jobs.map((j) => el("div", { "data-job": j.name },
    el("h2", { text: j.name }),
    el("p", {}, el("span", { class: j.state === "running" ? "up" : "down", "data-state": j.name, text: j.state }),
      j.detail ? " — " + j.detail : "", " ",
      j.state === "running"
        ? el("button", { type: "button", "data-stop": j.name, text: "Stop",
          onclick: act(() => api("POST", "/jobs/" + j.name + "/stop")) })
        : el("button", { type: "button", class: "primary", "data-start": j.name, text: "Start",
          onclick: act(() => api("POST", "/jobs/" + j.name + "/start")) })),
    j.gateways.length === 0 ? el("p", { class: "muted", text: "no gateway has reported a pass yet" }) :
      table(["Gateway", "Pass", "Last pass ended", "Result"], j.gateways.map((g) => el("tr", {},
        el("td", { text: g.gateway }), el("td", { text: g.running ? "under way since " + ago(g.started_ms) : "idle" }),
        el("td", { text: ago(g.finished_ms) }), el("td", { text: g.summary }))))));
  return [
    ...sections,
    el("h2", { text: "Repair now" }),
    el("p", {}, el("button", { type: "button", class: "primary", id: "repair", text: "Run an anti-entropy pass",
      onclick: act(async () => { lastRepair = await api("POST", "/repair"); }) }),
      lastRepair ? el("span", { id: "repair-result", text: " " + lastRepair.summary }) : null),
    el("h2", { text: "Key rotation" }),
    el("p", { id: "rotation", text: "active master key " + rotation.active_key + ": " +
      (rotation.complete ? "every envelope and access key is under it"
        : rotation.stale_envelopes + " envelopes and " + rotation.stale_access_keys + " access keys still under older keys") }),
  ];
}

const PAGES = { cluster: clusterPage, buckets: bucketsPage, keys: keysPage, jobs: jobsPage };

async function render() {
  try {
    const parts = await PAGES[page]();
    content.replaceChildren(...parts.flat().filter((p) => p));
    content.hidden = false;
    document.body.dataset.loaded = String(Date.now());
  } catch (e) {
    showError(e);
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  clearInterval(refreshTimer);
  content.hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

function start() {
  document.getElementById("login").hidden = true;
  document.getElementById("signout").hidden = false;
  render();
  if (page === "cluster" || page === "jobs") refreshTimer = setInterval(render, 5000);
}

for (const a of document.querySelectorAll("nav a")) {
  if (a.dataset.nav === page) a.classList.add("current");
}
document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN, document.getElementById("token").value.trim());
  start();
});
document.getElementById("signout").addEventListener("click", () => signOut(""));
if (sessionStorage.getItem(TOKEN)) start(); else signOut("");
