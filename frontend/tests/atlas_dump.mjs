// Reads a hover atlas with the page's reader and prints what it answers as JSON, so the Python
// tests can hold it against the writer (tests/sam/test_atlas.py, tests/export_onnx):
//   node tests/atlas_dump.mjs ATLAS_FILE [MODEL_KEY_HEX] [x,y ...]
// Prints {header fields, index, predictedIou, stability, boxes, masks (0/1 strings), maskAt
// for each probe point} or {error} when the reader refuses the atlas.
import { readFileSync } from "node:fs";
import { parseAtlas } from "../src/decoder/atlas.js";

const [file, key, ...probes] = process.argv.slice(2);
const bytes = readFileSync(file);
const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
try {
  const atlas = await parseAtlas(buffer, { modelKey: key && key !== "-" ? key : null });
  const masks = [];
  for (let i = 0; i < atlas.count; i++) masks.push(atlas.mask(i).join(""));
  console.log(JSON.stringify({
    modelKey: atlas.modelKey,
    originalSize: atlas.originalSize,
    grid: atlas.grid,
    maskSize: atlas.maskSize,
    index: Array.from(atlas.index),
    predictedIou: Array.from(atlas.predictedIou),
    stability: Array.from(atlas.stability),
    boxes: Array.from(atlas.boxes),
    masks,
    maskAt: probes.map((p) => atlas.maskAt(...p.split(",").map(Number))),
  }));
} catch (err) {
  console.log(JSON.stringify({ error: String(err.message ?? err), name: err.constructor.name }));
}
