// Decodes a SAM 2 feature wire file with the page's reader (src/decoder/wire2.js), so the Python
// tests can hold it against export_onnx.wire2 (tests/export_onnx/test_sam2_wire.py) and
// bench/sam2_precision.py can time it:
//   node tests/sam2_wire_dump.mjs WIRE_FILE [OUT_FILE] [RUNS]
// Writes image_embed, high_res_feats_0, high_res_feats_1 (float32, little-endian, one after the
// other) to OUT_FILE ("-" for none) and prints {version, modelKey, originalSize, ms: [decode ms
// of each of RUNS runs]} as JSON, or {error} when the reader refuses the file.
import { readFileSync, writeFileSync } from "node:fs";
import { decodeSam2Features, readSam2Header } from "../src/decoder/wire2.js";

const [file, outFile = "-", runs = "1"] = process.argv.slice(2);
const bytes = readFileSync(file);
const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
try {
  const header = readSam2Header(buffer);
  const ms = [];
  let features;
  for (let r = 0; r < Number(runs); r++) {
    const t0 = performance.now();
    features = decodeSam2Features(buffer);
    ms.push(performance.now() - t0);
  }
  if (outFile !== "-") {
    const parts = ["image_embed", "high_res_feats_0", "high_res_feats_1"].map((k) => Buffer.from(features[k].data.buffer));
    writeFileSync(outFile, Buffer.concat(parts));
  }
  console.log(JSON.stringify({ version: header.version, modelKey: header.modelKey, originalSize: header.originalSize, ms }));
} catch (err) {
  console.log(JSON.stringify({ error: String(err.message ?? err) }));
}
