// Pointer, wheel and keyboard input of the page: one finger / the left button paints; space + drag,
// the middle button or two fingers pan (two fingers also pinch-zoom); the wheel zooms around the
// pointer (Alt / Shift + wheel: brush size). Shortcut keys are read at the document level, so a
// focused slider or button never swallows them.
"use strict";

const WHEEL_ZOOM = 0.0015; // per wheel pixel
const PINCH_ZOOM = 0.01; // a touchpad pinch arrives as ctrl + wheel with small deltas

export function bindInput(app) {
  const { ui, view } = app;
  const pointers = new Map(); // pointerId -> stage point, the pointers down on the stage
  let gesture = null; // {pan: pointerId, last} or {pinch: {scale, tx, ty, mid, dist}}
  let strokePointer = null;
  let space = false; // the space bar is held: drag pans
  let overStage = false;
  let dividerPointer = null;

  const twoFingers = () => {
    const [a, b] = [...pointers.values()];
    return { mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], dist: Math.max(1, Math.hypot(a[0] - b[0], a[1] - b[1])) };
  };
  const setSpace = (held) => {
    space = held;
    ui.stage.classList.toggle("panning", held || Boolean(gesture && gesture.pan !== undefined));
  };

  ui.stage.addEventListener("pointerdown", (event) => {
    if (!app.loaded() || event.target.closest("#working, #divider")) return;
    event.preventDefault();
    ui.stage.setPointerCapture(event.pointerId);
    const at = view.stagePoint(event);
    pointers.set(event.pointerId, at);
    if (event.pointerType === "touch" && pointers.size === 2) {
      if (app.painting()) {
        app.endStroke(false);
        strokePointer = null;
      }
      gesture = { pinch: { scale: view.scale, tx: view.tx, ty: view.ty, ...twoFingers() } };
    } else if (gesture) {
      // a pinch goes on until every finger is up
    } else if (event.button === 1 || (event.button === 0 && space)) {
      gesture = { pan: event.pointerId, last: at };
      setSpace(space);
    } else if (event.button === 0 && app.canPaint()) {
      strokePointer = event.pointerId;
      app.startStroke(view.photoPoint(event));
    }
  });

  ui.stage.addEventListener("pointermove", (event) => {
    if (dividerPointer !== null) return;
    const at = view.stagePoint(event);
    app.showCursor(gesture || event.target.closest("#divider, #working") ? null : at);
    if (pointers.has(event.pointerId)) pointers.set(event.pointerId, at);
    if (gesture && gesture.pinch && pointers.size >= 2) {
      const { mid, dist } = twoFingers();
      view.pinch(gesture.pinch, mid, dist);
    } else if (gesture && gesture.pan === event.pointerId) {
      view.panBy(at[0] - gesture.last[0], at[1] - gesture.last[1]);
      gesture.last = at;
    } else if (event.pointerId === strokePointer && app.painting()) {
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
      app.extendStroke((events.length ? events : [event]).map((e) => view.photoPoint(e)));
    }
  });

  const up = (event) => {
    pointers.delete(event.pointerId);
    if (event.pointerId === strokePointer) {
      strokePointer = null;
      if (app.painting()) app.endStroke(true);
    }
    if (gesture && (gesture.pan === event.pointerId || pointers.size === 0)) gesture = null;
    setSpace(space);
  };
  ui.stage.addEventListener("pointerup", up);
  ui.stage.addEventListener("pointercancel", up);
  ui.stage.addEventListener("pointerenter", () => { overStage = true; });
  ui.stage.addEventListener("pointerleave", () => {
    overStage = false;
    app.showCursor(null);
  });
  ui.stage.addEventListener("mousedown", (event) => { if (event.button === 1) event.preventDefault(); }); // no autoscroll

  ui.stage.addEventListener("wheel", (event) => {
    if (!app.loaded()) return;
    event.preventDefault();
    const unit = [1, 16, 400][event.deltaMode] ?? 1;
    const delta = (event.deltaY || event.deltaX) * unit;
    if (event.altKey || event.shiftKey) {
      if (delta) app.keys.stepSize(-Math.sign(delta));
      return;
    }
    const [x, y] = view.stagePoint(event);
    view.zoomAt(x, y, Math.exp(-delta * (event.ctrlKey ? PINCH_ZOOM : WHEEL_ZOOM)));
  }, { passive: false });

  bindDivider(app, (id) => { dividerPointer = id; });
  bindDrop(app);

  document.addEventListener("keydown", (event) => {
    if (typing(event)) return;
    if (event.key === " " && overStage && app.loaded()) {
      event.preventDefault(); // nor scroll, nor press the focused button
      if (!space) setSpace(true);
      return;
    }
    const action = shortcut(event, app.keys);
    if (action) {
      event.preventDefault();
      action();
    }
  });
  document.addEventListener("keyup", (event) => {
    if (event.key === " " && space) {
      event.preventDefault();
      setSpace(false);
    }
  });
  window.addEventListener("blur", () => setSpace(false));
}

// Whether a key goes to a field that types (a select's type-ahead included) rather than to the page.
function typing(event) {
  const target = event.target;
  if (target instanceof HTMLSelectElement) return !event.ctrlKey && !event.metaKey;
  if (target instanceof HTMLInputElement) return !["range", "file", "button", "checkbox", "radio"].includes(target.type);
  return target instanceof HTMLTextAreaElement || Boolean(target.isContentEditable);
}

function shortcut(event, keys) {
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (event.ctrlKey || event.metaKey) {
    if (key === "z") return event.shiftKey ? keys.redo : keys.undo;
    if (key === "y") return keys.redo;
    if (key === "Enter") return keys.inpaint;
    return null;
  }
  if (event.altKey) return null;
  const plain = {
    b: keys.brush, e: keys.eraser, "[": () => keys.stepSize(-1), "]": () => keys.stepSize(1),
    0: keys.fit, f: keys.fit, 1: keys.actual, "+": keys.zoomIn, "=": keys.zoomIn, "-": keys.zoomOut,
    Escape: keys.cancel,
  };
  return plain[key] ?? null;
}

// The before/after divider: drag it on the image, or focus it and use the arrow keys.
function bindDivider(app, capture) {
  const { ui } = app;
  const value = () => Number(ui.divider.getAttribute("aria-valuenow"));
  ui.divider.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    event.stopPropagation();
    ui.divider.setPointerCapture(event.pointerId);
    capture(event.pointerId);
  });
  ui.divider.addEventListener("pointermove", (event) => {
    if (!ui.divider.hasPointerCapture(event.pointerId)) return;
    const rect = ui.frame.getBoundingClientRect();
    app.setCompare(100 * (event.clientX - rect.left) / rect.width);
  });
  for (const type of ["pointerup", "pointercancel"]) ui.divider.addEventListener(type, () => capture(null));
  ui.divider.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5, Home: -100, End: 100 }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    event.stopPropagation();
    app.setCompare(value() + step);
  });
}

function bindDrop(app) {
  const { stage } = app.ui;
  for (const type of ["dragenter", "dragover"]) {
    stage.addEventListener(type, (event) => {
      event.preventDefault();
      stage.classList.add("dragging");
    });
  }
  stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
  stage.addEventListener("drop", (event) => {
    event.preventDefault();
    stage.classList.remove("dragging");
    app.openFile(event.dataTransfer.files[0]);
  });
}
