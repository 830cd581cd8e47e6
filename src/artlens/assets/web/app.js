// artlens web page: classify (top-k bars, CAM toggle) and style transfer (AdaIN now, Gatys as a job).
// No framework, no CDN: everything comes from this server. The id of a running style job is kept in
// localStorage, so reloading the page picks the job up again.
"use strict";

const $ = (id) => document.getElementById(id);
const JOB_KEY = "artlens.job";
const state = { file: null, info: null, camUrl: null, imageUrl: null, camFor: null };

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return `${body.error} (HTTP ${response.status})`;
  } catch (_) {
    return `HTTP ${response.status}`;
  }
}

function pretty(label) {
  return label.replace(/_/g, " ");
}

// ---- tabs -------------------------------------------------------------------------------------

function selectTab(name) {
  for (const tab of ["classify", "style"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
}

// ---- models and features ----------------------------------------------------------------------

async function loadModels() {
  const response = await fetch("/v1/models");
  if (!response.ok) { showError(await errorText(response)); return; }
  const info = await response.json();
  state.info = info;
  const select = $("model");
  select.textContent = "";
  const fallback = info.defaults.classification;
  for (const m of info.models.filter((m) => m.task === "classification")) {
    const option = document.createElement("option");
    option.value = m.id;
    const acc = m.metrics && m.metrics.accuracy != null ? `, ${(100 * m.metrics.accuracy).toFixed(1)}% ${m.metrics.split || ""}` : "";
    const version = m.version === "unknown" ? m.source : `v${m.version}`;
    option.textContent = `${m.name} (${version}${acc})${m.id === fallback ? " - default" : ""}`;
    option.selected = m.id === fallback;
    select.append(option);
  }
  const explain = info.features.explain;
  $("cam").disabled = !explain.available;
  $("cam-note").hidden = explain.available;
  $("cam-note").textContent = explain.available ? "" : "Grad-CAM is not installed on this server.";
  const stylize = info.features.stylize;
  for (const option of $("method").options) {
    if (!(stylize[option.value] || {}).available) option.textContent += " - not installed";
  }
  if (!stylize.adain.available && stylize.gatys.available) $("method").value = "gatys";
  updateMethodNote();
}

function updateMethodNote() {
  if (!state.info) return;
  const method = $("method").value;
  const feature = state.info.features.stylize[method] || { available: false, reason: "unknown method" };
  $("alpha-box").hidden = method !== "adain";
  $("steps-box").hidden = method !== "gatys";
  $("method-note").hidden = feature.available;
  $("method-note").textContent = feature.available ? "" : `Not available here: ${feature.reason}`;
  $("go").disabled = !feature.available;
}

// ---- classify ----------------------------------------------------------------------------------

function renderPredictions(body) {
  const list = $("results");
  list.textContent = "";
  for (const p of body.predictions) {
    const li = document.createElement("li");
    li.dataset.label = p.label;
    const row = document.createElement("div");
    row.className = "bar-label";
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = pretty(p.label);
    const pct = document.createElement("span");
    pct.textContent = `${(100 * p.prob).toFixed(1)}%`;
    row.append(name, pct);
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${Math.max(1, 100 * p.prob)}%`;
    bar.append(fill);
    li.append(row, bar);
    list.append(li);
  }
  const modelId = document.createElement("span");
  modelId.className = "model-id";  // name@version wraps as a whole, never at the version's hyphen
  modelId.textContent = body.model;
  $("result-title").replaceChildren("Prediction - ", modelId);
  $("latency").textContent = `${body.image.width}x${body.image.height} ${body.image.format}, answered in ${body.latency_ms} ms`;
}

function form(fields) {
  const data = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (Array.isArray(value)) value.forEach((v) => data.append(key, v));
    else data.append(key, value);
  }
  return data;
}

async function classify() {
  if (!state.file) return;
  showError("");
  $("results").textContent = "";
  $("latency").textContent = "thinking...";
  const response = await fetch("/v1/predict", {
    method: "POST",
    body: form({ file: state.file, model: $("model").value, top_k: $("topk").value }),
  });
  if (!response.ok) { $("latency").textContent = ""; showError(await errorText(response)); return; }
  renderPredictions(await response.json());
  if ($("cam").checked) await showCam();
}

async function showCam() {
  const key = `${$("model").value}|${state.imageUrl}`;
  if (state.camFor !== key) {
    $("cam-note").hidden = false;
    $("cam-note").textContent = "computing the activation map...";
    const response = await fetch("/v1/explain", { method: "POST", body: form({ file: state.file, model: $("model").value }) });
    if (!response.ok) { $("cam-note").hidden = true; showError(await errorText(response)); $("cam").checked = false; return; }
    if (state.camUrl) URL.revokeObjectURL(state.camUrl);
    state.camUrl = URL.createObjectURL(await response.blob());
    state.camFor = key;
    $("cam-note").textContent = `map for ${pretty(decodeURIComponent(response.headers.get("X-Label") || ""))}`;
  }
  $("preview").src = state.camUrl;
}

function setFile(file) {
  if (!file) return;
  state.file = file;
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.imageUrl = URL.createObjectURL(file);
  state.camFor = null;
  $("preview").src = state.imageUrl;
  $("preview").hidden = false;
  $("drop").classList.add("has-image");
  classify();
}

// ---- style -------------------------------------------------------------------------------------

function previewInto(input, imgId) {
  const file = input.files[0];
  if (!file) return;
  $(imgId).src = URL.createObjectURL(file);
  $(imgId).hidden = false;
  $(imgId).parentElement.classList.add("has-image");
}

function showResultBlob(blob) {
  $("stylized").src = URL.createObjectURL(blob);
  $("stylized").hidden = false;
}

async function stylize() {
  showError("");
  const content = $("content").files[0];
  const styles = Array.from($("style").files);
  if (!content || !styles.length) { showError("Choose a content image and at least one style image."); return; }
  $("go").disabled = true;
  $("job-status").textContent = "working...";
  try {
    const response = await fetch("/v1/stylize", {
      method: "POST",
      body: form({ content, style: styles, method: $("method").value, alpha: $("alpha").value,
                   steps: $("steps").value, size: $("size").value, preserve_color: $("keep-color").checked }),
    });
    if (!response.ok) { showError(await errorText(response)); $("job-status").textContent = ""; return; }
    if (response.status === 202) {
      const { job } = await response.json();
      localStorage.setItem(JOB_KEY, job.id);
      await pollJob(job.id);
    } else {
      showResultBlob(await response.blob());
      $("job-status").textContent = `done in ${response.headers.get("X-Latency-Ms")} ms`;
    }
  } finally {
    updateMethodNote();
  }
}

async function pollJob(id) {
  const bar = $("job-progress");
  bar.hidden = false;
  for (;;) {
    const response = await fetch(`/v1/jobs/${id}`);
    if (!response.ok) {
      localStorage.removeItem(JOB_KEY);
      bar.hidden = true;
      $("job-status").textContent = "";
      showError(await errorText(response));
      return;
    }
    const job = await response.json();
    bar.value = job.progress;
    $("job-status").textContent = `job ${job.id.slice(0, 8)}: ${job.state}, ${job.message}`;
    if (job.state === "done") {
      const result = await fetch(job.result);
      if (result.ok) showResultBlob(await result.blob());
      else showError(await errorText(result));
      $("job-status").textContent = `Gatys, ${job.elapsed_s} s`;
      break;
    }
    if (job.state === "failed") { showError(`style transfer failed: ${job.error}`); break; }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  localStorage.removeItem(JOB_KEY);
  bar.hidden = true;
}

// ---- wiring ------------------------------------------------------------------------------------

function wireDrop(zone, onFiles) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  $("tab-classify").addEventListener("click", () => selectTab("classify"));
  $("tab-style").addEventListener("click", () => selectTab("style"));
  $("file").addEventListener("change", (e) => setFile(e.target.files[0]));
  wireDrop($("drop"), (files) => setFile(files[0]));
  $("model").addEventListener("change", classify);
  $("topk").addEventListener("change", classify);
  $("cam").addEventListener("change", async () => {
    if (!state.file) return;
    if ($("cam").checked) await showCam();
    else { $("preview").src = state.imageUrl; $("cam-note").hidden = true; }
  });
  $("content").addEventListener("change", (e) => previewInto(e.target, "content-preview"));
  $("style").addEventListener("change", (e) => previewInto(e.target, "style-preview"));
  for (const [zone, input, img] of [["content", "content", "content-preview"], ["style", "style", "style-preview"]]) {
    wireDrop($(zone).parentElement, (files) => { $(input).files = files; previewInto($(input), img); });
  }
  $("alpha").addEventListener("input", () => { $("alpha-value").textContent = $("alpha").value; });
  $("method").addEventListener("change", updateMethodNote);
  $("go").addEventListener("click", stylize);
  await loadModels();
  const pending = localStorage.getItem(JOB_KEY);
  if (pending) {  // a job started before a reload: show the style tab and keep following it
    selectTab("style");
    pollJob(pending);
  }
});
