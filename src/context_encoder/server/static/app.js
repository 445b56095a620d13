// The inpainting page: open a photo, paint the hole (or load a mask file) on a canvas at the
// photo's full resolution, zoom and pan, POST both to /api/v1/inpaint, show the PNG with a
// before/after divider, paint again on it. Undo / redo reach across fills. No dependencies, no build.
"use strict";

import { History } from "./history.js";
import { drawDot, drawSegment, hasHole, readMaskFile, redraw } from "./mask.js";
import { bindInput } from "./input.js";
import { View } from "./view.js";

const API = "/api/v1";
const WARNING_HEADER = "X-Inpaint-Warning";
const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file"), fileLabel: $("file-label"), maskFile: $("mask-file"), maskLabel: $("mask-label"), brush: $("brush"), eraser: $("eraser"),
  size: $("size"), sizeValue: $("size-value"), undo: $("undo"), redo: $("redo"), clear: $("clear"),
  zoomOut: $("zoom-out"), fit: $("fit"), zoomIn: $("zoom-in"), zoomValue: $("zoom-value"), blend: $("blend"),
  inpaint: $("inpaint"), download: $("download"), error: $("error"), warning: $("warning"), status: $("status"),
  stage: $("stage"), hint: $("hint"), frame: $("frame"), after: $("after"), before: $("before"),
  divider: $("divider"), mask: $("mask"), cursor: $("cursor"), working: $("working"), elapsed: $("elapsed"),
  cancel: $("cancel"), modelInfo: $("model-info"),
};
const ctx = ui.mask.getContext("2d");
const view = new View(ui.stage, ui.frame, () => { updateZoom(); showCursor(); });

const edits = new History(); // edits.doc: the image being edited, with its mask
const state = {
  name: "image", // base of the download's file name
  stroke: null, // the stroke being painted
  erasing: false,
  fill: null, // {controller, started, timer} while a fill is awaited
  limits: null, // {max_upload_bytes, max_pixels, queue_size} from /api/v1/model
  cursorAt: null, // stage px of the pointer, for the brush outline
};
const busy = () => state.fill !== null;

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

const megabytes = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

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

// ---- documents and history ---------------------------------------------------------------------
// Decode `blob` in full (a truncated file is refused here, not at Inpaint) and measure it as the
// browser displays it (EXIF orientation applied): {url, width, height}.
async function decode(blob, name) {
  try {
    (await createImageBitmap(blob)).close(); // rejects a file that does not decode to its end
  } catch (_) {
    throw new Error(`${name} cannot be read: it is truncated or not an image this browser shows ` +
      "(open a PNG, JPEG or WebP image).");
  }
  const url = URL.createObjectURL(blob);
  const probe = new Image();
  probe.src = url;
  try {
    await probe.decode();
  } catch (_) {
    URL.revokeObjectURL(url);
    throw new Error(`${name} cannot be shown: open a PNG, JPEG or WebP image.`);
  }
  const width = probe.naturalWidth, height = probe.naturalHeight;
  if (state.limits && width * height > state.limits.max_pixels) {
    URL.revokeObjectURL(url);
    throw new Error(`${name} is ${width}×${height} = ${(width * height / 1e6).toFixed(1)} megapixels: ` +
      `this server takes up to ${(state.limits.max_pixels / 1e6).toFixed(0)} megapixels.`);
  }
  return { url, width, height };
}

function commit(op) {
  edits.commit(op);
  refresh();
}

function undo() {
  if (!busy() && edits.undo()) show();
}

function redo() {
  if (!busy() && edits.redo()) show();
}

// Show edits.doc: its image, its mask, its before/after divider, its warning.
function show() {
  const doc = edits.doc;
  if (ui.after.getAttribute("src") !== doc.url) ui.after.src = doc.url;
  if (ui.mask.width !== doc.width || ui.mask.height !== doc.height) {
    ui.mask.width = doc.width;
    ui.mask.height = doc.height;
  }
  redraw(ctx, doc.ops);
  if (doc.before) ui.before.src = doc.before.url;
  else ui.before.removeAttribute("src");
  ui.warning.textContent = doc.warning ? `The server warns: ${doc.warning}` : "";
  ui.warning.hidden = !doc.warning;
  ui.download.hidden = !doc.before;
  if (doc.before) {
    ui.download.href = doc.url;
    ui.download.download = `${state.name}-inpainted.png`;
  }
  refresh();
}

function refresh() {
  const doc = edits.doc, working = busy();
  ui.undo.disabled = working || edits.past.length === 0;
  ui.redo.disabled = working || edits.future.length === 0;
  ui.clear.disabled = working || !doc || !hasHole(doc.ops);
  ui.inpaint.disabled = working || !doc || !hasHole(doc.ops);
  ui.file.disabled = working;
  ui.fileLabel.setAttribute("aria-disabled", String(working));
  ui.maskFile.disabled = working || !doc;
  ui.maskLabel.setAttribute("aria-disabled", String(ui.maskFile.disabled));
  for (const button of [ui.zoomIn, ui.zoomOut, ui.fit]) button.disabled = !doc;
  // The divider compares a result with its photo until the next stroke on it.
  const comparing = Boolean(doc && doc.before && doc.ops.length === 0);
  ui.before.hidden = ui.divider.hidden = !comparing;
}

// ---- opening an image, loading a mask ----------------------------------------------------------
async function openFile(file) {
  if (!file || busy()) return;
  clearError();
  if (state.limits && file.size > state.limits.max_upload_bytes) {
    showError(`${file.name} is ${megabytes(file.size)}: this server takes up to ` +
      `${megabytes(state.limits.max_upload_bytes)} per request.`);
    return;
  }
  let picture;
  try {
    picture = await decode(file, file.name);
  } catch (err) {
    showError(err.message);
    return;
  }
  edits.reset(edits.add(file, picture));
  state.name = file.name.replace(/\.[^.]*$/, "") || "image";
  ui.frame.hidden = false;
  ui.hint.hidden = true;
  ui.stage.classList.add("loaded");
  view.setSize(picture.width, picture.height);
  view.fit();
  ui.size.max = Math.max(200, Math.ceil(Math.max(picture.width, picture.height) / 4));
  setSize(Math.round(32 / view.scale)); // about 32 screen px when fitted
  setCompare(50);
  show();
  setStatus(`${file.name}: ${picture.width}×${picture.height} px. Paint the hole, then press Inpaint.`);
}

async function loadMask(file) {
  if (!file || busy() || !edits.doc) return;
  clearError();
  try {
    const { layer, fraction } = await readMaskFile(file, edits.doc.width, edits.doc.height);
    commit({ layer });
    redraw(ctx, edits.doc.ops);
    setStatus(`Mask ${file.name} loaded: ${(100 * fraction).toFixed(1)}% of the photo is hole.`);
  } catch (err) {
    showError(err.message);
  }
}

// ---- painting ----------------------------------------------------------------------------------
function setSize(px) {
  const size = Math.min(Number(ui.size.max), Math.max(1, Math.round(px)));
  ui.size.value = size;
  ui.sizeValue.textContent = `${size} px`;
  showCursor();
}

function stepSize(direction) {
  const size = Number(ui.size.value);
  setSize(direction > 0 ? Math.max(size + 1, size * 1.2) : Math.min(size - 1, size / 1.2));
}

function setErasing(erasing) {
  state.erasing = erasing;
  ui.brush.setAttribute("aria-pressed", String(!erasing));
  ui.eraser.setAttribute("aria-pressed", String(erasing));
  ui.cursor.classList.toggle("erasing", erasing);
}

function showCursor(at = state.cursorAt) {
  state.cursorAt = at;
  ui.cursor.hidden = !at || !edits.doc;
  if (ui.cursor.hidden) return;
  const side = Number(ui.size.value) * view.scale;
  Object.assign(ui.cursor.style, { left: `${at[0]}px`, top: `${at[1]}px`, width: `${side}px`, height: `${side}px` });
}

function startStroke(point) {
  state.stroke = { erase: state.erasing, size: Number(ui.size.value), points: [point] };
  drawDot(ctx, state.stroke, point);
}

function extendStroke(points) {
  const stroke = state.stroke;
  for (const point of points) {
    drawSegment(ctx, stroke, stroke.points[stroke.points.length - 1], point);
    stroke.points.push(point);
  }
}

function endStroke(keep) {
  const stroke = state.stroke;
  state.stroke = null;
  if (keep) commit(stroke);
  else redraw(ctx, edits.doc.ops); // a second finger came down: it was a pinch, not a stroke
}

function clearMask() {
  if (busy() || !hasHole(edits.doc.ops)) return;
  commit({ clear: true });
  redraw(ctx, edits.doc.ops);
}

function setCompare(percent) {
  const v = Math.min(100, Math.max(0, percent));
  ui.before.style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  ui.divider.style.left = `${v}%`;
  ui.divider.setAttribute("aria-valuenow", String(Math.round(v)));
}

function updateZoom() {
  ui.zoomValue.textContent = `${Math.round(view.scale * 100)}%`;
}

// ---- inpainting --------------------------------------------------------------------------------
function setWorking(controller) {
  if (state.fill) clearInterval(state.fill.timer);
  state.fill = null;
  if (controller) {
    const started = performance.now();
    const tick = () => { ui.elapsed.textContent = seconds(performance.now() - started); };
    tick();
    state.fill = { controller, started, timer: setInterval(tick, 100) };
  }
  ui.working.hidden = !controller;
  ui.frame.classList.toggle("busy", Boolean(controller));
  ui.inpaint.textContent = controller ? "Inpainting…" : "Inpaint";
  document.body.setAttribute("aria-busy", String(Boolean(controller)));
  refresh();
}

function maskBlob() {
  return new Promise((resolve, reject) => ui.mask.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error("cannot encode the mask"))), "image/png"));
}

async function inpaint() {
  const doc = edits.doc;
  if (busy() || !doc) return;
  if (!hasHole(doc.ops)) {
    showError("Paint the hole first: the brush marks the pixels to fill.");
    return;
  }
  clearError();
  const controller = new AbortController();
  setWorking(controller);
  const started = state.fill.started;
  setStatus(`Filling the hole at ${doc.width}×${doc.height} px…`);
  try {
    const form = new FormData();
    form.append("image", doc.image, doc.image.name || `${state.name}.png`);
    form.append("mask", await maskBlob(), "mask.png");
    if (ui.blend.value) form.append("blend", ui.blend.value);
    const response = await fetch(`${API}/inpaint`, { method: "POST", body: form, signal: controller.signal })
      .catch((err) => {
        if (err.name === "AbortError") throw err;
        throw new Error("Cannot reach the server: is `context-encoder serve` still running?");
      });
    if (!response.ok) throw new Error(await errorMessage(response));
    const png = await response.blob();
    const picture = await decode(png, "the server's answer");
    if (controller.signal.aborted) {
      URL.revokeObjectURL(picture.url);
      throw new DOMException("cancelled", "AbortError");
    }
    edits.filled(edits.add(png, picture, { before: doc, warning: response.headers.get(WARNING_HEADER) || "" }));
    setCompare(50);
    show();
    setStatus(`Filled in ${seconds(performance.now() - started)}. Drag the divider to compare, paint again ` +
      "to fill more, Ctrl+Z to take the fill back, or download the PNG.");
  } catch (err) {
    if (err.name === "AbortError") {
      setStatus(`Cancelled after ${seconds(performance.now() - started)}: nothing was changed.`);
    } else {
      showError(err.message);
      setStatus("Nothing was changed.");
    }
  } finally {
    setWorking(null);
  }
}

function cancel() {
  if (state.fill) state.fill.controller.abort();
}

// ---- wiring ------------------------------------------------------------------------------------
ui.file.addEventListener("change", () => {
  openFile(ui.file.files[0]);
  ui.file.value = ""; // opening the same file again still fires "change"
});
ui.maskFile.addEventListener("change", () => {
  loadMask(ui.maskFile.files[0]);
  ui.maskFile.value = "";
});
ui.brush.addEventListener("click", () => setErasing(false));
ui.eraser.addEventListener("click", () => setErasing(true));
ui.size.addEventListener("input", () => setSize(Number(ui.size.value)));
ui.undo.addEventListener("click", undo);
ui.redo.addEventListener("click", redo);
ui.clear.addEventListener("click", clearMask);
ui.zoomIn.addEventListener("click", () => view.zoomCentred(1.25));
ui.zoomOut.addEventListener("click", () => view.zoomCentred(0.8));
ui.fit.addEventListener("click", () => view.fit());
ui.blend.addEventListener("change", () => ui.blend.blur()); // a focused select would take the shortcut keys
ui.inpaint.addEventListener("click", inpaint);
ui.cancel.addEventListener("click", cancel);
new ResizeObserver(() => { if (edits.doc && view.fitted) view.fit(); }).observe(ui.stage);

bindInput({
  ui, view,
  loaded: () => edits.doc !== null,
  canPaint: () => edits.doc !== null && !busy(),
  painting: () => state.stroke !== null,
  startStroke, extendStroke, endStroke, showCursor, setCompare, openFile,
  keys: {
    undo, redo, inpaint, cancel, stepSize,
    brush: () => setErasing(false),
    eraser: () => setErasing(true),
    fit: () => edits.doc && view.fit(),
    actual: () => edits.doc && view.actualPixels(),
    zoomIn: () => edits.doc && view.zoomCentred(1.25),
    zoomOut: () => edits.doc && view.zoomCentred(0.8),
  },
});

loadModelInfo();
