import { test } from "node:test";
import assert from "node:assert/strict";
import { everythingJobParams, parseImageIds, scopeParams } from "../../src/ui/job_params.js";

// As GET projects/{id}/ says for a manager of a SAM 1 project (services/everything.py).
const everything = {
  defaults: { points_per_side: 16, points_per_batch: 64, pred_iou_thresh: 0.88, crop_n_layers: 0 },
  bounds: {
    points_per_side: { integer: true, min: 1, max: 128 },
    points_per_batch: { integer: true, min: 1, max: 1024 },
    pred_iou_thresh: { integer: false, min: 0, max: 1 },
    crop_n_layers: { integer: true, min: 0, max: 3 },
  },
  max_prompts: 32768,
};
const prefilled = { points_per_side: "16", points_per_batch: "64", pred_iou_thresh: "0.88", crop_n_layers: "0" };

test("a selection wins over the ticked statuses; neither leaves all images", () => {
  assert.deepEqual(scopeParams({}, { imageIds: [3], statuses: ["new"] }), { image_ids: [3] });
  assert.deepEqual(scopeParams({}, { statuses: ["new"] }), { status: ["new"] });
  assert.deepEqual(scopeParams({}, {}), {});
});

test("image ids are split on commas and spaces, repeats dropped, anything else refused", () => {
  assert.deepEqual(parseImageIds(" 12, 15 15,,18 "), { ids: [12, 15, 18] });
  assert.deepEqual(parseImageIds(""), { ids: [] });
  assert.match(parseImageIds("12, x7").error, /"x7" is not an image id/);
  assert.match(parseImageIds("0").error, /not an image id/);
});

test("the prefilled form sends only what was changed, with the scope, label and keep_above", () => {
  assert.deepEqual(everythingJobParams({ values: prefilled, everything }), { params: {} });
  const changed = { ...prefilled, points_per_side: "24", pred_iou_thresh: "0.5" };
  assert.deepEqual(everythingJobParams({ values: changed, everything, statuses: ["new"], label: "4", keepAbove: "0.9" }), {
    params: { points_per_side: 24, pred_iou_thresh: 0.5, label: 4, keep_above: 0.9, status: ["new"] },
  });
  // Typed ids win over the statuses; a page's selection wins over both.
  assert.deepEqual(everythingJobParams({ values: {}, everything, statuses: ["new"], idsText: "7, 9" }).params, { image_ids: [7, 9] });
  assert.deepEqual(everythingJobParams({ values: {}, everything, imageIds: [2], idsText: "7" }).params, { image_ids: [2] });
});

test("a value off its bound or of the wrong kind is refused in the server's words", () => {
  assert.match(everythingJobParams({ values: { points_per_side: "129" }, everything }).error, /points_per_side must be an integer from 1 to 128, got 129/);
  assert.match(everythingJobParams({ values: { crop_n_layers: "1.5" }, everything }).error, /crop_n_layers must be an integer/);
  assert.match(everythingJobParams({ values: { pred_iou_thresh: "-0.1" }, everything }).error, /a number from 0 to 1/);
  assert.match(everythingJobParams({ values: {}, everything, keepAbove: "2" }).error, /keep_above is a score from 0 to 1/);
  assert.match(everythingJobParams({ values: {}, everything, idsText: "a" }).error, /not an image id/);
});
