// Undo / redo across strokes and fills. A doc is one version of the image: {image: Blob, url,
// width, height, ops: its mask operations, before: the doc it was filled from (or null), warning:
// the server's X-Inpaint-Warning}. An entry is {op} (a mask operation on the current doc) or
// {fill: {from, to}}: undoing a fill brings back the photo and the mask painted before it.
"use strict";

export class History {
  constructor() {
    this.doc = null;
    this.past = [];
    this.future = [];
    this.docs = new Set(); // docs whose object URL is alive
  }

  add(image, picture, { before = null, warning = "" } = {}) {
    const doc = { image, ...picture, ops: [], before, warning };
    this.docs.add(doc);
    return doc;
  }

  // Start over with `doc` (a newly opened photo): nothing to undo.
  reset(doc) {
    this.doc = doc;
    this.past = [];
    this.future = [];
    this.prune();
  }

  commit(op) {
    this.doc.ops.push(op);
    this.record({ op });
  }

  filled(to) {
    const from = this.doc;
    this.doc = to;
    this.record({ fill: { from, to } });
  }

  undo() {
    const entry = this.past.pop();
    if (!entry) return false;
    this.future.push(entry);
    if (entry.op) this.doc.ops.pop();
    else this.doc = entry.fill.from;
    return true;
  }

  redo() {
    const entry = this.future.pop();
    if (!entry) return false;
    this.past.push(entry);
    if (entry.op) this.doc.ops.push(entry.op);
    else this.doc = entry.fill.to;
    return true;
  }

  record(entry) {
    this.past.push(entry);
    this.future = [];
    this.prune();
  }

  // Revoke the object URLs of docs that no entry can bring back.
  prune() {
    const kept = new Set([this.doc]);
    for (const entry of [...this.past, ...this.future]) {
      if (entry.fill) kept.add(entry.fill.from).add(entry.fill.to);
    }
    for (const doc of this.docs) {
      if (!kept.has(doc)) {
        URL.revokeObjectURL(doc.url);
        this.docs.delete(doc);
      }
    }
  }
}
