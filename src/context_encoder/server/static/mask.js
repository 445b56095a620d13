// The mask: a canvas at the photo's full resolution, rebuilt from a list of operations so that
// undo / redo replay it. Operations: a stroke {erase, size, points} (size and points in photo px),
// {clear: true}, and a loaded mask file {layer: canvas}. Opaque pixels of the canvas are hole.
"use strict";

export const HOLE = [255, 45, 85]; // any opaque, non-black pixel is hole for the server (transparent = keep)
const HOLE_CSS = `rgb(${HOLE.join(",")})`;

export function drawDot(ctx, stroke, [x, y]) {
  ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
  ctx.fillStyle = HOLE_CSS;
  ctx.beginPath();
  ctx.arc(x, y, stroke.size / 2, 0, 2 * Math.PI);
  ctx.fill();
}

export function drawSegment(ctx, stroke, [x0, y0], [x1, y1]) {
  ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
  ctx.strokeStyle = HOLE_CSS;
  ctx.lineWidth = stroke.size;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

export function redraw(ctx, ops) {
  const { width, height } = ctx.canvas;
  ctx.clearRect(0, 0, width, height);
  for (const op of ops) {
    if (op.clear || op.layer) ctx.clearRect(0, 0, width, height);
    if (op.layer) {
      ctx.globalCompositeOperation = "source-over";
      ctx.drawImage(op.layer, 0, 0);
    } else if (op.points) {
      drawDot(ctx, op, op.points[0]);
      for (let i = 1; i < op.points.length; i++) drawSegment(ctx, op, op.points[i - 1], op.points[i]);
    }
  }
}

// Whether `ops` leave a hole: a brush stroke or a mask file after the last clear (an eraser may
// still have removed it: the server says so).
export function hasHole(ops) {
  for (let i = ops.length - 1; i >= 0; i--) {
    if (ops[i].clear) return false;
    if (ops[i].layer || !ops[i].erase) return true;
  }
  return false;
}

// Read a mask file as a hole layer of `width` x `height`: pixels brighter than mid-grey and
// opaque are hole (white on black, as the API takes it). Throws an Error that says what is wrong.
export async function readMaskFile(file, width, height) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch (_) {
    throw new Error(`${file.name} cannot be read as an image (or it is truncated): load a PNG mask.`);
  }
  if (bitmap.width !== width || bitmap.height !== height) {
    const size = `${bitmap.width}×${bitmap.height}`;
    bitmap.close();
    throw new Error(`The mask ${file.name} is ${size} px but the photo is ` +
      `${width}×${height} px: a mask must be the photo's size (white = hole).`);
  }
  const layer = document.createElement("canvas");
  layer.width = width;
  layer.height = height;
  const ctx = layer.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const pixels = ctx.getImageData(0, 0, width, height);
  const px = pixels.data;
  let holes = 0;
  for (let i = 0; i < px.length; i += 4) {
    const hole = px[i + 3] >= 128 && Math.max(px[i], px[i + 1], px[i + 2]) >= 128;
    px[i] = HOLE[0];
    px[i + 1] = HOLE[1];
    px[i + 2] = HOLE[2];
    px[i + 3] = hole ? 255 : 0;
    holes += hole;
  }
  if (holes === 0) throw new Error(`The mask ${file.name} has no white pixel: white (or bright) pixels are the hole.`);
  ctx.putImageData(pixels, 0, 0);
  return { layer, fraction: holes / (width * height) };
}
