// The inpainting page: open a photo, paint the hole on a mask canvas at the photo's full
// resolution (shown scaled), POST both to /api/v1/inpaint, show the PNG with a before/after
// slider, paint again on it. No dependencies, no build step.
"use strict";

const API = "/api/v1";
const HOLE = "#ff2d55"; // any opaque, non-black pixel of the mask is hole (transparent = keep)
const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file"), brush: $("brush"), eraser: $("eraser"), size: $("size"), sizeValue: $("size-value"),
  undo: $("undo"), redo: $("redo"), clear: $("clear"), blend: $("blend"), inpaint: $("inpaint"),
  download: $("download"), error: $("error"), status: $("status"), stage: $("stage"), hint: $("hint"),
  frame: $("frame"), after: $("after"), before: $("before"), divider: $("divider"), mask: $("mask"),
  cursor: $("cursor"), working: $("working"), compareRow: $("compare-row"), compare: $("compare"),
  modelInfo: $("model-info"),
};
const ctx = ui.mask.getContext("2d");

const state = {
  image: null, // Blob being edited: the opened file, then each result
  name: "image", // base of the download's file name
  url: null, // object URL of state.image
  beforeUrl: null, // object URL of the image before the last inpaint
  ops: [], // the mask as a list of strokes {erase, size, points} and {clear: true}
  undone: [], // ops taken back by undo, for redo
  stroke: null, // the stroke being painted
  erasing: false,
  busy: false,
  limits: null, // {max_upload_bytes, max_pixels, queue_size} from /api/v1/model
};

// ---- messages ----------------------------------------------------------------------------------
function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function setStatus(message) {
  ui.status.textContent = message;
}

async function errorMessage(response) {
  // The API answers every error as {"error": "..."}; anything else (a proxy's page) by its status.
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch (_) { /* not JSON */ }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

function megabytes(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

// ---- the model's description -------------------------------------------------------------------
async function loadModelInfo() {
  try {
    const response = await fetch(`${API}/model`);
    if (!response.ok) throw new Error(await errorMessage(response));
    const info = await response.json();
    state.limits = info.limits;
    const sha = info.sha256 ? ` · sha256 ${info.sha256.slice(0, 12)}…` : "";
    ui.modelInfo.textContent = `${info.arch} model, ${info.image_size} px input, ` +
      `checkpoint ${info.checkpoint ?? "in memory"}${sha} · up to ${megabytes(info.limits.max_upload_bytes)}, ` +
      `${(info.limits.max_pixels / 1e6).toFixed(0)} megapixels`;
    ui.blend.options[0].textContent = `server default (${info.inpaint.blend})`;
  } catch (err) {
    ui.modelInfo.textContent = `cannot describe the model: ${err.message}`;
  }
}

// ---- opening an image --------------------------------------------------------------------------
async function openFile(file) {
  if (!file || state.busy) return;
  clearError();
  if (state.limits && file.size > state.limits.max_upload_bytes) {
    showError(`${file.name} is ${megabytes(file.size)}: this server takes up to ` +
      `${megabytes(state.limits.max_upload_bytes)} per request.`);
    return;
  }
  let picture;
  try {
    picture = await decode(file);
  } catch (err) {
    showError(err.message);
    return;
  }
  if (state.url) URL.revokeObjectURL(state.url);
  dropBefore();
  edit(file, picture);
  state.name = file.name.replace(/\.[^.]*$/, "") || "image";
  ui.download.hidden = true;
  setStatus(`${file.name}: ${picture.width}×${picture.height} px. Paint the hole, then press Inpaint.`);
}

// Decode `blob` as the browser displays it (EXIF orientation applied): {url, width, height}.
async function decode(blob) {
  const url = URL.createObjectURL(blob);
  const probe = new Image();
  probe.src = url;
  try {
    await probe.decode();
  } catch (_) {
    URL.revokeObjectURL(url);
    throw new Error("This browser cannot display that file: open a PNG, JPEG or WebP image.");
  }
  const width = probe.naturalWidth, height = probe.naturalHeight;
  if (state.limits && width * height > state.limits.max_pixels) {
    URL.revokeObjectURL(url);
    throw new Error(`The image is ${width}×${height} = ${(width * height / 1e6).toFixed(1)} megapixels: ` +
      `this server takes up to ${(state.limits.max_pixels / 1e6).toFixed(0)} megapixels.`);
  }
  return { url, width, height };
}

// Make `blob` the image being edited, with an empty mask of its full size (shown scaled).
function edit(blob, { url, width, height }) {
  state.image = blob;
  state.url = url;
  ui.after.src = url;
  ui.mask.width = width;
  ui.mask.height = height;
  state.ops = [];
  state.undone = [];
  ui.frame.hidden = false;
  ui.hint.hidden = true;
  ui.stage.classList.add("loaded");
  updateButtons();
}

function dropBefore() {
  if (state.beforeUrl) URL.revokeObjectURL(state.beforeUrl);
  state.beforeUrl = null;
  ui.before.hidden = ui.divider.hidden = ui.compareRow.hidden = true;
  ui.before.removeAttribute("src");
}

// ---- painting the mask -------------------------------------------------------------------------
function imagePoint(event) {
  const rect = ui.mask.getBoundingClientRect();
  return [(event.clientX - rect.left) * ui.mask.width / rect.width,
    (event.clientY - rect.top) * ui.mask.height / rect.height];
}

function imagePxPerScreenPx() {
  return ui.mask.width / ui.mask.getBoundingClientRect().width;
}

function drawDot(stroke, [x, y]) {
  ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
  ctx.fillStyle = HOLE;
  ctx.beginPath();
  ctx.arc(x, y, stroke.size / 2, 0, 2 * Math.PI);
  ctx.fill();
}

function drawSegment(stroke, [x0, y0], [x1, y1]) {
  ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
  ctx.strokeStyle = HOLE;
  ctx.lineWidth = stroke.size;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

function redraw() {
  ctx.clearRect(0, 0, ui.mask.width, ui.mask.height);
  for (const op of state.ops) {
    if (op.clear) {
      ctx.clearRect(0, 0, ui.mask.width, ui.mask.height);
      continue;
    }
    drawDot(op, op.points[0]);
    for (let i = 1; i < op.points.length; i++) drawSegment(op, op.points[i - 1], op.points[i]);
  }
}

function hasHole() {
  // A brush stroke after the last clear (an eraser may still have removed it: the server says so).
  for (let i = state.ops.length - 1; i >= 0; i--) {
    if (state.ops[i].clear) return false;
    if (!state.ops[i].erase) return true;
  }
  return false;
}

function updateButtons() {
  const loaded = state.image !== null;
  ui.undo.disabled = state.busy || state.ops.length === 0;
  ui.redo.disabled = state.busy || state.undone.length === 0;
  ui.clear.disabled = state.busy || !hasHole();
  ui.inpaint.disabled = state.busy || !loaded || !hasHole();
  ui.file.disabled = state.busy;
}

function commit(op) {
  state.ops.push(op);
  state.undone = [];
  updateButtons();
}

function undo() {
  if (state.busy || state.ops.length === 0) return;
  state.undone.push(state.ops.pop());
  redraw();
  updateButtons();
}

function redo() {
  if (state.busy || state.undone.length === 0) return;
  state.ops.push(state.undone.pop());
  redraw();
  updateButtons();
}

function clearMask() {
  if (state.busy || !hasHole()) return;
  commit({ clear: true });
  redraw();
}

function setErasing(erasing) {
  state.erasing = erasing;
  ui.brush.setAttribute("aria-pressed", String(!erasing));
  ui.eraser.setAttribute("aria-pressed", String(erasing));
  ui.cursor.classList.toggle("erasing", erasing);
}

function moveCursor(event) {
  const rect = ui.frame.getBoundingClientRect();
  const side = Number(ui.size.value);
  Object.assign(ui.cursor.style, { left: `${event.clientX - rect.left}px`, top: `${event.clientY - rect.top}px`,
    width: `${side}px`, height: `${side}px` });
  ui.cursor.hidden = false;
}

ui.mask.addEventListener("pointerdown", (event) => {
  if (state.busy || !state.image || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  ui.mask.setPointerCapture(event.pointerId);
  const size = Number(ui.size.value) * imagePxPerScreenPx(); // the brush keeps its size on screen
  state.stroke = { erase: state.erasing, size, points: [imagePoint(event)], pointerId: event.pointerId };
  drawDot(state.stroke, state.stroke.points[0]);
});

ui.mask.addEventListener("pointermove", (event) => {
  moveCursor(event);
  const stroke = state.stroke;
  if (!stroke || event.pointerId !== stroke.pointerId) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const point = imagePoint(e);
    drawSegment(stroke, stroke.points[stroke.points.length - 1], point);
    stroke.points.push(point);
  }
});

function endStroke(event) {
  const stroke = state.stroke;
  if (!stroke || event.pointerId !== stroke.pointerId) return;
  state.stroke = null;
  delete stroke.pointerId;
  commit(stroke);
}

ui.mask.addEventListener("pointerup", endStroke);
ui.mask.addEventListener("pointercancel", endStroke);
ui.mask.addEventListener("pointerleave", () => { ui.cursor.hidden = true; });

// ---- inpainting --------------------------------------------------------------------------------
function setBusy(busy) {
  state.busy = busy;
  ui.working.hidden = !busy;
  ui.frame.classList.toggle("busy", busy);
  ui.inpaint.textContent = busy ? "Inpainting…" : "Inpaint";
  document.body.setAttribute("aria-busy", String(busy));
  updateButtons();
}

function maskBlob() {
  return new Promise((resolve, reject) => ui.mask.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error("cannot encode the mask"))), "image/png"));
}

async function inpaint() {
  if (state.busy || !state.image) return;
  if (!hasHole()) {
    showError("Paint the hole first: the brush marks the pixels to fill.");
    return;
  }
  clearError();
  setBusy(true);
  setStatus(`Filling the hole at ${ui.mask.width}×${ui.mask.height} px…`);
  const started = performance.now();
  try {
    const form = new FormData();
    form.append("image", state.image, state.image.name || `${state.name}.png`);
    form.append("mask", await maskBlob(), "mask.png");
    if (ui.blend.value) form.append("blend", ui.blend.value);
    let response;
    try {
      response = await fetch(`${API}/inpaint`, { method: "POST", body: form });
    } catch (_) {
      throw new Error("Cannot reach the server: is `context-encoder serve` still running?");
    }
    if (!response.ok) throw new Error(await errorMessage(response));
    await showResult(await response.blob());
    setStatus(`Filled in ${((performance.now() - started) / 1000).toFixed(1)} s. ` +
      "Drag the slider to compare, paint again to fill more, or download the PNG.");
  } catch (err) {
    showError(err.message);
    setStatus("Nothing was changed.");
  } finally {
    setBusy(false);
  }
}

async function showResult(png) {
  const picture = await decode(png);
  const beforeUrl = state.url;
  edit(png, picture);
  if (state.beforeUrl) URL.revokeObjectURL(state.beforeUrl);
  state.beforeUrl = beforeUrl;
  ui.before.src = beforeUrl;
  ui.before.hidden = ui.divider.hidden = ui.compareRow.hidden = false;
  ui.compare.value = 50;
  compare();
  ui.download.href = state.url;
  ui.download.download = `${state.name}-inpainted.png`;
  ui.download.hidden = false;
}

function compare() {
  const v = Number(ui.compare.value);
  ui.before.style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  ui.divider.style.left = `${v}%`;
}

// ---- wiring ------------------------------------------------------------------------------------
ui.file.addEventListener("change", () => {
  openFile(ui.file.files[0]);
  ui.file.value = ""; // opening the same file again still fires "change"
});
ui.brush.addEventListener("click", () => setErasing(false));
ui.eraser.addEventListener("click", () => setErasing(true));
ui.size.addEventListener("input", () => { ui.sizeValue.textContent = ui.size.value; });
ui.undo.addEventListener("click", undo);
ui.redo.addEventListener("click", redo);
ui.clear.addEventListener("click", clearMask);
ui.inpaint.addEventListener("click", inpaint);
ui.compare.addEventListener("input", compare);

for (const type of ["dragenter", "dragover"]) {
  ui.stage.addEventListener(type, (event) => {
    event.preventDefault();
    ui.stage.classList.add("dragging");
  });
}
ui.stage.addEventListener("dragleave", () => ui.stage.classList.remove("dragging"));
ui.stage.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.stage.classList.remove("dragging");
  openFile(event.dataTransfer.files[0]);
});

document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && key === "z") {
    event.preventDefault();
    (event.shiftKey ? redo : undo)();
  } else if ((event.ctrlKey || event.metaKey) && key === "y") {
    event.preventDefault();
    redo();
  } else if (!event.ctrlKey && !event.metaKey && key === "b") {
    setErasing(false);
  } else if (!event.ctrlKey && !event.metaKey && key === "e") {
    setErasing(true);
  }
});

loadModelInfo();
