// The manage pages' pure parts: upload bookkeeping, round-robin assignment, refusal messages
// and how a job reads.
import assert from "node:assert/strict";
import { test } from "node:test";

import { isActive, jobTitle, progressText } from "../../src/ui/jobs.js";
import { detailOf, overall, roundRobin, worthSending } from "../../src/ui/uploads.js";

test("overall progress weighs files by their size", () => {
  assert.equal(overall([]), 1);
  assert.equal(overall([{ loaded: 50, size: 100 }, { loaded: 0, size: 300 }]), 50 / 400);
  // A browser may report a few bytes of multipart framing over the file's size.
  assert.equal(overall([{ loaded: 120, size: 100 }]), 1);
});

test("round-robin shares a selection out in order", () => {
  assert.deepEqual(roundRobin([11, 12, 13, 14, 15], [1, 2]), [[11, 1], [12, 2], [13, 1], [14, 2], [15, 1]]);
  assert.deepEqual(roundRobin([11], []), []);
});

test("a refusal reads in the API's words, or says the status", () => {
  assert.equal(detailOf(409, JSON.stringify({ detail: "a.png is already in this project" })), "a.png is already in this project");
  assert.equal(detailOf(400, JSON.stringify({ files: ["No file was submitted."] })), "files: No file was submitted.");
  assert.equal(detailOf(413, "<html>Request Entity Too Large</html>"), "The file is larger than the server accepts.");
  assert.equal(detailOf(502, ""), "HTTP 502");
});

test("only images and archives are sent; hidden files are not", () => {
  assert.ok(worthSending({ name: "a.JPG" }));
  assert.ok(worthSending({ name: "batch.zip" }));
  assert.ok(!worthSending({ name: "notes.txt" }));
  assert.ok(!worthSending({ name: "._a.png" }));
});

test("a job reads as its kind, options and progress", () => {
  const job = { kind: "export", params: { format: "coco", rle: true, image_ids: [1, 2] }, status: "running", done: 312, total: 1000 };
  assert.equal(jobTitle(job), "Export · COCO (RLE) · 2 image(s)");
  assert.equal(jobTitle({ ...job, params: { format: "yolo_seg", include_images: true } }), "Export · YOLO-seg + images");
  assert.equal(progressText(job), "312 of 1,000");
  assert.equal(progressText({ ...job, status: "pending" }), "waiting for a worker");
  const everything = { kind: "everything", params: {}, status: "done", done: 1, total: 1, proposals: { pending: 5, kept: 2, dropped: 0, refused: 1 } };
  assert.equal(progressText(everything), "1 of 1 · 5 proposal(s) pending, 2 kept (1 not kept: image locked or under review)");
  assert.ok(isActive(job));
  assert.ok(!isActive({ ...job, status: "failed" }));
});
