const $ = (id) => document.getElementById(id);
const who = () => ({ approver: sessionStorage.getItem("approver") || "", token: sessionStorage.getItem("token") || "" });
const FINAL = ["committed", "compensated", "needs_attention", "rejected"];

// A duration as the CLI says it (compensations/durations.py): the largest unit and the next one, "2h 5m".
function duration(seconds) {
  let left = Math.max(0, Math.round(seconds));
  const counts = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]].map(([unit, size]) => {
    const count = Math.floor(left / size);
    left -= count * size;
    return [count, unit];
  });
  const first = counts.findIndex(([count]) => count > 0);
  if (first < 0) return "0s";
  return counts.slice(first, first + 2).filter(([count]) => count > 0).map(([count, unit]) => count + unit).join(" ");
}

// Every error this page's API answers is {"error": {"code", "message", …}}: say the message.
const why = (body, response) => (body && body.error && body.error.message) || response.status;

async function post(path, body) {
  return fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

function fact(list, label, value, className) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt");
  const dd = document.createElement("dd");
  dt.textContent = label;
  dd.textContent = value;
  if (className) dd.className = className;
  list.append(dt, dd);
}

function stepWords(step) {
  if (!step) return "";
  return "Step “" + step.id + "”: " + step.state.replace(/_/g, " ") + (step.ref ? " (" + step.ref + ")" : "") + ". ";
}

// Follow the gate's saga until it ends, plan or open saga alike (Approval/<id>/get answers both).
// `read` asks this page's server for the gate: with the token, or with the email link.
async function follow(item, resultEl, read) {
  for (;;) {
    const response = await read();
    const body = await response.json();
    if (response.status === 429) { await pause(1000 * Number(response.headers.get("retry-after") || 5)); continue; }
    if (!response.ok) { resultEl.textContent = "Cannot follow the saga: " + why(body, response); return; }
    const saga = body.saga || {};
    if (saga.step) resultEl.dataset.stepState = saga.step.state;
    if (FINAL.includes(saga.status)) {
      resultEl.textContent = "Saga " + item.run_id + ": " + saga.status.replace(/_/g, " ") + ". " + (saga.summary || "");
      resultEl.dataset.final = saga.status;
      return;
    }
    if (saga.mode === "open" && saga.status === "open") {
      resultEl.textContent = stepWords(saga.step) + "Saga " + item.run_id +
        " is open: it ends when its agent commits or aborts it.";
      await pause(2000);
      continue;
    }
    resultEl.textContent = stepWords(saga.step) + "Saga " + item.run_id + ": " + String(saga.status).replace(/_/g, " ") + "…";
    await pause(1500);  // reads are limited to 60 a minute per approver (web_guard.py)
  }
}

// `channel` sends a decision and reads the gate: signed in with a token, or opened from an email link.
async function decide(item, approved, card, channel) {
  const comment = card.querySelector(".comment").value;
  const resultEl = card.querySelector(".result");
  if (!approved && !comment.trim()) { resultEl.textContent = "Say why you reject it."; return; }
  card.querySelectorAll("button").forEach((b) => (b.disabled = true));
  const response = await channel.send(approved, comment);
  const body = await response.json();
  if (!response.ok) {
    resultEl.textContent = "Refused: " + why(body, response);
    resultEl.dataset.refused = (body && body.error && body.error.code) || String(response.status);
    card.querySelectorAll("button").forEach((b) => (b.disabled = false));
    return;
  }
  resultEl.textContent = (approved ? "Approved" : "Rejected") + " — following the saga…";
  follow(item, resultEl, channel.read);
}

function withToken(item) {
  const { approver, token } = who();
  return {
    send: (approved, comment) => post("/api/decide", { approval_id: item.approval_id, approver, token, approved,
                                                        comment, digest: item.digest || "" }),
    read: () => post("/api/approval", { approval_id: item.approval_id, approver, token }),
  };
}

function withLink(link) {
  return {
    send: (approved, comment) => post("/api/link/decide", { link, approved, comment }),
    read: () => post("/api/link", { link }),
  };
}

// How a closed gate ended, in words: it shows that instead of buttons.
function closedWords(closed) {
  if (closed.expired) return "This approval expired: nobody decided it before its deadline.";
  if (closed.cancelled) return "This approval was cancelled with its saga.";
  const d = closed.decision || {};
  return "Already " + (d.approved ? "approved" : "rejected") + (d.approver ? " by " + d.approver : "") +
    (d.channel ? " (through " + d.channel + ")" : "") + (d.at ? " at " + d.at : "") + ": nothing left to decide.";
}

function card(item, channel, closed) {
  const el = $("card").content.firstElementChild.cloneNode(true);
  fill(el, item, Date.now() / 1000);
  if (closed) {
    el.querySelector(".decide").remove();
    el.querySelector(".closed").textContent = closedWords(closed);
    el.dataset.closed = closed.decision ? "decided" : closed.expired ? "expired" : "cancelled";
    follow(item, el.querySelector(".result"), channel.read);
  } else {
    el.querySelector(".approve").addEventListener("click", () => decide(item, true, el, channel));
    el.querySelector(".reject").addEventListener("click", () => decide(item, false, el, channel));
  }
  return el;
}

function fill(card, item, now) {
  const summary = item.summary || { headline: item.action, does: item.action, amounts: [], details: [] };
  card.dataset.approvalId = item.approval_id;
  card.querySelector(".title").textContent = summary.headline;
  card.querySelector(".does").textContent = summary.does;
  const facts = card.querySelector(".facts");
  for (const amount of summary.amounts) fact(facts, "Amount", amount, "amount");
  for (const [label, value] of summary.details) fact(facts, label, value, "detail");
  const who = item.requested_by ? item.requested_by + " (saga " + item.run_id + ")" : "saga " + item.run_id;
  fact(facts, "Asked by", who + ", step “" + item.step_id + "”, " + duration(now - item.requested_at) + " ago", "asker");
  fact(facts, "Why", item.reason, "reason");
  fact(facts, "Already done", item.done.length
    ? item.done.map((d) => d.id + " (" + d.action + (d.ref ? ", " + d.ref : "") + ")").join("; ") : "nothing yet", "done");
  fact(facts, "Decide by", "in " + duration(item.deadline - now) + " (then it is rejected); approvers: " + item.approvers.join(", "), "deadline");
  card.querySelector(".params").textContent = JSON.stringify(item.params, null, 2);
}

async function load() {
  const { approver, token } = who();
  if (!approver || !token) return;
  $("approver").value = approver;
  const response = await post("/api/pending", { approver, token });
  const body = await response.json();
  if (!response.ok) {
    $("status").textContent = "Refused: " + why(body, response);
    $("list").replaceChildren();
    return;
  }
  const items = body;
  $("status").textContent = items.length + " pending for " + approver;
  $("list").replaceChildren(...items.map((item) => card(item, withToken(item), null)));
}

// An approval email's link: the gate rides in the URL's fragment (never sent to any server). It is
// kept in the tab, like a token, and taken out of the address bar and the tab's history.
const LINK_START = "approval=";

function takeLink() {
  const fragment = location.hash.slice(1);
  if (fragment.startsWith(LINK_START)) {
    sessionStorage.setItem("link", fragment);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("link") || "";
}

// The gate the link opens, as its approver, with no token typed: the page's server checks the link.
async function openLink(link) {
  $("who").hidden = true;
  const response = await post("/api/link", { link });
  const body = await response.json();
  if (!response.ok) {
    $("status").textContent = "This link cannot be used: " + why(body, response);
    $("status").dataset.refused = (body && body.error && body.error.code) || String(response.status);
    return;
  }
  $("status").textContent = "Opened from your approval email, as " + body.link.approver + ".";
  $("list").replaceChildren(card(body.pending, withLink(link), body.closed));
}

$("who").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("approver", $("approver").value.trim());
  sessionStorage.setItem("token", $("token").value);
  sessionStorage.removeItem("link");
  $("token").value = "";
  load();
});

// A link opened in a tab that shows the page already changes only the fragment: no reload.
window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#" + LINK_START)) openLink(takeLink());
});

const link = takeLink();
if (link) openLink(link); else load();
