"""Benchmark: what SAM 2.1's stored features cost in mask agreement, against float32 in the
same run: bfloat16 autocast of the encoder (the prompt path stays float32, as the workers and
the page run it), the wire format (`export_onnx.wire2`), and a candidate better quantisation
of the same budget (per-channel bit allocation).

The decode is the exported graphs (the fast path the page and the server predict run), over
every case of the SAM 2.1 parity pack (reference/sam2/), every candidate mask.

    .venv/bin/python -m bench.sam2_precision [--write-results]

Per-channel bit allocation: wire2 gives every channel of a tensor the same bits (4 for
image_embed and high_res_feats_1, 5 for high_res_feats_0). Channels differ in spread, so a
Lloyd-Max codebook leaves them different errors; greedily moving bits to the channels whose
error falls most per bit (3 to 6 bits; each tensor's error weighted by its own float32 energy,
so that no tensor's scale decides) lowers the total error at the same bytes. Only simulated
here (codes decoded in numpy): the wire layout, `unpack.onnx` and `sam2.js` would each need a
per-channel bits table to adopt it.
"""

from __future__ import annotations

import argparse
import heapq
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import ROOT
from bench.decoder.bench_sam2 import NAMES, PACK, PACK_MODEL, prepare_sam2, wire_quality
from export_onnx import wire2

BUDGET = 2_500_000  # bytes per image, the 2.5 MB
HEADER_AND_TABLES = wire2.HEADER_SIZE  # tables are counted per channel below
BITS = (3, 4, 5, 6)
SHAPES = {t.name: t.shape for t in wire2.TENSORS}


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


def channel_options(x: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """bits -> (per-channel squared error sums (C,), decoded (C, N)) of the codebook."""
    flat = x[0].reshape(x.shape[1], -1)
    out = {}
    for bits in BITS:
        table, codes = wire2._codebook(flat, bits)
        decoded = np.take_along_axis(table, codes.astype(np.int64), 1)
        out[bits] = (((decoded - flat) ** 2).sum(1), decoded)
    return out


def per_channel_allocation(
    f32: dict[str, np.ndarray], options: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]
) -> tuple[dict[str, np.ndarray], int]:
    """Greedy: start every channel at 3 bits, then give one more bit to the channel whose
    energy-normalised error falls most per byte, until the budget is spent."""
    bits = {n: np.full(SHAPES[n][0], BITS[0]) for n in NAMES}
    size = HEADER_AND_TABLES + sum(
        SHAPES[n][0] * (SHAPES[n][1] * SHAPES[n][2] * BITS[0] // 8 + 4 * 2 ** BITS[0] + 1)
        for n in NAMES
    )
    energy = {n: float((f32[n].astype(np.float64) ** 2).sum()) for n in NAMES}
    heap: list[tuple[float, str, int]] = []

    def push(n: str, c: int) -> None:
        b = int(bits[n][c])
        if b == BITS[-1]:
            return
        gain = (options[n][b][0][c] - options[n][b + 1][0][c]) / energy[n]
        cost = SHAPES[n][1] * SHAPES[n][2] / 8 + 4 * 2**b  # one more bit plane + table growth
        heapq.heappush(heap, (-gain / cost, n, c))

    for n in NAMES:
        for c in range(SHAPES[n][0]):
            push(n, c)
    while heap:
        _, n, c = heapq.heappop(heap)
        b = int(bits[n][c])
        cost = int(SHAPES[n][1] * SHAPES[n][2] // 8 + 4 * 2**b)
        if size + cost > BUDGET:
            continue
        bits[n][c] = b + 1
        size += cost
        push(n, c)
    decoded = {}
    for n in NAMES:
        rows = [options[n][int(b)][1][c] for c, b in enumerate(bits[n])]
        decoded[n] = np.stack(rows).reshape(1, *SHAPES[n]).astype(np.float32)
    return decoded, size


def haar(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (4, C, H/2, W/2): orthonormal 2x2 Haar bands LL, LH, HL, HH."""
    a, b = x[:, 0::2, 0::2], x[:, 0::2, 1::2]
    c, d = x[:, 1::2, 0::2], x[:, 1::2, 1::2]
    return np.stack([a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d]) / 2


def unhaar(bands: np.ndarray) -> np.ndarray:
    ll, lh, hl, hh = bands
    out = np.empty((ll.shape[0], ll.shape[1] * 2, ll.shape[2] * 2), ll.dtype)
    out[:, 0::2, 0::2] = (ll + lh + hl + hh) / 2
    out[:, 0::2, 1::2] = (ll - lh + hl - hh) / 2
    out[:, 1::2, 0::2] = (ll + lh - hl - hh) / 2
    out[:, 1::2, 1::2] = (ll - lh - hl + hh) / 2
    return out


def haar_allocation(f32: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """Each channel split into 2x2 Haar bands (spatial neighbours are correlated, so the
    energy gathers in LL), each (channel, band) its own codebook at 1 to 6 bits, chosen by the
    same greedy as `per_channel_allocation` (Haar is orthonormal: band errors add up to the
    map's). Simulated like it: the wire would carry bits per band and the graph an inverse
    Haar (four adds per output pixel)."""
    units: list[tuple[str, int, int, np.ndarray]] = []
    bands = {n: haar(f32[n][0].astype(np.float64)) for n in NAMES}
    for n in NAMES:
        for k in range(4):
            for c in range(SHAPES[n][0]):
                units.append((n, k, c, bands[n][k, c].reshape(-1)))
    energy = {n: float((f32[n].astype(np.float64) ** 2).sum()) for n in NAMES}
    levels = (1, 2, 3, 4, 5, 6)
    opts: list[dict[int, tuple[float, np.ndarray]]] = []
    for _, _, _, v in units:
        o = {}
        for b in levels:
            table, codes = wire2._codebook(v[None], b)
            dec = table[0][codes[0].astype(np.int64)]
            o[b] = (float(((dec - v) ** 2).sum()), dec.astype(np.float32))
        opts.append(o)
    bits = [levels[0]] * len(units)
    size = HEADER_AND_TABLES + sum(v.size * levels[0] // 8 + 4 * 2 + 1 for *_, v in units)
    heap: list[tuple[float, int]] = []

    def push(i: int) -> None:
        b = bits[i]
        if b == levels[-1]:
            return
        n, v = units[i][0], units[i][3]
        gain = (opts[i][b][0] - opts[i][b + 1][0]) / energy[n]
        heapq.heappush(heap, (-gain / (v.size / 8 + 4 * 2**b), i))

    for i in range(len(units)):
        push(i)
    while heap:
        _, i = heapq.heappop(heap)
        cost = int(units[i][3].size // 8 + 4 * 2 ** bits[i])
        if size + cost > BUDGET:
            continue
        bits[i] += 1
        size += cost
        push(i)
    decoded_bands = {n: np.zeros_like(bands[n]) for n in NAMES}
    for i, (n, k, c, _) in enumerate(units):
        decoded_bands[n][k, c] = opts[i][bits[i]][1].reshape(bands[n].shape[2:])
    out = {n: unhaar(decoded_bands[n])[None].astype(np.float32) for n in NAMES}
    return out, size


def run(out: Path) -> dict[str, Any]:
    from PIL import Image

    from annotator.sam2 import build_sam2

    export_dir, pack = prepare_sam2(out)
    data = out / "sam2_data"
    model = build_sam2(PACK / f"{PACK_MODEL}.pt")
    bf16: dict[str, dict[str, np.ndarray]] = {}
    bf16_wire: dict[str, dict[str, np.ndarray]] = {}
    allocated: dict[str, dict[str, np.ndarray]] = {}
    haared: dict[str, dict[str, np.ndarray]] = {}
    sizes, haar_sizes = {}, {}
    for img in pack:
        image = np.array(Image.open(PACK / f"{img}.png").convert("RGB"))
        bf16[img] = bf16_features(model, image)
        bf16_wire[img] = wire2.decode_features(wire2.encode_features(bf16[img]))
        f32 = dict(np.load(data / f"{img}_f32.npz"))
        options = {n: channel_options(f32[n]) for n in NAMES}
        allocated[img], sizes[img] = per_channel_allocation(f32, options)
        haared[img], haar_sizes[img] = haar_allocation(f32)
    return {
        "wire_bytes": wire2.TOTAL_BYTES,
        "wire": wire_quality(export_dir, data, pack),
        "bf16": wire_quality(export_dir, data, pack, bf16),
        "bf16_wire": wire_quality(export_dir, data, pack, bf16_wire),
        "per_channel": wire_quality(export_dir, data, pack, allocated),
        "per_channel_bytes": max(sizes.values()),
        "haar": wire_quality(export_dir, data, pack, haared),
        "haar_bytes": max(haar_sizes.values()),
    }


def markdown(res: dict[str, Any], command: str) -> str:
    def line(name: str, q: dict[str, float], size: str) -> str:
        return f"| {name} | {size} | {q['mean_iou']:.4f} | {q['min_iou']:.4f} | {q['n']} |"

    return "\n".join([
        "## SAM 2.1 feature precision: bfloat16 and the wire format against float32",
        "",
        f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on this shared CPU "
        "machine: the pack's sam2.1_hiera_mini (random weights), every pack case and candidate "
        "mask, decoded by the exported graphs; IoU of each mask with the one from float32 "
        "features computed in the same run.",
        "",
        "| features | bytes per image | mean IoU | min IoU | masks |",
        "| --- | --- | --- | --- | --- |",
        line("bfloat16 autocast encoder (CPU), float32 prompt path", res["bf16"], "16,777,216"),
        line("wire2 (codebooks 4/5/4, the stored format)", res["wire"], f"{res['wire_bytes']:,}"),
        line("bfloat16 encoder, then wire2", res["bf16_wire"], f"{res['wire_bytes']:,}"),
        line("per-channel bit allocation (3-6 bits, simulated)", res["per_channel"],
             f"{res['per_channel_bytes']:,}"),
        line("2x2 Haar bands, per-band bit allocation (1-6 bits, simulated)", res["haar"],
             f"{res['haar_bytes']:,}"),
        "",
        "bfloat16 is what an encoder under `torch.autocast(bfloat16)` costs before any wire "
        "format; the workers do not offer it (they run float32). The per-channel allocation is "
        "`bench/sam2_precision.py`'s simulation, not the wire format; see its docstring.",
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "sam2_precision")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    res = run(args.out)
    print(json.dumps(res, indent=2))
    text = markdown(res, "python -m bench.sam2_precision --write-results")
    print(text)
    if args.write_results:
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
