// The sscard bridge demo page: talks to the service that served it (ws://<this host>/).
// Text from the card is put in the page with textContent only (never as HTML).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const buttons = ["btn-read", "btn-check", "btn-status", "btn-verify", "btn-change"];
  let ws = null;
  let nextId = 1;
  const waiting = new Map();

  function setState(state) { body.dataset.state = state; }
  function event(text) {
    const li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + "  " + text;
    $("events").prepend(li);
  }
  function enable(on) { for (const b of buttons) $(b).disabled = !on; }

  function send(message) {
    const id = nextId++;
    message.id = id;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      ws.send(JSON.stringify(message));
    });
  }

  function showPairing(msg) {
    setState("pairing");
    enable(false);
    $("pairing").hidden = false;
    $("pairing-code").textContent = msg.code;
    $("pairing-command").textContent = "sscard service approve " + msg.code;
    $("connection").textContent = "waiting for the operator to approve " + msg.origin;
  }

  function ready() {
    setState("ready");
    $("pairing").hidden = true;
    $("connection").textContent = "connected to the sscard service";
    enable(true);
  }

  function showReader(present) {
    const text = present.contact === true ? "card present 已插卡"
      : present.contact === false ? "insert a card 请插卡" : "reader state unknown";
    $("reader-state").textContent = text;
    body.dataset.card = String(present.contact);
  }

  function showHolder(card, photo) {
    $("holder").hidden = false;
    $("holder-name").textContent = card.name || "";
    $("holder-ssn").textContent = card.ssn || "";
    $("holder-sex").textContent = card.sex_text || card.sex || "";
    $("holder-birth").textContent = card.birth_date || "";
    $("card-number").textContent = card.card_number || "";
    $("card-issued").textContent = card.issue_date || "";
    $("card-expires").textContent = card.expiry_date || "";
    $("card-version").textContent = card.spec_version || "";
    const img = $("photo");
    if (photo) { img.src = photo; img.hidden = false; } else if (photo === undefined) {
      img.hidden = true;
    }
  }

  function showVerdict(text, good) {
    const v = $("verdict");
    v.textContent = text;
    v.className = "verdict " + (good ? "ok" : "bad");
  }

  function showChecks(checks) {
    const table = $("checks");
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    for (const c of checks || []) {
      const tr = document.createElement("tr");
      for (const [value, cls] of [[c.status, c.status], [c.name, ""], [c.detail, ""]]) {
        const td = document.createElement("td");
        td.textContent = value;
        if (cls) td.className = cls;
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.hidden = !(checks && checks.length);
  }

  function failed(op, answer) {
    const e = answer.error || {};
    let text = op + " failed: " + (e.message || e.code || "error");
    if (typeof e.tries_left === "number") text += " (" + e.tries_left + " tries left)";
    showVerdict(text, false);
    event(text);
  }

  async function run(op, message) {
    enable(false);
    body.dataset.busy = op;
    try {
      const answer = await send(message);
      if (answer.type === "pairing_required") { showPairing(answer); return; }
      if (!answer.ok) { failed(op, answer); body.dataset.lastOp = op + ":" + answer.error.code; return; }
      const r = answer.result;
      if (op === "read") {
        showHolder(r.card, r.photo);
        showChecks([]);
        showVerdict("read " + r.apdus + " APDUs", true);
      } else if (op === "check") {
        if (r.card) showHolder(r.card, null);
        showChecks(r.checks);
        showVerdict("check: " + r.verdict.toUpperCase(), r.verdict === "ok");
      } else if (op === "status") {
        showChecks([]);
        const reasons = (r.reasons || []).join("; ");
        showVerdict("status: " + r.verdict + (reasons ? " — " + reasons : ""),
                    r.activated);
      } else if (op === "pin_verify") {
        showVerdict("PIN: " + r.result + (r.entry ? " (" + r.entry + ")" : ""), true);
      } else if (op === "pin_change") {
        showVerdict("PIN changed (" + r.entry + ")", true);
      }
      event(op + ": ok");
      body.dataset.lastOp = op + ":ok";
    } finally {
      delete body.dataset.busy;
      if (body.dataset.state === "ready") enable(true);
    }
  }

  function onMessage(raw) {
    let msg;
    try { msg = JSON.parse(raw.data); } catch (e) { return; }
    if (msg.id !== undefined && waiting.has(msg.id)) {
      const resolve = waiting.get(msg.id);
      waiting.delete(msg.id);
      resolve(msg);
      return;
    }
    if (msg.type === "pairing_required") { showPairing(msg); return; }
    if (msg.type === "paired") { event("paired: " + msg.origin); start(); return; }
    if (msg.type === "card") {
      event("card " + msg.event + " (" + msg.reader + ")");
      if (msg.reader === "contact") showReader({ contact: msg.event === "inserted" });
    }
  }

  async function start() {
    const hello = await send({ type: "hello" });
    if (hello.type === "pairing_required") { showPairing(hello); return; }
    ready();
    const sub = await send({ type: "subscribe" });
    if (sub.ok) showReader(sub.result.present);
  }

  function connect() {
    ws = new WebSocket("ws://" + location.host + "/");
    ws.addEventListener("open", () => { start(); });
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", () => {
      setState("closed");
      enable(false);
      $("connection").textContent = "the sscard service closed the connection; reload to retry";
    });
  }

  $("btn-read").addEventListener("click", () => run("read", { type: "read", photo: true }));
  $("btn-check").addEventListener("click", () => run("check", { type: "check" }));
  $("btn-status").addEventListener("click", () => run("status", { type: "status" }));
  $("btn-verify").addEventListener("click", () => run("pin_verify", { type: "pin_verify" }));
  $("btn-change").addEventListener("click", () => run("pin_change", { type: "pin_change" }));
  connect();
})();
