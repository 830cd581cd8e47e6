// The "Human or AI?" tab: each dropped image goes to POST /v1/detect; the answer is a verdict, the
// probability of AI as a bar, and what the detector says about its own limits. Its tab button and
// panel are in index.html; app.js switches tabs and closes toasts for every tab alike.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const list = $("detect-results");
  if (!list) return;
  let seq = 0;

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
    const notes = $("detect-notes");
    notes.replaceChildren(...[`model: ${answer.model}`, ...answer.notes].map((n) => {
      const li = document.createElement("li");
      li.textContent = n;
      return li;
    }));
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
