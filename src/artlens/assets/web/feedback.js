// Feedback on a prediction (issue 36): "Right" or "Wrong? pick the right label" under the answer.
// Shown only when the server records answers (GET /v1/models -> operations.feedback); the note under it
// says truthfully whether the image itself is kept. app.js tells this file what it shows with the
// "artlens:prediction" event (detail: the /v1/predict answer) and "artlens:cleared". The page's footer
// is made to say what this server keeps (nothing, a fingerprint per answer, or the images).
"use strict";

(() => {
  const ops = { enabled: false, storesImages: false, classes: new Map() };
  const sent = new Map();  // request_id -> what was said, so going back to an image shows it

  const node = (tag, props = {}, ...children) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") n.className = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v);
    }
    n.append(...children);
    return n;
  };
  const pretty = (label) => label.replace(/_/g, " ");

  async function load() {
    try {
      const body = await (await fetch("/v1/models")).json();
      ops.enabled = Boolean(body.operations && body.operations.feedback);
      ops.storesImages = Boolean(body.operations && body.operations.stores_images);
      for (const m of body.models) ops.classes.set(m.id, m.classes);
    } catch (err) {
      ops.enabled = false;
    }
    const footer = document.getElementById("privacy");
    if (footer && ops.storesImages) {
      footer.textContent = "Images are checked by decoding. This server keeps the images it classifies or judges " +
        "(Human or AI?), with each answer, to retrain its models on your corrections.";
    } else if (footer && ops.enabled) {
      footer.textContent = "Images are checked by decoding and processed in memory. They are never stored; a " +
        "fingerprint of each (hashes, size, format) is kept with its answer.";
    }
  }
  const ready = load();

  function box() {
    let b = document.getElementById("feedback");
    if (!b) {
      b = node("div", { id: "feedback", class: "feedback", "aria-live": "polite" });
      document.getElementById("result-box").after(b);
    }
    return b;
  }

  function clear() {
    const b = document.getElementById("feedback");
    if (b) b.remove();
  }

  function thanks(b, said) {
    b.textContent = "";
    b.append(node("p", { class: "feedback-done" },
      said.correct ? "Thank you: recorded as right." : `Thank you: recorded as ${pretty(said.label)}.`));
  }

  async function send(b, result, label) {
    for (const c of b.querySelectorAll("button, select")) c.disabled = true;
    const status = b.querySelector(".feedback-status");
    status.textContent = "sending...";
    try {
      const response = await fetch("/v1/feedback", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ request_id: result.request_id, label }),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `status ${response.status}`);
      sent.set(result.request_id, body);
      thanks(b, body);
    } catch (err) {
      status.textContent = `Not recorded: ${err.message}`;
      for (const c of b.querySelectorAll("button, select")) c.disabled = false;
    }
  }

  async function show(result) {
    await ready;
    clear();
    if (!ops.enabled || !result || !result.feedback || !result.request_id) return;
    const b = box();
    if (sent.has(result.request_id)) { thanks(b, sent.get(result.request_id)); return; }
    const top = result.predictions[0].label;
    const classes = (ops.classes.get(result.model) || result.predictions.map((p) => p.label)).filter((c) => c !== top);
    const select = node("select", { id: "feedback-label", "aria-label": "The right label" },
      node("option", { value: "" }, "Wrong? pick the right label"),
      ...classes.map((c) => node("option", { value: c }, pretty(c))));
    const right = node("button", { type: "button", id: "feedback-right", class: "button",
                                   onclick: () => send(b, result, "correct") }, `Right: ${pretty(top)}`);
    const wrong = node("button", { type: "button", id: "feedback-send", class: "button", disabled: "",
                                   onclick: () => send(b, result, select.value) }, "Send");
    select.addEventListener("change", () => { wrong.disabled = !select.value; });
    b.append(
      node("p", { class: "feedback-ask" }, "Was the best guess right?"),
      node("div", { class: "feedback-row" }, right, select, wrong),
      node("p", { class: "feedback-status note" }),
      node("p", { class: "feedback-privacy note" }, ops.storesImages
        ? "This server keeps the images it is sent, to retrain the model on your corrections."
        : "This server keeps a fingerprint of each image (hashes, size, format) with its answer, not the image."));
  }

  document.addEventListener("artlens:prediction", (e) => show(e.detail));
  document.addEventListener("artlens:cleared", clear);
})();
