// Builds the page bundles into dist/, which Django serves as static files.
// onnxruntime-web's WASM binaries are copied next to the bundles rather than fetched from a CDN:
// the page is cross-origin isolated (COOP/COEP) and must work offline on a labeling LAN.
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "ort"), { recursive: true });

const entryPoints = readdirSync(join(root, "src", "pages"))
  .filter((f) => f.endsWith(".js"))
  .map((f) => join(root, "src", "pages", f));
const worker = join(root, "src", "decoder", "worker.js");
if (existsSync(worker)) entryPoints.push(worker);

await build({
  entryPoints,
  outdir: out,
  // Keep src/'s layout (dist/pages/*.js, dist/decoder/worker.js) whatever the entry set.
  outbase: join(root, "src"),
  bundle: true,
  format: "esm",
  splitting: false,
  sourcemap: true,
  target: ["chrome120", "firefox120", "safari17"],
  minify: process.env.NODE_ENV === "production",
  // onnxruntime-web locates its .wasm/.mjs at run time through ort.env.wasm.wasmPaths.
  external: [],
  logLevel: "info",
});

const ortDist = join(root, "node_modules", "onnxruntime-web", "dist");
for (const f of readdirSync(ortDist)) {
  if (/^ort-wasm-simd-threaded(\.jsep)?\.(mjs|wasm)$/.test(f)) {
    cpSync(join(ortDist, f), join(out, "ort", f));
  }
}
// Gzipped twins for WhiteNoise, which serves `<file>.gz` to clients that accept gzip: compressed
// once here, never per request. The WASM binary is most of the page's first download.
for (const dir of [out, join(out, "pages"), join(out, "decoder"), join(out, "ort")]) {
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir)) {
    if (!/\.(js|mjs|wasm)$/.test(f)) continue;
    const body = readFileSync(join(dir, f));
    const packed = gzipSync(body, { level: 9 });
    if (packed.length < 0.95 * body.length) writeFileSync(join(dir, `${f}.gz`), packed);
  }
}
console.log(`built ${entryPoints.length} bundles and onnxruntime-web binaries into ${out}`);
