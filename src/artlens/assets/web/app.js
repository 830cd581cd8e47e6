// artlens web page: classify (top-k bars, heatmaps, several images with a CSV) and style transfer
// (AdaIN at once, Gatys as a job with a queue position and a cancel button).
// No framework, no build step, no CDN: everything comes from this server, so it works offline.
// The id of a running style job is kept in localStorage, so reloading the page picks the job up again.
"use strict";

const $ = (id) => document.getElementById(id);
const JOB_KEY = "artlens.job";
const SLOW_CAM = new Set(["scorecam", "ablationcam"]);
const CAM_NAMES = {
  gradcam: "Grad-CAM", "gradcam++": "Grad-CAM++", hirescam: "HiResCAM", xgradcam: "XGrad-CAM", layercam: "LayerCAM",
  eigencam: "Eigen-CAM", eigengradcam: "EigenGrad-CAM", gradcamelementwise: "Grad-CAM element-wise",
  scorecam: "Score-CAM", ablationcam: "Ablation-CAM", featuremap: "feature-map sum",
};

const state = {
  info: null,             // GET /v1/models
  models: new Map(),      // id -> model entry
  items: [],              // the uploaded images: {file, name, url, result, error, pending}
  current: -1,            // the image shown (bars, heatmap)
  seq: 0,                 // bumped by every new upload or model change: older answers are dropped
  cam: { cache: new Map(), token: 0 },
  presets: [],            // GET /v1/styles
  styles: [],             // chosen styles: {key, title, by, url, file | null, preset, weight}
  styleKey: 0,
  content: null,          // {file, url}
  weightsField: null,     // {name, array} when POST /v1/stylize takes per-style weights
  job: { id: null, token: 0 },
  resultUrl: null,
  maxStyles: 4,
};

// ---- small helpers -------------------------------------------------------------------------------

const pretty = (label) => String(label).replace(/_/g, " ");
const pct = (p) => `${(100 * p).toFixed(1)}%`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const stem = (name) => String(name || "image").replace(/\.[^.]+$/, "").replace(/[^\w.-]+/g, "_").slice(0, 60) || "image";
const camName = (m) => CAM_NAMES[m] || m;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

function inWords(list) {
  const items = list.map(pretty);
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "";
  const s = Math.max(1, Math.round(seconds));
  if (s < 90) return `${s} s`;
  return `${Math.round(s / 60)} min`;
}

function showError(tab, message) {
  const box = $(`${tab}-error`);
  box.querySelector(".message").textContent = message || "";
  box.hidden = !message;
}

/** The server's own words for a failed response: `{error}` plus what to do about a busy server. */
async function errorText(response) {
  let text = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) text = body.error;
  } catch (_) { /* not JSON */ }
  const retry = response.headers.get("Retry-After");
  if (retry && (response.status === 429 || response.status === 503)) text += ` (try again in ${duration(Number(retry))})`;
  return text;
}

function form(fields) {
  const data = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (value == null) continue;
    if (Array.isArray(value)) value.forEach((v) => data.append(key, v));
    else data.append(key, value);
  }
  return data;
}

/** POST that waits out a short Retry-After (429/503) a few times before giving up. */
async function post(url, fields, onWait) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, { method: "POST", body: form(fields) });
    const retry = Number(response.headers.get("Retry-After"));
    if (![429, 503].includes(response.status) || !retry || retry > 20 || attempt >= 3) return response;
    if (onWait) onWait(retry);
    await sleep(retry * 1000);
  }
}

function wireDrop(zone, onFiles) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) onFiles(Array.from(e.dataTransfer.files));
  });
}

// ---- tabs --------------------------------------------------------------------------------------

// Every tab of the page, in order (a feature with its own script, such as detect.js, adds one in index.html).
const TABS = Array.from(document.querySelectorAll("[role=tab]"), (button) => button.id.replace(/^tab-/, ""));

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    button.setAttribute("aria-selected", String(tab === name));
    button.tabIndex = tab === name ? 0 : -1;
    $(`panel-${tab}`).hidden = tab !== name;  // a tab's error toast lives in its panel and hides with it
  }
  if (focus) $(`tab-${name}`).focus();
}

function wireTabs() {
  for (const tab of TABS) {
    $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
    $(`tab-${tab}`).addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (step) selectTab(TABS[(TABS.indexOf(tab) + step + TABS.length) % TABS.length], true);
    });
  }
  for (const box of document.querySelectorAll(".toast .close")) {
    box.addEventListener("click", () => { box.parentElement.hidden = true; });
  }
}

// ---- models and what they know -----------------------------------------------------------------

function versionLabel(version) {
  const m = /^(\d{4})(\d{2})(\d{2})(?:-\d{4,6})?$/.exec(version || "");
  if (m) {
    const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    return `of ${date.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" })}`;
  }
  return `v${version}`;
}

async function loadModels() {
  let response;
  try {
    response = await fetch("/v1/models");
  } catch (err) {
    showError("classify", `The server does not answer (${err.message}).`);
    return;
  }
  if (!response.ok) { showError("classify", await errorText(response)); return; }
  const info = await response.json();
  state.info = info;
  const classifiers = info.models.filter((m) => m.task === "classification");
  const versions = {};
  for (const m of classifiers) versions[m.name] = (versions[m.name] || 0) + 1;
  const fallback = info.defaults.classification;
  const select = $("model");
  select.textContent = "";
  for (const m of classifiers) {
    state.models.set(m.id, m);
    let text = m.name;
    if (versions[m.name] > 1 && m.version !== "unknown") text += ` ${versionLabel(m.version)}`;
    if (m.id === fallback) text += " (default)";
    select.append(el("option", { value: m.id, selected: m.id === fallback, title: m.id }, text));
  }
  onModelChosen();

  const limits = info.limits || {};
  if (limits.max_styles) state.maxStyles = limits.max_styles;
  for (const node of document.querySelectorAll(".max-styles")) node.textContent = String(state.maxStyles);
  if (limits.max_gatys_steps) $("steps").max = String(limits.max_gatys_steps);
  if (limits.max_style_size) {
    $("size").max = String(limits.max_style_size);
    if (+$("size").value > limits.max_style_size) $("size").value = String(limits.max_style_size);
  }

  const explain = info.features.explain || { available: false };
  const methods = explain.available ? (explain.methods || ["gradcam"]) : [];
  const disabled = new Set(explain.disabled || []);
  const camMethod = $("cam-method");
  camMethod.textContent = "";
  for (const m of methods) {
    const slow = (explain.slow_methods || [...SLOW_CAM]).includes(m);
    const label = `${camName(m)}${disabled.has(m) ? " (disabled here)" : slow ? " (slow)" : ""}`;
    camMethod.append(el("option", { value: m, disabled: disabled.has(m) }, label));
  }
  camMethod.value = explain.default_method || "gradcam";
  if (!explain.available) {
    for (const id of ["cam", "cam-method", "cam-class", "cam-opacity"]) $(id).disabled = true;
    $("cam-note").textContent = `Heatmaps are not available on this server: ${explain.reason || "not installed"}`;
  }

  const stylize = info.features.stylize || {};
  for (const option of $("method").options) {
    if (!(stylize[option.value] || {}).available) option.textContent += " - not installed";
  }
  if (!(stylize.adain || {}).available && (stylize.gatys || {}).available) $("method").value = "gatys";
  updateMethodNote();
}

function currentModel() {
  return state.models.get($("model").value);
}

/** "What this model knows", in words: its classes, what it learnt from, how often it is right.
 *  The server's model card says it in sentences; an older server's bare listing is put into words here. */
function renderAbout() {
  const m = currentModel();
  if (!m) return;
  const card = m.card || {};
  const classes = card.classes || (m.classes || []).map(pretty);
  const summary = card.summary || `${m.name} sorts a picture into one of ${classes.length} classes.`;
  $("about-summary").textContent = summary;
  const listed = classes.length && classes.every((c) => summary.includes(c));
  $("about-classes").textContent = classes.length && !listed
    ? `It knows ${classes.length === 1 ? "one class" : `these ${classes.length}`}: ${inWords(classes)}.` : "";
  $("about-classes").hidden = !$("about-classes").textContent;
  const parts = [];
  const trained = card.trained_on;
  if (trained && !/^not recorded/i.test(trained)) {
    const text = typeof trained === "string" ? trained : Object.values(trained).join(", ");
    parts.push(/^(trained|learnt|learned)\b/i.test(text) ? text : `Learnt from ${text}`);
  } else if (trained) {
    parts.push("What it learnt from is not recorded in its files");
  }
  const accuracy = card.accuracy != null ? card.accuracy : (m.metrics || {}).accuracy;
  if (typeof accuracy === "number" && isFinite(accuracy)) {
    let text = `Right about ${Math.round(10 * accuracy)} times in 10 on pictures it never saw in training`;
    const top3 = (m.metrics || {}).top3;
    if (typeof top3 === "number" && classes.length > 3) {
      text += `; the right answer is among its first three guesses about ${Math.round(10 * top3)} times in 10`;
    }
    parts.push(text);
  } else if (typeof accuracy === "string" && accuracy) {
    parts.push(accuracy);
  } else {
    parts.push("How often it is right has not been measured");
  }
  $("about-trained").textContent = parts.map((p) => p.replace(/[.\s]+$/, "")).join(". ") + ".";
}

function onModelChosen() {
  renderAbout();
  const m = currentModel();
  const select = $("cam-class");
  const keep = select.value;
  select.textContent = "";
  select.append(el("option", { value: "" }, "the predicted one"));
  for (const c of (m ? m.classes : [])) select.append(el("option", { value: c }, pretty(c)));
  select.value = m && m.classes.includes(keep) ? keep : "";
}

// ---- examples ------------------------------------------------------------------------------------

async function loadExamples() {
  let response;
  try { response = await fetch("/v1/examples"); } catch (_) { return; }
  if (!response.ok) return;  // a server without shipped examples: the strip stays hidden
  const examples = ((await response.json()) || {}).examples || [];
  const list = $("example-list");
  list.textContent = "";
  for (const ex of examples) {
    const title = ex.title || pretty(ex.name);
    const button = el("button", { type: "button", class: "thumb", dataset: { name: ex.name },
                                  "aria-label": `Try ${title}${ex.artist ? `, ${ex.artist}` : ""}`,
                                  onclick: () => useExample(ex) },
      el("img", { src: ex.url, alt: "", loading: "lazy" }),
      el("span", { class: "title" }, title),
      ex.artist ? el("span", { class: "by" }, ex.artist) : null);
    list.append(el("li", {}, button));
  }
  $("examples").hidden = examples.length === 0;
}

async function fetchAsFile(url, name) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(await errorText(response));
  const blob = await response.blob();
  const ext = { "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp" }[blob.type] || "";
  return new File([blob], /\.[a-z]{3,4}$/i.test(name) ? name : `${name}${ext}`, { type: blob.type });
}

async function useExample(ex) {
  try {
    setFiles([await fetchAsFile(ex.url, ex.name)]);
  } catch (err) {
    showError("classify", `Could not load the example: ${err.message}`);
  }
}

// ---- classify ------------------------------------------------------------------------------------

function topK() {
  const k = parseInt($("topk").value, 10);
  return Math.min(20, Math.max(1, isFinite(k) ? k : 5));
}

/** Forget the previous prediction, heatmap and error: a new upload starts from a clean page. */
function clearPrediction() {
  document.dispatchEvent(new CustomEvent("artlens:cleared"));  // feedback.js
  $("results").textContent = "";
  $("uncertain").hidden = true;
  $("uncertain").textContent = "";
  $("empty-result").hidden = false;
  $("status").textContent = "";
  $("result-title").textContent = "Prediction";
}

function clearCam() {
  state.cam.token++;
  $("cam-view").hidden = true;
  $("cam-download").hidden = true;
  $("cam-download").removeAttribute("href");
  if (!$("cam").disabled) $("cam-note").textContent = "";
}

function dropCamCache() {
  for (const entry of state.cam.cache.values()) URL.revokeObjectURL(entry.url);
  state.cam.cache.clear();
}

function resetClassify() {
  state.seq++;
  for (const item of state.items) URL.revokeObjectURL(item.url);
  state.items = [];
  state.current = -1;
  dropCamCache();
  showError("classify", "");
  clearPrediction();
  clearCam();
  $("batch").hidden = true;
  $("batch-table").tBodies[0].textContent = "";
  $("csv").hidden = true;
  $("preview").hidden = true;
  $("preview").removeAttribute("src");
  $("drop").classList.remove("has-image");
  $("heatmap").hidden = true;  // nothing to explain yet
  document.querySelector(".classify-grid").classList.add("empty");
  for (const b of document.querySelectorAll("#example-list .thumb")) b.setAttribute("aria-pressed", "false");
}

function setFiles(files) {
  files = Array.from(files || []).filter(Boolean);
  if (!files.length) return;
  resetClassify();
  state.items = files.map((file) => ({ file, name: file.name || "image", url: URL.createObjectURL(file),
                                       result: null, error: null, pending: true }));
  for (const b of document.querySelectorAll("#example-list .thumb")) {
    b.setAttribute("aria-pressed", String(files.length === 1 && stem(files[0].name) === stem(b.dataset.name)));
  }
  $("heatmap").hidden = false;
  document.querySelector(".classify-grid").classList.remove("empty");
  renderBatch();
  showItem(0);
  classifyAll();
}

/** Ask again for every image (another model or another top-k). */
function reclassify() {
  if (!state.items.length) return;
  state.seq++;
  dropCamCache();
  clearCam();
  for (const item of state.items) Object.assign(item, { result: null, error: null, pending: true });
  renderBatch();
  showItem(state.current);
  classifyAll();
}

async function classifyAll() {
  const seq = state.seq;
  const model = $("model").value;
  const ask = Math.max(topK(), 3);  // an uncertain answer shows three guesses at least
  let next = 0;
  const worker = async () => {
    while (next < state.items.length && seq === state.seq) {
      const i = next++;
      const item = state.items[i];
      try {
        const response = await post("/v1/predict", { file: item.file, model, top_k: ask }, (s) => {
          if (seq === state.seq) $("status").textContent = `The server is busy: trying again in ${duration(s)}...`;
        });
        if (seq !== state.seq) return;
        if (response.ok) item.result = await response.json();
        else item.error = await errorText(response);
      } catch (err) {
        item.error = `the server did not answer (${err.message})`;
      }
      if (seq !== state.seq) return;
      item.pending = false;
      onItemDone(i);
    }
  };
  await Promise.all(state.items.slice(0, 2).map(() => worker()));
}

function onItemDone(i) {
  const item = state.items[i];
  const single = state.items.length === 1;
  if (item.error) {
    if (i === state.current) clearCam();  // no heatmap, and no note about one, for an image that failed
    if (single) {  // nothing to show: back to the empty drop zone, with the reason
      showError("classify", `${item.name}: ${item.error}`);
      $("preview").hidden = true;
      $("drop").classList.remove("has-image");
      $("heatmap").hidden = true;
      document.querySelector(".classify-grid").classList.add("empty");
    } else {
      const failed = state.items.filter((it) => it.error).length;
      showError("classify", `${failed} of ${state.items.length} images could not be classified (see the table).`);
    }
  }
  renderBatchRow(i);
  $("csv").hidden = !state.items.some((it) => it.result);
  if (i === state.current) renderCurrent();
  else if (!single) updateBatchTitle();
}

function showItem(i) {
  const item = state.items[i];
  if (!item) return;
  state.current = i;
  const preview = $("preview");
  preview.src = item.url;
  preview.alt = item.name;
  preview.hidden = false;
  $("drop").classList.add("has-image");
  for (const row of $("batch-table").tBodies[0].rows) row.classList.toggle("current", +row.dataset.index === i);
  renderCurrent();
  updateCam();
}

function renderCurrent() {
  clearPrediction();
  const item = state.items[state.current];
  updateBatchTitle();
  if (!item) return;
  const where = state.items.length > 1 ? `${item.name} (${state.current + 1} of ${state.items.length}): ` : "";
  if (item.pending) { $("status").textContent = `${where}thinking...`; return; }
  if (item.error) { $("status").textContent = `${where}not classified: ${item.error}`; return; }
  renderPredictions(item.result);
  document.dispatchEvent(new CustomEvent("artlens:prediction", { detail: item.result }));  // feedback.js
  const image = item.result.image || {};
  const model = state.models.get(item.result.model);
  $("status").textContent = `${where}${image.width}x${image.height} ${image.format || ""}, answered by `
    + `${model ? model.name : item.result.model} in ${Math.round(item.result.latency_ms)} ms`;
  syncPressed();
}

function shownPredictions(result) {
  const n = result.uncertain ? Math.max(topK(), 3) : topK();
  return result.predictions.slice(0, n);
}

function renderPredictions(body) {
  const list = $("results");
  list.textContent = "";
  $("empty-result").hidden = true;
  for (const p of shownPredictions(body)) {
    const fill = el("span");
    fill.style.width = `${Math.max(1, 100 * p.prob)}%`;
    const button = el("button", { type: "button", class: "bar-button", "aria-pressed": "false",
                                  title: `Show where the model looks for ${pretty(p.label)}`,
                                  onclick: () => pickClass(p.label) },
      el("span", { class: "bar-label" }, el("span", { class: "label" }, pretty(p.label)), el("span", { class: "pct" }, pct(p.prob))),
      el("span", { class: "bar" }, fill));
    list.append(el("li", { dataset: { label: p.label } }, button));
  }
  if (body.uncertain) {
    const three = body.predictions.slice(0, 3).map((p) => p.label);
    $("uncertain").textContent = `Uncertain: the model cannot tell these apart well. It might be ${inWords(three).replace(/ and ([^,]+)$/, " or $1")}.`;
    $("uncertain").hidden = false;
  }
}

// ---- several images: table and CSV ---------------------------------------------------------------

function renderBatch() {
  const body = $("batch-table").tBodies[0];
  body.textContent = "";
  $("batch").hidden = state.items.length < 2;
  if (state.items.length < 2) return;
  state.items.forEach((item, i) => {
    const row = el("tr", { dataset: { index: String(i) } },
      el("td", {}, el("button", { type: "button", class: "row-button", title: `Show ${item.name}`, onclick: () => showItem(i) },
        el("img", { src: item.url, alt: "", onerror: (e) => e.target.classList.add("broken") }), el("span", {}, item.name))),
      el("td", { class: "label" }), el("td", { class: "num prob" }));
    body.append(row);
    renderBatchRow(i);
  });
  updateBatchTitle();
}

function renderBatchRow(i) {
  const row = $("batch-table").tBodies[0].rows[i];
  const item = state.items[i];
  if (!row || !item) return;
  const label = row.cells[1];
  const prob = row.cells[2];
  label.className = "label";
  if (item.pending) { label.textContent = "..."; prob.textContent = ""; return; }
  if (item.error) { label.textContent = "failed"; label.className = "label failed"; label.title = item.error; prob.textContent = ""; return; }
  const top = item.result.predictions[0];
  label.textContent = pretty(top.label);
  if (item.result.uncertain) label.append(" ", el("span", { class: "flag" }, "(uncertain)"));
  prob.textContent = pct(top.prob);
}

function updateBatchTitle() {
  if (state.items.length < 2) return;
  const done = state.items.filter((it) => !it.pending).length;
  $("batch-title").textContent = done === state.items.length
    ? `All ${state.items.length} images` : `All ${state.items.length} images (${done} done)`;
}

function csvField(value) {
  let text = value == null ? "" : String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;  // never a spreadsheet formula
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function resultsCsv() {
  const k = Math.max(1, ...state.items.filter((it) => it.result).map((it) => shownPredictions(it.result).length));
  const header = ["file", "model", "uncertain"];
  for (let r = 1; r <= k; r++) header.push(`label_${r}`, `prob_${r}`);
  header.push("error");
  const lines = [header];
  for (const item of state.items) {
    const row = [item.name, item.result ? item.result.model : $("model").value,
                 item.result ? String(!!item.result.uncertain) : ""];
    const preds = item.result ? shownPredictions(item.result) : [];
    for (let r = 0; r < k; r++) row.push(preds[r] ? preds[r].label : "", preds[r] ? preds[r].prob : "");
    row.push(item.error || (item.pending ? "not finished" : ""));
    lines.push(row);
  }
  return lines.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

function downloadCsv() {
  const url = URL.createObjectURL(new Blob([resultsCsv()], { type: "text/csv" }));
  const link = el("a", { href: url, download: "artlens-predictions.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- heatmap -------------------------------------------------------------------------------------

function pickClass(label) {
  if ($("cam").disabled) return;
  $("cam-class").value = label;
  $("cam").checked = true;
  updateCam();
  const head = $("heatmap-title").getBoundingClientRect();
  if (head.top > window.innerHeight - 80) {  // the heatmap is out of sight (a phone): bring it up
    $("heatmap").scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

/** The bar whose heatmap is shown is pressed: the chosen class, or the predicted one. */
function syncPressed() {
  const item = state.items[state.current];
  const chosen = $("cam-class").value
    || ($("cam").checked && item && item.result ? item.result.predictions[0].label : "");
  for (const li of $("results").children) {
    li.querySelector(".bar-button").setAttribute("aria-pressed", String(li.dataset.label === chosen));
  }
}

async function updateCam() {
  syncPressed();
  const item = state.items[state.current];
  if (!$("cam").checked || $("cam").disabled) { clearCam(); return; }
  if (!item) { clearCam(); $("cam-note").textContent = "Choose a painting first."; return; }
  if (item.error) { clearCam(); return; }
  const model = $("model").value;
  const method = $("cam-method").value;
  const target = $("cam-class").value;
  const key = [state.seq, state.current, model, method, target].join("|");
  const token = ++state.cam.token;
  const cached = state.cam.cache.get(key);
  if (cached) { showCam(item, cached); return; }
  $("cam-note").textContent = `Computing the ${camName(method)} heatmap...`;
  const stale = () => token !== state.cam.token;
  try {
    let response = await post("/v1/explain", { file: item.file, model, method, target: target || null });
    if (stale()) return;
    if (response.status === 202) {  // a slow method runs as a background job
      const { job } = await response.json();
      const done = await followJob(job.id, stale, (j) => {
        $("cam-note").textContent = `${camName(method)} takes a while: ${describeJob(j)}`;
      });
      if (stale() || !done) {  // another image, class or method was asked for meanwhile: free the server
        if (!done) fetch(`/v1/jobs/${job.id}`, { method: "DELETE" }).catch(() => {});
        return;
      }
      if (done.state !== "done") { $("cam-note").textContent = `No heatmap: ${done.error || done.state}`; return; }
      response = await fetch(done.result || `/v1/jobs/${done.id}/result`);
      if (stale()) return;
    }
    if (!response.ok) {
      const text = await errorText(response);
      if (stale()) return;  // the image failed or changed meanwhile: its own state says what is shown
      $("cam-note").textContent = `No heatmap: ${text}`;
      $("cam-view").hidden = true;
      $("cam-download").hidden = true;
      return;
    }
    const header = (name) => { const v = response.headers.get(name); return v == null ? null : decodeURIComponent(v); };
    const blob = await response.blob();
    const result = { url: URL.createObjectURL(blob), label: header("X-Label") || target, method: header("X-Method") || method,
                     prob: parseFloat(header("X-Prob")), predicted: header("X-Predicted") };
    state.cam.cache.set(key, result);
    if (state.cam.cache.size > 40) {
      const [oldKey, old] = state.cam.cache.entries().next().value;
      URL.revokeObjectURL(old.url);
      state.cam.cache.delete(oldKey);
    }
    if (!stale()) showCam(item, result);
  } catch (err) {
    if (!stale()) $("cam-note").textContent = `No heatmap: the server did not answer (${err.message}).`;
  }
}

function showCam(item, result) {
  $("cam-original").src = item.url;
  $("cam-base").src = item.url;
  $("cam-overlay").src = result.url;
  $("cam-view").hidden = false;
  const label = pretty(result.label || "the predicted class");
  $("cam-caption").textContent = `${label}, ${camName(result.method)}`;
  let note = `Heatmap for ${label}`;
  if (isFinite(result.prob)) note += ` (${pct(result.prob)})`;
  if (result.predicted && result.label && result.predicted !== result.label) note += `; the model's own answer is ${pretty(result.predicted)}`;
  $("cam-note").textContent = `${note}. Bright yellow is where the model looks most; where it looks least the paint shows through, dimmed.`;
  const link = $("cam-download");
  link.href = result.url;
  link.download = `${stem(item.name)}-heatmap-${stem(result.label || "predicted")}-${stem(result.method)}.png`;
  link.hidden = false;
  applyOpacity();
}

/** Lay the original under the heatmap so the opacity slider fades between them. The server draws the map on
 *  the whole picture (a cropping model's crop in place, the rest greyed), so the original lies under it as it is;
 *  an older server's heatmap of the crop alone gets the original framed as the model framed it. */
function alignCamBase() {
  const overlay = $("cam-overlay");
  const original = $("cam-original");
  const base = $("cam-base");
  if (!overlay.naturalWidth || !original.naturalWidth) return;
  const pre = (currentModel() || {}).preprocessing || {};
  const sameShape = Math.abs(overlay.naturalWidth / overlay.naturalHeight - original.naturalWidth / original.naturalHeight) < 0.03;
  const cropped = !sameShape && pre.resize !== "squash";
  base.style.objectFit = cropped ? "cover" : "fill";
  base.style.transform = cropped ? `scale(${1 / (pre.crop_pct || 0.875)})` : "";
}

function applyOpacity() {
  const value = parseFloat($("cam-opacity").value);
  $("cam-overlay").style.opacity = String(value);
  $("cam-opacity-value").textContent = `${Math.round(100 * value)}%`;
}

// ---- jobs (Gatys, slow heatmaps) -------------------------------------------------------------------

function describeJob(job) {
  const estimate = job.estimate_s ? duration(job.estimate_s) : "";
  if (job.state === "queued") {
    const where = job.position != null
      ? (job.position <= 1 ? "next in line" : `number ${job.position} in the queue`) : "waiting in the queue";
    return `${where}${estimate ? `; it takes about ${estimate} once it starts` : ""}`;
  }
  if (job.state === "running") {
    const progress = job.progress || 0;
    const elapsed = job.elapsed_s || 0;
    const left = progress > 0.05 ? (elapsed / progress) * (1 - progress) : (job.estimate_s ? job.estimate_s - elapsed : null);
    const said = (job.message || "").replace(/,?\s*loss\b.*$/, "");  // "step 40/100, loss 66": the step is enough
    const message = said && !/^(started|running)$/.test(said) ? ` (${said})` : "";
    return `${Math.round(100 * progress)}% done${message}${left != null && left > 0 ? `, about ${duration(left)} left` : ""}`;
  }
  return job.state;
}

/** Poll a job until it ends (or `stale()`); returns its last state, or null when it vanished. */
async function followJob(id, stale, onUpdate) {
  for (let failures = 0; ;) {
    let response;
    try {
      response = await fetch(`/v1/jobs/${id}`);
    } catch (_) {
      if (++failures > 30) return null;
      await sleep(2000);
      continue;
    }
    if (stale()) return null;
    if (!response.ok) return { id, state: "failed", error: await errorText(response), gone: response.status === 404 };
    const job = await response.json();
    onUpdate(job);
    if (!["queued", "running"].includes(job.state)) return job;
    await sleep(job.state === "queued" ? 1500 : 1000);
    if (stale()) return null;
  }
}

// ---- style: method, presets, chosen styles -------------------------------------------------------

function updateMethodNote() {
  if (!state.info) return;
  const stylize = state.info.features.stylize || {};
  const method = $("method").value;
  const feature = stylize[method] || { available: false, reason: "unknown method" };
  $("alpha-box").hidden = method !== "adain";
  $("steps-box").hidden = method !== "gatys";
  let note = "";
  if (!feature.available) note = `Not available here: ${feature.reason}`;
  else if (method === "adain") note = "AdaIN paints in seconds; the balance sets how much of the style goes in.";
  else if (method === "gatys" && !(stylize.adain || {}).available) {
    note = "AdaIN is not installed on this server, so styles are painted by Gatys' method: a background job of a few minutes.";
  } else if (method === "gatys") note = "Gatys' method runs as a background job: you can leave the page and come back.";
  else if (method === "cyclegan") note = "CycleGAN repaints the photo in the style of the paintings it was trained on: no style image needed.";
  $("method-note").querySelector(".text").textContent = note;
  $("use-gatys").hidden = !(method === "adain" && !feature.available && (stylize.gatys || {}).available);
  $("go").disabled = !feature.available || state.job.id != null;
}

function offerGatys(reason) {
  const stylize = state.info.features.stylize;
  stylize.adain = { ...(stylize.adain || {}), available: false, reason };
  updateMethodNote();
}

async function loadStyles() {
  let response;
  try { response = await fetch("/v1/styles"); } catch (_) { return; }
  if (!response.ok) return;  // no presets on this server: own style images only
  state.presets = ((await response.json()) || {}).styles || [];
  const list = $("style-gallery");
  list.textContent = "";
  for (const s of state.presets) {
    const title = s.title || pretty(s.name);
    const by = [s.artist, s.licence].filter(Boolean).join(", ");
    const button = el("button", { type: "button", class: "thumb", "aria-pressed": "false", dataset: { name: s.name },
                                  "aria-label": `${title}${s.artist ? `, ${s.artist}` : ""}`, onclick: () => togglePreset(s) },
      el("img", { src: s.url, alt: "", loading: "lazy" }),
      el("span", { class: "title" }, title),
      by ? el("span", { class: "by", title: by }, by) : null);
    list.append(el("li", {}, button));
  }
  $("gallery").hidden = state.presets.length === 0;
}

function togglePreset(preset) {
  const key = `preset:${preset.name}`;
  if (state.styles.some((s) => s.key === key)) {
    state.styles = state.styles.filter((s) => s.key !== key);
  } else {
    if (!addStyle({ key, title: preset.title || pretty(preset.name), by: preset.artist || "", url: preset.url,
                    file: null, name: preset.name })) return;
  }
  renderStyles();
}

function addStyle(style) {
  if (state.styles.length >= state.maxStyles) {
    showError("style", `At most ${state.maxStyles} style images: remove one first.`);
    return false;
  }
  state.styles.push({ weight: 1, ...style });
  return true;
}

function addOwnStyles(files) {
  showError("style", "");
  for (const file of Array.from(files)) {
    if (!addStyle({ key: `file:${++state.styleKey}`, title: file.name, by: "your image", url: URL.createObjectURL(file), file })) break;
  }
  renderStyles();
}

function removeStyle(key) {
  const style = state.styles.find((s) => s.key === key);
  if (style && style.file) URL.revokeObjectURL(style.url);
  state.styles = state.styles.filter((s) => s.key !== key);
  renderStyles();
}

function renderStyles() {
  const list = $("chosen-styles");
  list.textContent = "";
  const total = state.styles.reduce((sum, s) => sum + s.weight, 0) || 1;
  const several = state.styles.length > 1;
  const weighted = weightsApply();
  state.styles.forEach((s, i) => {
    const share = el("output", {}, several ? `${Math.round((100 * s.weight) / total)}%` : "100%");
    let weight;
    if (several && weighted) {
      const id = `weight-${i}`;
      const slider = el("input", { type: "range", id, min: "0.1", max: "2", step: "0.1", value: String(s.weight),
                                   oninput: (e) => { s.weight = parseFloat(e.target.value); updateShares(); } });
      weight = el("span", { class: "weight" }, el("label", { for: id }, "Weight"), slider, share);
    } else {
      weight = el("span", { class: "weight" }, several ? "Equal share: " : "", share);
    }
    list.append(el("li", { dataset: { key: s.key } },
      el("img", { src: s.url, alt: "" }),
      el("span", { class: "name", title: `${s.title}${s.by ? `, ${s.by}` : ""}` }, s.title),
      el("button", { type: "button", class: "remove", "aria-label": `Remove ${s.title}`, onclick: () => removeStyle(s.key) }, "\u00d7"),
      weight));
  });
  $("no-styles").hidden = state.styles.length > 0;
  $("weights-note").textContent = !several || weighted ? ""
    : state.weightsField ? "Gatys mixes several styles in equal parts (AdaIN takes weights)."
      : "This server mixes several styles in equal parts.";
  for (const b of document.querySelectorAll("#style-gallery .thumb")) {
    b.setAttribute("aria-pressed", String(state.styles.some((s) => s.key === `preset:${b.dataset.name}`)));
  }
}

/** Per-style weights: when the server takes them (its OpenAPI schema says so), for AdaIN only. */
function weightsApply() {
  return Boolean(state.weightsField) && $("method").value === "adain";
}

function updateShares() {
  const total = state.styles.reduce((sum, s) => sum + s.weight, 0) || 1;
  const outputs = $("chosen-styles").querySelectorAll("output");
  state.styles.forEach((s, i) => { if (outputs[i]) outputs[i].textContent = `${Math.round((100 * s.weight) / total)}%`; });
}

/** Whether POST /v1/stylize takes per-style weights (read from the server's own OpenAPI schema). */
async function detectWeights() {
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) return;
    const api = await response.json();
    const body = (((api.paths || {})["/v1/stylize"] || {}).post || {}).requestBody || {};
    let schema = ((body.content || {})["multipart/form-data"] || {}).schema || {};
    if (schema.$ref) schema = schema.$ref.split("/").slice(1).reduce((node, part) => (node || {})[part], api) || {};
    const props = schema.properties || {};
    const name = ["style_weights", "weights"].find((n) => n in props);
    if (!name) return;
    const prop = props[name];
    const types = [prop.type, ...(prop.anyOf || []).map((t) => t.type)];
    state.weightsField = { name, array: types.includes("array") };
    renderStyles();
  } catch (_) { /* no schema: equal weights */ }
}

function setContent(file) {
  if (!file) return;
  if (state.content) URL.revokeObjectURL(state.content.url);
  state.content = { file, url: URL.createObjectURL(file) };
  $("content-preview").src = state.content.url;
  $("content-preview").hidden = false;
  $("content-preview").parentElement.classList.add("has-image");
  showError("style", "");
}

// ---- style: run ----------------------------------------------------------------------------------

function showStylized(blob, name) {
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  $("stylized").src = state.resultUrl;
  $("stylized").hidden = false;
  $("result-hint").hidden = true;
  $("stylized").parentElement.classList.add("has-image");
  const link = $("style-download");
  link.href = state.resultUrl;
  link.download = `${stem(name || "artlens")}-stylised.png`;
  link.hidden = false;
}

async function stylize() {
  showError("style", "");
  if (!state.content) { showError("style", "Choose a content image first."); return; }
  const method = $("method").value;
  const needsStyles = method !== "cyclegan";  // a CycleGAN model is its own style
  if (needsStyles && !state.styles.length) { showError("style", "Pick a style above or add a style image of your own."); return; }
  $("go").disabled = true;
  $("job-status").textContent = method === "gatys" ? "Sending..." : "Painting...";
  try {
    const styles = needsStyles ? await Promise.all(state.styles.map((s) => s.file || fetchAsFile(s.url, s.name))) : [];
    const fields = { content: state.content.file, style: styles, method, alpha: $("alpha").value,
                     steps: $("steps").value, size: $("size").value, preserve_color: $("keep-color").checked };
    if (weightsApply() && styles.length > 1) {
      const weights = state.styles.map((s) => String(s.weight));
      fields[state.weightsField.name] = state.weightsField.array ? weights : weights.join(",");
    }
    const response = await post("/v1/stylize", fields, (s) => {
      $("job-status").textContent = `The server is busy: trying again in ${duration(s)}...`;
    });
    if (response.status === 202) {
      const { job } = await response.json();
      localStorage.setItem(JOB_KEY, job.id);
      await followStyleJob(job.id, job);
    } else if (response.ok) {
      showStylized(await response.blob(), state.content.file.name);
      const ms = response.headers.get("X-Latency-Ms");
      $("job-status").textContent = ms ? `Done in ${(ms / 1000).toFixed(1)} s.` : "Done.";
    } else {
      const text = await errorText(response);
      $("job-status").textContent = "";
      if (response.status === 503 && method === "adain" && /decoder|not (available|installed)/i.test(text)) {
        offerGatys(text);
      }
      showError("style", text);
    }
  } catch (err) {
    $("job-status").textContent = "";
    showError("style", `The server did not answer (${err.message}).`);
  } finally {
    updateMethodNote();
  }
}

async function followStyleJob(id, first) {
  const token = ++state.job.token;
  state.job.id = id;
  $("job").hidden = false;
  $("cancel").disabled = false;
  $("go").disabled = true;
  const bar = $("job-progress");
  const update = (job) => {
    bar.value = job.progress || 0;
    $("job-status").textContent = `Gatys: ${describeJob(job)}`;
  };
  if (first) update(first);
  const stale = () => token !== state.job.token;
  const job = await followJob(id, stale, update);
  if (stale()) return;
  if (job && job.state === "done") {
    try {
      const result = await fetch(job.result || `/v1/jobs/${id}/result`);
      if (result.ok) {
        showStylized(await result.blob(), state.content ? state.content.file.name : "artlens");
        $("job-status").textContent = `Done in ${duration(job.elapsed_s)}.`;
      } else {
        showError("style", await errorText(result));
      }
    } catch (err) {
      showError("style", `The result could not be fetched (${err.message}).`);
    }
  } else if (job && job.state === "cancelled") {
    $("job-status").textContent = "Cancelled.";
  } else if (job && job.gone) {
    $("job-status").textContent = "That job is no longer on the server (it may have restarted).";
  } else {
    $("job-status").textContent = "";
    showError("style", `Style transfer failed: ${job ? job.error || job.state : "the server stopped answering"}`);
  }
  endJob();
}

function endJob() {
  localStorage.removeItem(JOB_KEY);
  state.job.id = null;
  $("job").hidden = true;
  updateMethodNote();
}

async function cancelJob() {
  const id = state.job.id;
  if (!id) return;
  $("cancel").disabled = true;
  try {
    const response = await fetch(`/v1/jobs/${id}`, { method: "DELETE" });
    if (response.status === 202) {  // running: it stops at its next step, and the poll sees "cancelled"
      $("job-status").textContent = "Cancelling...";
      return;
    }
    if (response.ok || response.status === 404) {
      state.job.token++;  // stop following it
      endJob();
      $("job-status").textContent = "Cancelled.";
      return;
    }
    showError("style", `Could not cancel: ${await errorText(response)}`);
  } catch (err) {
    showError("style", `Could not cancel (${err.message}).`);
  }
  $("cancel").disabled = false;
}

// ---- wiring --------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  wireTabs();
  $("preview").addEventListener("error", () => { $("preview").hidden = true; $("drop").classList.remove("has-image"); });
  $("file").addEventListener("change", (e) => { const files = Array.from(e.target.files); e.target.value = ""; setFiles(files); });
  wireDrop($("drop"), setFiles);
  $("model").addEventListener("change", () => { onModelChosen(); reclassify(); });
  $("topk").addEventListener("change", reclassify);
  $("csv").addEventListener("click", downloadCsv);
  $("cam").addEventListener("change", updateCam);
  $("cam-method").addEventListener("change", updateCam);
  $("cam-class").addEventListener("change", () => { if ($("cam").checked) updateCam(); else pickClass($("cam-class").value); });
  $("cam-opacity").addEventListener("input", applyOpacity);
  $("cam-overlay").addEventListener("load", alignCamBase);
  $("cam-original").addEventListener("load", alignCamBase);

  $("content").addEventListener("change", (e) => { setContent(e.target.files[0]); });
  $("style").addEventListener("change", (e) => { const files = Array.from(e.target.files); e.target.value = ""; addOwnStyles(files); });
  wireDrop($("content").parentElement, (files) => setContent(files[0]));
  wireDrop($("chosen-styles").parentElement, addOwnStyles);
  const showAlpha = () => {
    const share = Math.round(100 * $("alpha").value);
    $("alpha-value").textContent = `${share}%`;
    $("alpha").setAttribute("aria-valuetext", `${share}% style, ${100 - share}% content`);
  };
  $("alpha").addEventListener("input", showAlpha);
  showAlpha();
  $("method").addEventListener("change", () => { updateMethodNote(); renderStyles(); });
  $("use-gatys").addEventListener("click", () => { $("method").value = "gatys"; updateMethodNote(); renderStyles(); });
  $("go").addEventListener("click", stylize);
  $("cancel").addEventListener("click", cancelJob);
  renderStyles();

  await Promise.all([loadModels(), loadExamples(), loadStyles(), detectWeights()]);
  renderStyles();  // weights or not depends on the method (models) and the schema (weights)
  const pending = localStorage.getItem(JOB_KEY);
  if (pending) {  // a job started before a reload: show the style tab and keep following it
    selectTab("style");
    followStyleJob(pending);
  }
});
