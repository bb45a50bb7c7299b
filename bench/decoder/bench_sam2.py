"""Benchmark: SAM 2.1's browser decode per prompt beside SAM 1's, in the same Chromium run.

Two harness pages in one headless Chromium, each with its own decoder worker (wasm EP, the
worker's default threads): one loads SAM 1's export (sam_vit_small), the other SAM 2.1's
(the pack's sam2.1_hiera_mini; every SAM 2.1 size has the same decoder shapes, so its per-prompt
cost is the tiny's and the large's too). Batches alternate between the two so that background
load hits both alike. Measured: ``decode.onnx`` session.run per prompt, the worker round trip
(decode message -> chosen low-res logits), the per-image worker cost (SAM 2: wire decode +
prepare),
and the bytes per image on the wire. Also the mask agreement of the SAM 2 wire format
(`export_onnx.wire2`) against float32 features on every pack case.

    .venv/bin/python -m bench.decoder.bench_decoder --sam2 [--rounds 8] [--write-results]
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REFERENCE, ROOT
from export_onnx import wire2, wire2_v1
from export_onnx.devserver import DevServer
from export_onnx.runtime import prompt_tensors
from export_onnx.sam2_runtime import Sam2OnnxDecoder, sam2_prompt_tensors

PACK = REFERENCE / "sam2"
PACK_MODEL = "sam2.1_hiera_mini"
IMAGE = "chelsea"


def _stats(times: list[float]) -> dict[str, float]:
    a = np.asarray(times)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "min": float(a.min()), "n": int(a.size)}  # fmt: skip


def prepare_sam2(out: Path) -> tuple[Path, dict[str, Any]]:
    """Export the pack's SAM 2.1 model (if needed), encode every pack image's features."""
    from PIL import Image

    from annotator.sam2 import SAM2ImagePredictor, build_sam2
    from export_onnx.sam2 import run_export_sam2

    export_dir = out / "sam2_export"
    model = build_sam2(PACK / f"{PACK_MODEL}.pt")
    if not (export_dir / "manifest.json").is_file():
        run_export_sam2(model, PACK / f"{PACK_MODEL}.pt", export_dir, progress=lambda _: None)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    key = bytes.fromhex(manifest["features"]["wire"]["model_key"])
    data = out / "sam2_data"
    data.mkdir(parents=True, exist_ok=True)
    pack = json.loads((PACK / "manifest.json").read_text())["models"][PACK_MODEL]["images"]
    for img in pack:
        image = np.array(Image.open(PACK / f"{img}.png").convert("RGB"))
        predictor = SAM2ImagePredictor(model)
        predictor.set_image(image)
        f = predictor._features
        assert f is not None
        feats = {"image_embed": f["image_embed"].numpy(),
                 "high_res_feats_0": f["high_res_feats"][0].numpy(),
                 "high_res_feats_1": f["high_res_feats"][1].numpy()}  # fmt: skip
        np.savez(data / f"{img}_f32.npz", **feats)
        blob = wire2.encode_features(feats, model_key=key, original_size=image.shape[:2])
        (data / f"{img}.bin").write_bytes(blob)
    return export_dir, pack


def _uniform(x: np.ndarray, bits: int) -> np.ndarray:
    """Per-channel min/max uniform codes (SAM 1's wire code at 8 bits), decoded."""
    f = x[0].reshape(x.shape[1], -1)
    lo, hi = f.min(1, keepdims=True), f.max(1, keepdims=True)
    step = np.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    return (np.rint((f - lo) / step) * step + lo).reshape(x.shape).astype(np.float32)


def _codebook(x: np.ndarray, bits: int) -> np.ndarray:
    """wire2 version 1's per-channel Lloyd-Max codebook at `bits`, decoded."""
    table, codes = wire2_v1._codebook(x[0].reshape(x.shape[1], -1), bits)
    return np.take_along_axis(table, codes.astype(np.int64), 1).reshape(x.shape)


# Alternatives measured against float32: (name, code, bits of image_embed / hr0 / hr1).
CODES = [("uniform", _uniform, (8, 8, 8)), ("uniform", _uniform, (4, 4, 4)),
         ("codebook", _codebook, (4, 4, 4)), ("codebook", _codebook, (3, 5, 5)),
         ("codebook", _codebook, (4, 5, 4)), ("codebook", _codebook, (4, 5, 5))]  # fmt: skip
NAMES = ("image_embed", "high_res_feats_0", "high_res_feats_1")


def code_bytes(bits: tuple[int, int, int]) -> int:
    """Bytes of the codes alone (no tables or header) at these bits."""
    return sum(256 * 64 * 64 * b // 8 if n == "image_embed" else
               (32 * 256 * 256 if n == "high_res_feats_0" else 64 * 128 * 128) * b // 8
               for n, b in zip(NAMES, bits, strict=True))  # fmt: skip


def code_table(export_dir: Path, data: Path, pack: dict[str, Any]) -> list[dict[str, Any]]:
    """Mask agreement of each alternative code (`CODES`) with float32 on every pack case."""
    rows = []
    for name, code, bits in CODES:
        coded = {}
        for img in pack:
            f32 = dict(np.load(data / f"{img}_f32.npz"))
            coded[img] = {n: code(f32[n], b) for n, b in zip(NAMES, bits, strict=True)}
        q = wire_quality(export_dir, data, pack, coded)
        rows.append({"code": name, "bits": list(bits), "code_bytes": code_bytes(bits), **q})
    return rows


def wire_quality(
    export_dir: Path,
    data: Path,
    pack: dict[str, Any],
    features: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Mean / min mask IoU (every case, every candidate) of wire-decoded (or the given) features
    vs float32 features."""
    goldens = np.load(PACK / f"{PACK_MODEL}_goldens.npz")
    decoder = Sam2OnnxDecoder(export_dir)
    ious = []
    for img, info in pack.items():
        size = tuple(int(v) for v in goldens[f"{img}/orig_hw"])
        f32 = dict(np.load(data / f"{img}_f32.npz"))
        if features is None:
            wired = wire2.decode_features((data / f"{img}.bin").read_bytes())
        else:
            wired = features[img]
        for case in info["cases"]:
            mask = None
            if "use_mask_input_from" in case:
                src = goldens[f"{img}/{case['use_mask_input_from']}/low_res_logits"]
                mask = src[case["mask_input_index"]][None]
            prompt = {"orig_size": size, "point_coords": case.get("point_coords"),
                      "point_labels": case.get("point_labels"), "box": case.get("box"),
                      "multimask_output": case["multimask_output"]}  # fmt: skip
            ref, _, _ = decoder.predict(decoder.prepare(f32, mask), **prompt)
            got, _, _ = decoder.predict(decoder.prepare(wired, mask), **prompt)
            for a, b in zip(got > 0, ref > 0, strict=True):
                union = np.logical_or(a, b).sum()
                ious.append(1.0 if union == 0 else np.logical_and(a, b).sum() / union)
    return {"mean_iou": float(np.mean(ious)), "min_iou": float(np.min(ious)), "n": len(ious)}


def _feeds(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: {"data": v.ravel().tolist(), "dims": list(v.shape)} for k, v in tensors.items()}


def browser_pair(
    sam1: tuple[Path, Path, dict[str, Any]],
    sam2: tuple[Path, Path, dict[str, Any]],
    rounds: int,
    batch: int,
    harness: Path,
    chromium: str,
    chromium_args: list[str],
) -> dict[str, Any]:
    """Interleaved batches of SAM 1 and SAM 2 decodes, one page (and worker) per model."""
    from playwright.sync_api import sync_playwright

    subprocess.run(["npm", "run", "build"], cwd=ROOT / "frontend", check=True, capture_output=True)
    mounts = {"/dist/": ROOT / "frontend" / "dist", "/harness/": harness,
              "/export1/": sam1[0], "/data1/": sam1[1], "/export2/": sam2[0], "/data2/": sam2[1]}  # fmt: skip
    res: dict[str, Any] = {}
    times: dict[str, list[float]] = {k: [] for k in ("sam1_decode", "sam2_decode", "sam1_worker",
                                                     "sam2_worker")}  # fmt: skip
    with DevServer(mounts) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=chromium_args)
        pages = {}
        for m in ("1", "2"):
            page = browser.new_page()
            page.goto(f"{server.url}/harness/index.html")
            page.wait_for_function("window.harness !== undefined")
            res[f"sam{m}_settings"] = page.evaluate(
                f"harness.load('/export{m}/manifest.json', {{executionProviders: ['wasm']}})"
            )
            embeds = [
                page.evaluate(f"harness.embed('{IMAGE}', '/data{m}/{IMAGE}.bin')") for _ in range(4)
            ]
            res[f"sam{m}_embed_ms"] = _stats([e["ms"] for e in embeds[1:]])
            if m == "2":  # the JavaScript wire decode's share (frontend/src/decoder/wire2.js)
                res["sam2_wire_decode_ms"] = _stats([e["decodeMs"] for e in embeds[1:]])
            pages[m] = page
        res["browser"] = browser.version
        for r in range(rounds):
            for m, (_, _, info) in (("1", sam1), ("2", sam2)):
                case = info["cases"][r % len(info["cases"])]
                args = (case.get("point_coords"), case.get("point_labels"), case.get("box"))
                build = prompt_tensors if m == "1" else sam2_prompt_tensors
                feeds = _feeds(build(*args, info["size"]))
                times[f"sam{m}_decode"] += pages[m].evaluate(
                    f"([f, n]) => harness.bench('/export{m}/decode.onnx', f, n, 2, '{IMAGE}')",
                    [feeds, batch],
                )
                prompt = {"id": IMAGE, "points": case.get("point_coords") or [],
                          "labels": case.get("point_labels") or [], "box": case.get("box"),
                          "multimask": case["multimask_output"]}  # fmt: skip
                times[f"sam{m}_worker"] += pages[m].evaluate(
                    "([p, n]) => harness.timeDecode(p, n, 1)", [prompt, batch]
                )
        browser.close()
    res.update({k: _stats(v) for k, v in times.items()})
    return res


def run(
    args: Any, sam1_inputs: Any, harness: Path, chromium: str, chromium_args: list[str], out: Path
) -> dict[str, Any]:
    """The whole SAM 2 comparison; ``sam1_inputs`` is bench_decoder's (export dir, data, info)."""
    export2, pack = prepare_sam2(out)
    data2 = out / "sam2_data"
    goldens = np.load(PACK / f"{PACK_MODEL}_goldens.npz")
    cases2 = [c for c in pack[IMAGE]["cases"] if "use_mask_input_from" not in c]
    info2 = {"size": tuple(int(v) for v in goldens[f"{IMAGE}/orig_hw"]), "cases": cases2}
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": f"{os.getloadavg()[0]:.1f}",
        "sam1_wire_bytes": (sam1_inputs[1] / f"{IMAGE}.bin").stat().st_size,
        "sam2_wire_bytes": (data2 / f"{IMAGE}.bin").stat().st_size,
        "sam2_wire_quality": wire_quality(export2, data2, pack),
        "sam2_codes": code_table(export2, data2, pack),
    }
    res.update(browser_pair(sam1_inputs, (export2, data2, info2), args.rounds, args.batch,
                            harness, chromium, chromium_args))  # fmt: skip
    return res


def row(name: str, s: dict[str, float]) -> str:
    return f"| {name} | {s['p50']:.1f} | {s['p90']:.1f} | {s['min']:.1f} | {s['n']} |"


def markdown(res: dict[str, Any], command: str) -> str:
    q = res["sam2_wire_quality"]
    ratio = res["sam2_decode"]["p50"] / res["sam1_decode"]["p50"]
    wratio = res["sam2_worker"]["p50"] / res["sam1_worker"]["p50"]
    f32 = 4 * (256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128)
    return "\n".join([
        "## SAM 2.1 browser decoder beside SAM 1's",
        "",
        f"Command: `{command}`",
        "",
        f"Measured {res['date']} on this shared machine ({os.cpu_count()} cores, load average at "
        f"start {res['load']}), headless Chromium {res['browser']}, onnxruntime-web wasm EP, "
        f"numThreads {res['sam2_settings']['numThreads']}; one page and worker per model, batches "
        "interleaved. SAM 1 = sam_vit_small's fast path, SAM 2.1 = the pack's sam2.1_hiera_mini "
        "(the decoder is the same size for every SAM 2.1 checkpoint). Other jobs load this "
        "machine: read the **ratios**, not the milliseconds.",
        "",
        "| browser (ms) | p50 | p90 | min | runs |",
        "| --- | --- | --- | --- | --- |",
        row("SAM 1 `decode.onnx` per prompt", res["sam1_decode"]),
        row("SAM 2.1 `decode.onnx` per prompt", res["sam2_decode"]),
        row("SAM 1 worker round trip per prompt", res["sam1_worker"]),
        row("SAM 2.1 worker round trip per prompt", res["sam2_worker"]),
        row("SAM 1 per image (prepare)", res["sam1_embed_ms"]),
        row("SAM 2.1 per image (wire decode + prepare)", res["sam2_embed_ms"]),
        *(  # results written before wire2 version 2 have no separate decode time
            [row("SAM 2.1 per image: the wire decode alone", res["sam2_wire_decode_ms"])]
            if "sam2_wire_decode_ms" in res
            else []
        ),
        "",
        f"**SAM 2.1 / SAM 1 per prompt: {ratio:.2f}x (decode.onnx p50), {wratio:.2f}x (worker "
        "round trip p50).** SAM 2.1 adds the two high-res skip additions to the same upscaler "
        "and two more tokens; the rest of the graph is SAM 1's fast path.",
        "",
        f"Bytes per image on the wire: SAM 1 {res['sam1_wire_bytes']:,}; SAM 2.1 "
        f"{res['sam2_wire_bytes']:,} (export_onnx/wire2.py version 2: 2x2 Haar bands, a codebook "
        f"of 1-6 bits per (tensor, channel, band)) vs {f32:,} in float32 "
        f"({f32 / res['sam2_wire_bytes']:.1f}x smaller). Mask agreement with float32 features "
        f"over every pack case and candidate ({q['n']} masks): mean IoU {q['mean_iou']:.4f}, min "
        f"{q['min_iou']:.4f} (goal 0.99 {'reached' if q['mean_iou'] >= 0.99 else 'not reached'} "
        "within 2.5 MB; see export_onnx/wire2.py for the choice).",
        "",
        "| code (per channel, no Haar bands) | bits embed / hr0 / hr1 | code bytes | mean IoU | "
        "min IoU |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {c['code']} | {'/'.join(map(str, c['bits']))} | {c['code_bytes']:,} | "
          f"{c['mean_iou']:.4f} | {c['min_iou']:.4f} |" for c in res["sam2_codes"]),
        "",
        "Code bytes exclude the tables (float32, 2^bits per channel) and the 64-byte header: "
        "codebook 4/5/4 is wire version 1 (2,383,936 bytes in all); uniform 8/8/8 and codebook "
        "4/5/5 (2,519,104 bytes in all) are over 2.5 MB. Both high-res maps and the embedding "
        "all cost agreement here; the pack's weights are random with widened heads, so trained "
        "checkpoints may lose less (or more): measure again with one.",
        "",
    ])  # fmt: skip
