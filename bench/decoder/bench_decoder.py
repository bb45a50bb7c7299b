"""Benchmark: the browser fast path (prepare.onnx + decode.onnx) vs Meta's reference export.

One run, same browser, same embedding, same onnxruntime-web thread settings
(``numThreads = min(4, hardwareConcurrency)``, wasm EP): per-prompt latency p50/p90 of
``decode.onnx`` and of ``reference_decoder_sam_vit_small.onnx``, measured in interleaved batches so
that background load hits both alike; the per-image ``prepare.onnx`` time; the end-to-end worker
round trip (postMessage, decode, choice of mask, transfer); the bytes per image on the wire; and
the same graphs in native onnxruntime (Python).

    .venv/bin/python -m bench.decoder.bench_decoder [--rounds 8] [--write-results]

``--sam2`` runs the SAM 2.1 comparison instead (`bench.decoder.bench_sam2`): SAM 2.1's decode
per prompt beside SAM 1's in one Chromium run, and the SAM 2 feature wire format's bytes and
mask agreement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.common import REFERENCE, ROOT, write_results
from export_onnx import wire
from export_onnx.devserver import DevServer
from export_onnx.runtime import prompt_tensors

OUT = ROOT / "bench" / "out" / "decoder"
HARNESS = ROOT / "tests" / "export_onnx" / "harness"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
IMAGE = "chelsea"


ANALYSIS = [
    "What the figures say. Both graphs run the same exact float32 upscaler (two stride-2 "
    "transposed convolutions and two GELUs over 256x256x32): in wasm it alone costs ~49 ms of CPU "
    "(1 thread), a quarter of the reference's ~200 ms, so no exact graph can be more than ~4x "
    "faster per prompt, and the fast path's transformer (folded attention, first-block image "
    "projections done per image, no full-resolution resize) is ~2x faster than the reference's. "
    "Measured alternatives that did not pay: int8 (QGEMM) upscaler -20% of the upscaler only, "
    "tanh-GELU no measurable gain (the transposed-conv MatMuls dominate, not erf). Wall-clock "
    "browser figures on this shared 2-core machine move with other jobs (see the load average); "
    "the wasm CPU-time ratio is the stable one. Reaching the 50 ms goal needs WebGPU (the worker "
    "already prefers it when an adapter exists) or a lossy upscaler.",
    "",
]


def _stats(times: list[float]) -> dict[str, float]:
    a = np.asarray(times)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "min": float(a.min()), "n": int(a.size)}  # fmt: skip


def prepare_inputs(export_dir: Path) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """Export (if needed), write the wire embedding; returns the data dir, the pack case list and
    the browser prompts."""
    if not (export_dir / "manifest.json").is_file():
        from export_onnx.export import run_export

        run_export(REFERENCE / "sam_vit_small.pth", export_dir)
    manifest = json.loads((REFERENCE / "manifest.json").read_text())
    info = manifest["models"]["sam_vit_small"]["images"][IMAGE]
    g = np.load(REFERENCE / "sam_vit_small_goldens.npz")
    size = (info["height"], info["width"])
    data = OUT / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / f"{IMAGE}.bin").write_bytes(
        wire.encode_embedding(g[f"{IMAGE}/embedding"], original_size=size)
    )
    np.save(data / "embedding.npy", g[f"{IMAGE}/embedding"])
    cases = [c for c in info["cases"] if not c.get("use_mask_input_from")]
    return data, {"size": size, "cases": cases}, cases


def reference_feeds(
    embedding: np.ndarray, case: dict[str, Any], size: tuple[int, int]
) -> dict[str, np.ndarray]:
    return {
        "image_embeddings": embedding,
        **prompt_tensors(case.get("point_coords"), case.get("point_labels"), case.get("box"), size),
        "mask_input": np.zeros((1, 1, 256, 256), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array(size, np.float32),
    }


def browser_bench(
    export_dir: Path, data: Path, info: dict[str, Any], rounds: int, batch: int
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    subprocess.run(["npm", "run", "build"], cwd=ROOT / "frontend", check=True, capture_output=True)
    ref_dir = OUT / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    ref_file = ref_dir / "reference.onnx"
    if not ref_file.exists():
        ref_file.write_bytes((REFERENCE / "reference_decoder_sam_vit_small.onnx").read_bytes())
    embedding = np.load(data / "embedding.npy")
    size = tuple(info["size"])
    mounts = {"/dist/": ROOT / "frontend" / "dist", "/export/": export_dir, "/harness/": HARNESS,
              "/data/": data, "/ref/": ref_dir}  # fmt: skip
    result: dict[str, Any] = {}
    with DevServer(mounts) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{server.url}/harness/index.html")
        page.wait_for_function("window.harness !== undefined")
        result["settings"] = page.evaluate(
            "harness.load('/export/manifest.json', {executionProviders: ['wasm']})"
        )
        result["browser"] = browser.version
        prep = [
            page.evaluate(f"harness.embed('{IMAGE}', '/data/{IMAGE}.bin')")["ms"] for _ in range(6)
        ]
        result["prepare_ms"] = _stats(prep[1:])
        fast: list[float] = []
        ref: list[float] = []
        worker: list[float] = []
        for r in range(rounds):
            case = info["cases"][r % len(info["cases"])]
            ptensors = prompt_tensors(
                case.get("point_coords"), case.get("point_labels"), case.get("box"), size
            )
            pfeeds = {
                k: {"data": v.ravel().tolist(), "dims": list(v.shape)} for k, v in ptensors.items()
            }
            rfeeds = {k: {"data": v.ravel().tolist(), "dims": list(v.shape)}
                      for k, v in reference_feeds(embedding, case, size).items()}  # fmt: skip
            fast += page.evaluate(
                "([f, n]) => harness.bench('/export/decode.onnx', f, n, 2, 'chelsea')",
                [pfeeds, batch],
            )
            ref += page.evaluate(
                "([f, n]) => harness.bench('/ref/reference.onnx', f, n, 2)", [rfeeds, batch]
            )
            prompt = {"id": IMAGE, "points": case.get("point_coords", []), "labels": case.get("point_labels", []),
                      "box": case.get("box"), "multimask": case["multimask_output"]}  # fmt: skip
            worker += page.evaluate("([p, n]) => harness.timeDecode(p, n, 1)", [prompt, batch])
        browser.close()
    result["decode_ms"] = _stats(fast)
    result["reference_ms"] = _stats(ref)
    result["worker_roundtrip_ms"] = _stats(worker)
    return result


def native_bench(export_dir: Path, data: Path, info: dict[str, Any], runs: int) -> dict[str, Any]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    prepare = ort.InferenceSession(str(export_dir / "prepare.onnx"), options)
    decode = ort.InferenceSession(str(export_dir / "decode.onnx"), options)
    reference = ort.InferenceSession(
        str(REFERENCE / "reference_decoder_sam_vit_small.onnx"), options
    )
    size = tuple(info["size"])
    feeds = {**wire.wire_arrays((data / f"{IMAGE}.bin").read_bytes()),
             "mask_input": np.zeros((1, 1, 256, 256), np.float32), "has_mask_input": np.zeros(1, np.float32)}  # fmt: skip
    prep_t, fast_t, ref_t = [], [], []
    embedding = np.load(data / "embedding.npy")
    for i in range(runs):
        t0 = time.perf_counter()
        prepared = dict(
            zip([o.name for o in prepare.get_outputs()], prepare.run(None, feeds), strict=True)
        )
        prep_t.append((time.perf_counter() - t0) * 1000)
        case = info["cases"][i % len(info["cases"])]
        pt = prompt_tensors(
            case.get("point_coords"), case.get("point_labels"), case.get("box"), size
        )
        rf = reference_feeds(embedding, case, size)
        for _ in range(3):
            t0 = time.perf_counter()
            decode.run(None, {**prepared, **pt})
            fast_t.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            reference.run(None, rf)
            ref_t.append((time.perf_counter() - t0) * 1000)
    return {
        "prepare_ms": _stats(prep_t[1:]),
        "decode_ms": _stats(fast_t[3:]),
        "reference_ms": _stats(ref_t[3:]),
    }


def wasm_cpu_bench(export_dir: Path, rounds: int) -> dict[str, Any]:
    """CPU time per run in onnxruntime-web's wasm build, one thread, under Node (see
    wasm_cpu.mjs): the figure least moved by other jobs on a shared machine."""
    script = Path(__file__).with_name("wasm_cpu.mjs")
    ref = REFERENCE / "reference_decoder_sam_vit_small.onnx"
    out = subprocess.run(
        ["node", str(script), str(export_dir), str(ref), str(rounds)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def row(name: str, s: dict[str, float]) -> str:
    """A table row of `_stats` figures."""
    return f"| {name} | {s['p50']:.1f} | {s['p90']:.1f} | {s['min']:.1f} | {s['n']} |"


def markdown(res: dict[str, Any], command: str) -> str:
    b, n = res["browser"], res["native"]
    ratio50 = b["reference_ms"]["p50"] / b["decode_ms"]["p50"]
    ratio90 = b["reference_ms"]["p90"] / b["decode_ms"]["p90"]
    nratio = n["reference_ms"]["p50"] / n["decode_ms"]["p50"]

    return "\n".join(
        [
            "## Browser decoder (issue 4)",
            "",
            f"Command: `{command}`",
            "",
            f"Measured {res['date']} on this machine ({os.cpu_count()} cores, load average at start "
            f"{res['load']}), headless Chromium {b['browser']}, onnxruntime-web 1.30.0 wasm EP, "
            f"numThreads {b['settings']['numThreads']}, crossOriginIsolated {b['settings']['crossOriginIsolated']}; "
            "sam_vit_small, chelsea embedding, the pack's prompt cases in turn; fast path and reference "
            "timed in interleaved batches (session.run only).",
            "",
            "| browser (ms) | p50 | p90 | min | runs |",
            "| --- | --- | --- | --- | --- |",
            row("fast path `decode.onnx` (per prompt, 4 low-res masks + scores)", b["decode_ms"]),
            row("reference export (per prompt, full-res single mask)", b["reference_ms"]),
            row(
                "worker round trip (decode message -> chosen low-res logits)",
                b["worker_roundtrip_ms"],
            ),
            row("`prepare.onnx` (once per image)", b["prepare_ms"]),
            "",
            f"**Speed-up per prompt: {ratio50:.2f}x at p50, {ratio90:.2f}x at p90** (reference / fast path).",
            "",
            "| native onnxruntime, 2 threads (ms) | p50 | p90 | min | runs |",
            "| --- | --- | --- | --- | --- |",
            row("fast path `decode.onnx`", n["decode_ms"]),
            row("reference export", n["reference_ms"]),
            row("`prepare.onnx`", n["prepare_ms"]),
            "",
            f"Native speed-up at p50: {nratio:.2f}x.",
            "",
            *wasm_rows(res.get("wasm_cpu")),
            *ANALYSIS,
            f"Bytes per image on the wire: {res['wire_bytes']:,} (uint8 affine per channel + 64-byte header) "
            f"vs {4 * 256 * 64 * 64:,} for float32 ({4 * 256 * 64 * 64 / res['wire_bytes']:.2f}x smaller).",
            "",
        ]
    )


def wasm_rows(w: dict[str, Any] | None) -> list[str]:
    """Rows for the single-thread wasm CPU-time figures, when measured."""
    if not w:
        return []

    ratio = w["reference"]["p50"] / w["decode"]["p50"]
    return [
        "| onnxruntime-web wasm, 1 thread, CPU time under Node (ms) | p50 | p90 | min | runs |",
        "| --- | --- | --- | --- | --- |",
        row("fast path `decode.onnx`", w["decode"]),
        row("reference export", w["reference"]),
        row("`prepare.onnx`", w["prepare"]),
        "",
        f"Wasm CPU-time speed-up at p50: {ratio:.2f}x (same kernels as the browser, but CPU time "
        "of one thread, which other jobs on the machine barely move).",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved batches")
    parser.add_argument("--batch", type=int, default=5, help="timed runs per batch and graph")
    parser.add_argument("--export-dir", type=Path, default=OUT / "export")
    parser.add_argument("--write-results", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--from-json", type=Path, help="format an earlier run's results.json")
    parser.add_argument("--sam2", action="store_true", help="SAM 2.1 beside SAM 1 (bench_sam2)")
    args = parser.parse_args()
    if args.sam2:
        sam2_main(args)
        return
    if args.from_json:
        res = json.loads(args.from_json.read_text())
    else:
        data, info, _ = prepare_inputs(args.export_dir)
        res = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": f"{os.getloadavg()[0]:.1f}",
            "wire_bytes": (data / f"{IMAGE}.bin").stat().st_size,
        }
        res["browser"] = browser_bench(args.export_dir, data, info, args.rounds, args.batch)
        res["native"] = native_bench(args.export_dir, data, info, 10)
        res["wasm_cpu"] = wasm_cpu_bench(args.export_dir, 12)
        (OUT / "results.json").write_text(json.dumps(res, indent=2))
    command = (
        ".venv/bin/python -m bench.decoder.bench_decoder "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in (("rounds", args.rounds), ("batch", args.batch))
        )
        + (" --write-results" if args.write_results else "")
    )
    section = markdown(res, command)
    print(section)
    if args.write_results:
        write_results(section)


def sam2_main(args: argparse.Namespace) -> None:
    from bench.decoder import bench_sam2

    if args.from_json:
        res = json.loads(args.from_json.read_text())
    else:
        data, info, _ = prepare_inputs(args.export_dir)
        res = bench_sam2.run(
            args, (args.export_dir, data, info), HARNESS, CHROMIUM, CHROMIUM_ARGS, OUT
        )
        (OUT / "results_sam2.json").write_text(json.dumps(res, indent=2))
    command = (
        f".venv/bin/python -m bench.decoder.bench_decoder --sam2 --rounds {args.rounds} "
        f"--batch {args.batch}" + (" --write-results" if args.write_results else "")
    )
    section = bench_sam2.markdown(res, command)
    print(section)
    if args.write_results:
        write_results(section)


if __name__ == "__main__":
    main()
