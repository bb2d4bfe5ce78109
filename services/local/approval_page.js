const $ = (id) => document.getElementById(id);
const who = () => ({ approver: sessionStorage.getItem("approver") || "", token: sessionStorage.getItem("token") || "" });

function ago(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) if (seconds >= size) return Math.floor(seconds / size) + unit;
  return seconds + "s";
}

// Every error this page's API answers is {"error": {"code", "message", …}}: say the message.
const why = (body, response) => (body && body.error && body.error.message) || response.status;

async function post(path, body) {
  return fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

async function follow(item, resultEl) {
  const { approver, token } = who();
  for (;;) {
    const response = await post("/api/approval", { approval_id: item.approval_id, approver, token });
    const body = await response.json();
    if (!response.ok) { resultEl.textContent = "Cannot follow the saga: " + why(body, response); return; }
    const saga = body.saga || {};
    if (["committed", "compensated", "needs_attention", "rejected"].includes(saga.status)) {
      resultEl.textContent = "Saga " + item.run_id + ": " + saga.status + ". " + (saga.summary || "");
      resultEl.dataset.final = saga.status;
      return;
    }
    resultEl.textContent = "Saga " + item.run_id + ": " + saga.status + "…";
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function decide(item, approved, card) {
  const { approver, token } = who();
  const comment = card.querySelector(".comment").value;
  const resultEl = card.querySelector(".result");
  if (!approved && !comment.trim()) { resultEl.textContent = "Say why you reject it."; return; }
  card.querySelectorAll("button").forEach((b) => (b.disabled = true));
  const response = await post("/api/decide", { approval_id: item.approval_id, approver, token, approved, comment });
  const body = await response.json();
  if (!response.ok) {
    resultEl.textContent = "Refused: " + why(body, response);
    card.querySelectorAll("button").forEach((b) => (b.disabled = false));
    return;
  }
  resultEl.textContent = (approved ? "Approved" : "Rejected") + " — following the saga…";
  follow(item, resultEl);
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
    card.dataset.approvalId = item.approval_id;
    card.querySelector(".title").textContent = item.action + " — step “" + item.step_id + "” of saga " + item.run_id;
    card.querySelector(".meta").textContent = "asked " + ago(now - item.requested_at) + " ago · deadline in " +
      ago(item.deadline - now) + " · approvers: " + item.approvers.join(", ");
    card.querySelector(".reason").textContent = item.reason || "";
    card.querySelector(".params").textContent = JSON.stringify(item.params, null, 2);
    card.querySelector(".done").textContent = item.done.length
      ? "Done so far: " + item.done.map((d) => d.id + " (" + (d.ref || d.action) + ")").join(", ") : "Nothing done yet.";
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
