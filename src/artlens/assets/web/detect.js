// The "Human or AI?" tab: each dropped image goes to POST /v1/detect; the answer is a verdict, the
// probability of AI as a bar, and what the detector says about its own limits. Its tab button and
// panel are in index.html; app.js switches tabs and closes toasts for every tab alike. When the
// server records answers (the answer's "feedback"), each verdict gets "Right" / "Wrong" buttons that
// POST /v1/feedback: "correct", or the other label.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const list = $("detect-results");
  if (!list) return;
  let seq = 0;
  const keepsImages = fetch("/v1/models").then((r) => r.json())
    .then((body) => Boolean(body.operations && body.operations.stores_images)).catch(() => false);

  function showError(message) {
    const box = $("detect-error");
    box.querySelector(".message").textContent = message || "";
    box.hidden = !message;
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch (_) { /* not JSON */ }
    return `HTTP ${response.status}`;
  }

  function row(file) {
    const url = URL.createObjectURL(file);
    const verdict = document.createElement("p");
    verdict.textContent = "judging…";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const img = document.createElement("img");
    img.src = url;
    img.alt = file.name;
    const text = document.createElement("div");
    text.append(verdict, name);
    const li = document.createElement("li");
    li.append(img, text);
    list.append(li);
    return { verdict, text };
  }

  function showAnswer(slot, answer) {
    const badge = document.createElement("span");
    badge.className = `verdict ${answer.verdict}`;
    badge.textContent = answer.verdict === "ai" ? "AI" : "Human";
    const pct = `${(100 * answer.p_ai).toFixed(1)}%`;
    slot.verdict.replaceChildren(badge, `probability of AI ${pct} (AI from ${(100 * answer.threshold).toFixed(0)}%)`);
    const bar = document.createElement("div");
    bar.className = "p-ai";
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", `probability of AI ${pct}`);
    const fill = document.createElement("span");
    fill.style.width = pct;
    bar.append(fill);
    slot.text.append(bar);
    if (answer.feedback && answer.request_id) askFeedback(slot, answer);
    const notes = $("detect-notes");
    notes.replaceChildren(...[`model: ${answer.model}`, ...answer.notes].map((n) => {
      const li = document.createElement("li");
      li.textContent = n;
      return li;
    }));
  }

  async function askFeedback(slot, answer) {
    const other = answer.verdict === "ai" ? "human" : "ai";
    const words = { ai: "AI", human: "Human" };
    const status = document.createElement("span");
    status.className = "note feedback-status";
    const button = (text, label) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button";
      b.textContent = text;
      b.addEventListener("click", () => send(label));
      return b;
    };
    const right = button(`Right: ${words[answer.verdict]}`, "correct");
    const wrong = button(`Wrong: it is ${words[other]}`, other);
    const row = document.createElement("div");
    row.className = "feedback-row detect-feedback";
    row.append(right, wrong, status);
    slot.text.append(row);
    let privacy = $("detect-privacy");  // one line under the list says what the server keeps
    if (!privacy) {
      privacy = Object.assign(document.createElement("p"), { id: "detect-privacy", className: "note feedback-privacy" });
      list.after(privacy);
    }
    privacy.textContent = (await keepsImages)
      ? "This server keeps the images it is sent, with each answer and your feedback."
      : "This server keeps a fingerprint of each image (hashes, size, format) with its answer, not the image.";

    async function send(label) {
      right.disabled = wrong.disabled = true;
      status.textContent = "sending...";
      try {
        const response = await fetch("/v1/feedback", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ request_id: answer.request_id, label }),
        });
        if (!response.ok) throw new Error(await errorText(response));
        const said = await response.json();
        row.replaceChildren(Object.assign(document.createElement("span"), {
          className: "feedback-done",
          textContent: said.correct ? "Thank you: recorded as right." : `Thank you: recorded as ${words[said.label]}.`,
        }));
      } catch (err) {
        status.textContent = `Not recorded: ${err.message}`;
        right.disabled = wrong.disabled = false;
      }
    }
  }

  async function judge(files) {
    const mine = ++seq;
    showError("");
    list.replaceChildren();
    $("detect-empty").hidden = true;
    $("detect-drop").classList.add("has-image");
    let failed = 0;
    for (const file of files) {
      const slot = row(file);
      const data = new FormData();
      data.append("file", file);
      let response;
      try {
        response = await fetch("/v1/detect", { method: "POST", body: data });
      } catch (_) {
        response = null;
      }
      if (mine !== seq) return;  // a newer drop replaced this one
      if (response && response.ok) {
        showAnswer(slot, await response.json());
      } else {
        failed += 1;
        slot.verdict.textContent = response ? await errorText(response) : "the server did not answer";
      }
    }
    if (failed) showError(`${failed} of ${files.length} image(s) could not be judged (see the list).`);
  }

  const input = $("detect-file");
  input.addEventListener("change", () => { if (input.files.length) judge(Array.from(input.files)); input.value = ""; });
  const zone = $("detect-drop");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) judge(Array.from(e.dataTransfer.files));
  });
})();
