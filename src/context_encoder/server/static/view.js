// Zoom and pan of the photo inside the stage: the frame (photo, mask, before/after) is laid out
// at the photo's size in CSS px and placed with one transform, translate(tx, ty) scale(scale).
"use strict";

const MAX_SCALE = 32; // 32 screen px per photo px: enough to paint single pixels
const MARGIN = 8; // screen px around the photo when fitted

export class View {
  constructor(stage, frame, onChange) {
    this.stage = stage;
    this.frame = frame;
    this.onChange = onChange;
    this.width = 0; // the photo's size
    this.height = 0;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.fitted = true; // follows the stage's size until the user zooms or pans
  }

  setSize(width, height) {
    this.width = width;
    this.height = height;
    this.frame.style.width = `${width}px`;
    this.frame.style.height = `${height}px`;
  }

  fitScale() {
    const { clientWidth: w, clientHeight: h } = this.stage;
    return Math.max(1e-3, Math.min((w - 2 * MARGIN) / this.width, (h - 2 * MARGIN) / this.height));
  }

  fit() {
    this.scale = this.fitScale();
    this.tx = (this.stage.clientWidth - this.width * this.scale) / 2;
    this.ty = (this.stage.clientHeight - this.height * this.scale) / 2;
    this.fitted = true;
    this.apply();
  }

  // Zoom by `factor` keeping the photo point under (x, y) (stage px) where it is.
  zoomAt(x, y, factor) {
    const scale = Math.min(MAX_SCALE, Math.max(this.fitScale() / 4, this.scale * factor));
    this.tx = x - (x - this.tx) * scale / this.scale;
    this.ty = y - (y - this.ty) * scale / this.scale;
    this.scale = scale;
    this.fitted = false;
    this.apply();
  }

  zoomCentred(factor) {
    this.zoomAt(this.stage.clientWidth / 2, this.stage.clientHeight / 2, factor);
  }

  actualPixels() {
    this.zoomCentred(1 / this.scale);
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.fitted = false;
    this.apply();
  }

  // A two-finger gesture: from `start` ({scale, tx, ty, mid, dist}) to fingers at `mid`, `dist` apart.
  pinch(start, mid, dist) {
    const scale = Math.min(MAX_SCALE, Math.max(this.fitScale() / 4, start.scale * dist / start.dist));
    const px = (start.mid[0] - start.tx) / start.scale, py = (start.mid[1] - start.ty) / start.scale;
    this.scale = scale;
    this.tx = mid[0] - px * scale;
    this.ty = mid[1] - py * scale;
    this.fitted = false;
    this.apply();
  }

  // Stage px (from the stage's padding box) of a pointer event.
  stagePoint(event) {
    const rect = this.stage.getBoundingClientRect();
    return [event.clientX - rect.left - this.stage.clientLeft, event.clientY - rect.top - this.stage.clientTop];
  }

  // Photo px of a pointer event.
  photoPoint(event) {
    const [x, y] = this.stagePoint(event);
    return [(x - this.tx) / this.scale, (y - this.ty) / this.scale];
  }

  apply() {
    this.frame.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    this.frame.style.setProperty("--px", `${1 / this.scale}px`); // one screen px, in the frame's units
    this.frame.dataset.scale = this.scale.toFixed(4);
    this.frame.classList.toggle("pixels", this.scale >= 2); // zoomed in: show the photo's pixels crisp
    this.onChange(this);
  }
}
