"""Benchmark: what SAM 2.1's stored features cost in mask agreement, against float32 in the
same run (bfloat16 autocast of the encoder, wire format version 1 and version 2 of
`export_onnx.wire2`), and what version 2 costs to encode and decode.

The masks are decoded by the exported graphs (the fast path the page and the server predict
run), over every case of the SAM 2.1 parity pack (reference/sam2/), every candidate mask.
Times, per image, each against a reference measured in the same run: the version 2 encode
(default 12 Lloyd steps per codebook, and 4) against version 1's; the page's JavaScript decode
(`frontend/src/decoder/wire2.js` in node, the first run apart: it includes the JIT) against
numpy's `wire2.decode_features`; with ``--browser``, the decode inside the page's worker
(headless Chromium, the ``decodeMs`` of its ``embedded`` reply) beside ``prepare.onnx``.

    .venv/bin/python -m bench.sam2_precision [--browser] [--write-results]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import ROOT
from bench.decoder.bench_sam2 import NAMES, PACK, PACK_MODEL, prepare_sam2, wire_quality
from export_onnx import wire2

FAST_ITERATIONS = 4  # the cheaper encoder measured beside the default
RUNS = 5


def bf16_features(model: Any, image: np.ndarray) -> dict[str, np.ndarray]:
    """`set_image` under CPU bfloat16 autocast, features back in float32."""
    from annotator.sam2 import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        predictor.set_image(image)
    f = predictor._features
    assert f is not None
    maps = [f["image_embed"], *f["high_res_feats"]]
    return {n: t.float().numpy() for n, t in zip(NAMES, maps, strict=True)}


def timed(fn: Callable[[], Any], runs: int = RUNS) -> tuple[Any, list[float]]:
    """The result of `fn` and the seconds of each of `runs` calls."""
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def node_decode_ms(path: Path, runs: int = RUNS + 1) -> list[float]:
    """Decode ms of the page's reader in node, the first (JIT) run dropped."""
    result = subprocess.run(
        ["node", "tests/sam2_wire_dump.mjs", str(path), "-", str(runs)],
        cwd=ROOT / "frontend", capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)["ms"][1:]


def browser_decode_ms(export_dir: Path, data: Path, pack: dict[str, Any]) -> dict[str, Any]:
    """The worker's ``embedded`` reply (decode + prepare, and the decode alone) per pack image,
    four embeds each, the first dropped."""
    from playwright.sync_api import sync_playwright

    from bench.decoder.bench_decoder import CHROMIUM, CHROMIUM_ARGS, HARNESS
    from export_onnx.devserver import DevServer

    subprocess.run(["npm", "run", "build"], cwd=ROOT / "frontend", check=True, capture_output=True)
    mounts = {"/dist/": ROOT / "frontend" / "dist", "/harness/": HARNESS, "/export/": export_dir,
              "/data/": data}  # fmt: skip
    decode, embed = [], []
    with DevServer(mounts) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{server.url}/harness/index.html")
        page.wait_for_function("window.harness !== undefined")
        settings = page.evaluate(
            "harness.load('/export/manifest.json', {executionProviders: ['wasm']})"
        )
        for img in pack:
            replies = [
                page.evaluate(f"harness.embed('{img}', '/data/{img}.bin')") for _ in range(4)
            ]
            decode += [r["decodeMs"] for r in replies[1:]]
            embed += [r["ms"] for r in replies[1:]]
        version = browser.version
        browser.close()
    return {"browser": version, "threads": settings["numThreads"], "decode_ms": decode,
            "embed_ms": embed}  # fmt: skip


def run(out: Path, browser: bool) -> dict[str, Any]:
    from PIL import Image

    from annotator.sam2 import build_sam2

    export_dir, pack = prepare_sam2(out)  # writes each image's version 2 file, {img}.bin
    data = out / "sam2_data"
    model = build_sam2(PACK / f"{PACK_MODEL}.pt")
    decoded: dict[str, dict[str, dict[str, np.ndarray]]] = {
        k: {} for k in ("bf16", "bf16_v2", "v1", "v2_fast")
    }
    sizes: dict[str, list[int]] = {k: [] for k in ("v1", "v2", "v2_fast")}
    seconds: dict[str, list[float]] = {k: [] for k in ("v1", "v2", "v2_fast", "numpy_decode")}
    node_ms: list[float] = []
    for img in pack:
        image = np.array(Image.open(PACK / f"{img}.png").convert("RGB"))
        f32 = dict(np.load(data / f"{img}_f32.npz"))
        bf16 = decoded["bf16"][img] = bf16_features(model, image)
        decoded["bf16_v2"][img] = wire2.decode_features(wire2.encode_features(bf16))
        v1, t = timed(lambda: wire2.encode_features_v1(f32))  # noqa: B023 - called at once
        seconds["v1"] += t
        v2, t = timed(lambda: wire2.encode_features(f32))  # noqa: B023
        seconds["v2"] += t
        fast, t = timed(lambda: wire2.encode_features(f32, iterations=FAST_ITERATIONS))  # noqa: B023
        seconds["v2_fast"] += t
        for k, blob in (("v1", v1), ("v2", v2), ("v2_fast", fast)):
            sizes[k].append(len(blob))
        decoded["v1"][img] = wire2.decode_features(v1)
        decoded["v2_fast"][img] = wire2.decode_features(fast)
        seconds["numpy_decode"] += timed(lambda: wire2.decode_features(v2))[1]  # noqa: B023
        path = data / f"{img}_bench_v2.bin"
        path.write_bytes(v2)
        node_ms += node_decode_ms(path)
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": f"{os.getloadavg()[0]:.1f}",
        "bytes": {k: max(v) for k, v in sizes.items()},
        "seconds": {k: float(np.median(v)) for k, v in seconds.items()},
        "node_decode_ms": float(np.median(node_ms)),
        "v2": wire_quality(export_dir, data, pack),  # the {img}.bin files: the stored format
        **{k: wire_quality(export_dir, data, pack, v) for k, v in decoded.items()},
    }
    if browser:
        b = browser_decode_ms(export_dir, data, pack)
        res["browser"] = {"name": b["browser"], "threads": b["threads"],
                          "decode_ms": float(np.median(b["decode_ms"])),
                          "embed_ms": float(np.median(b["embed_ms"])), "n": len(b["decode_ms"])}  # fmt: skip
    return res


def markdown(res: dict[str, Any], command: str) -> str:
    def line(name: str, q: dict[str, float], size: str) -> str:
        return f"| {name} | {size} | {q['mean_iou']:.4f} | {q['min_iou']:.4f} | {q['n']} |"

    b, s = res["bytes"], res["seconds"]
    lines = [
        "## SAM 2.1 feature precision: wire format version 2 against float32",
        "",
        f"`{command}`, {res['date']}, on this shared 2-core CPU machine (load average at start "
        f"{res['load']}): the pack's sam2.1_hiera_mini (random weights), every pack case and "
        "candidate mask, decoded by the exported graphs; IoU of each mask with the one from "
        "float32 features computed in the same run.",
        "",
        "| features | bytes per image | mean IoU | min IoU | masks |",
        "| --- | --- | --- | --- | --- |",
        line("bfloat16 autocast encoder (CPU), float32 prompt path", res["bf16"], "16,777,216"),
        line("wire2 v1 (per-channel codebooks 4/5/4; files stored before v2)", res["v1"],
             f"{b['v1']:,}"),
        line("**wire2 v2** (Haar bands, codebook per (channel, band), 1-6 bits; the stored "
             "format)", res["v2"], f"{b['v2']:,}"),
        line(f"wire2 v2 with {FAST_ITERATIONS} Lloyd steps instead of 12", res["v2_fast"],
             f"{b['v2_fast']:,}"),
        line("bfloat16 encoder, then wire2 v2", res["bf16_v2"], f"{b['v2']:,}"),
        "",
        f"Bytes are the largest of the pack's images, header and tables included (v2 spends the "
        f"budget to within one bit plane: at most {wire2.MAX_BYTES:,}).",
        "",
        "| per image (median) | time | against |",
        "| --- | --- | --- |",
        f"| encode v1 (numpy, one core) | {s['v1']:.2f} s | 1.00x |",
        f"| encode v2, 12 Lloyd steps (the default) | {s['v2']:.2f} s | {s['v2'] / s['v1']:.2f}x "
        "encode v1 |",
        f"| encode v2, {FAST_ITERATIONS} Lloyd steps | {s['v2_fast']:.2f} s | "
        f"{s['v2_fast'] / s['v1']:.2f}x encode v1 |",
        f"| decode v2, numpy (`wire2.decode_features`) | {1000 * s['numpy_decode']:.0f} ms | "
        "1.00x |",
        f"| decode v2, the page's `wire2.js` in node (after its first run) | "
        f"{res['node_decode_ms']:.0f} ms | "
        f"{res['node_decode_ms'] / (1000 * s['numpy_decode']):.2f}x numpy |",
    ]  # fmt: skip
    if "browser" in res:
        br = res["browser"]
        lines += [
            f"| decode v2 in the page's worker, Chromium {br['name']} ({br['n']} embeds) | "
            f"{br['decode_ms']:.0f} ms | {br['decode_ms'] / br['embed_ms']:.2f}x of the "
            f"worker's whole embed ({br['embed_ms']:.0f} ms: decode + `prepare.onnx`, wasm, "
            f"{br['threads']} threads) |",
        ]
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "sam2_precision")
    parser.add_argument("--browser", action="store_true", help="also time the page's worker")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    res = run(args.out, args.browser)
    print(json.dumps(res, indent=2))
    flags = (" --browser" if args.browser else "") + " --write-results"
    text = markdown(res, f".venv/bin/python -m bench.sam2_precision{flags}")
    print(text)
    if args.write_results:
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
