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
async function follow(item, resultEl) {
  const { approver, token } = who();
  for (;;) {
    const response = await post("/api/approval", { approval_id: item.approval_id, approver, token });
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

async function decide(item, approved, card) {
  const { approver, token } = who();
  const comment = card.querySelector(".comment").value;
  const resultEl = card.querySelector(".result");
  if (!approved && !comment.trim()) { resultEl.textContent = "Say why you reject it."; return; }
  card.querySelectorAll("button").forEach((b) => (b.disabled = true));
  const response = await post("/api/decide", { approval_id: item.approval_id, approver, token, approved, comment,
                                                  digest: item.digest || "" });
  const body = await response.json();
  if (!response.ok) {
    resultEl.textContent = "Refused: " + why(body, response);
    card.querySelectorAll("button").forEach((b) => (b.disabled = false));
    return;
  }
  resultEl.textContent = (approved ? "Approved" : "Rejected") + " — following the saga…";
  follow(item, resultEl);
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
  const list = $("list");
  list.replaceChildren();
  const now = Date.now() / 1000;
  for (const item of items) {
    const card = $("card").content.firstElementChild.cloneNode(true);
    fill(card, item, now);
    card.querySelector(".approve").addEventListener("click", () => decide(item, true, card));
    card.querySelector(".reject").addEventListener("click", () => decide(item, false, card));
    list.appendChild(card);
  }
}

$("who").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("approver", $("approver").value.trim());
  sessionStorage.setItem("token", $("token").value);
  $("token").value = "";
  load();
});
load();
