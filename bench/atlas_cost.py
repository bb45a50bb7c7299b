"""Hover atlas cost on CPU against its grid: what a CPU worker's atlas task costs per image,
to choose SAM_ATLAS_GRID_CPU (and the thread count SAM_ATLAS_THREADS) from measurements.

    .venv/bin/python bench/atlas_cost.py                         # grids 8 12 16 24, 1 and 2 threads
    .venv/bin/python bench/atlas_cost.py --grids 16 32 --threads 1 --device cuda   # on a GPU

The pack's MobileSAM (random weights; SAM 1's mask decoder is the same size in every SAM 1
model, so the decoder cost per point is the one of ViT-B/L/H too) on one image: the image
encoder's time and every grid's atlas (`compute_atlases`: the decodes in batches of 64 points,
the resize to 128-pixel masks, dedup) in the same run, so the ratios hold on a busy machine
where the seconds do not. Also images per second when several images' points are decoded
together (the GPU path's batching), against one image at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotator.sam import SamPredictor, build_sam  # noqa: E402
from annotator.sam.atlas import compute_atlases, grid_shape  # noqa: E402
from export_onnx.atlas_format import encode_atlas  # noqa: E402

REFERENCE = Path(os.environ.get("SAM_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grids", type=int, nargs="+", default=[8, 12, 16, 24])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--image", default=str(REFERENCE / "chelsea.png"))
    parser.add_argument("--model", default="mobile_sam")
    parser.add_argument("--batch-images", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(f"load average at start: {os.getloadavg()}")
    model = build_sam(REFERENCE / f"{args.model}.pth", device=args.device)
    image = np.array(Image.open(args.image).convert("RGB"))
    size = image.shape[:2]
    predictor = SamPredictor(model)
    print(f"{args.model} on {Path(args.image).name} {size[1]}x{size[0]}, device {args.device}")
    print(
        "| threads | grid | cells | atlas s | s per cell | atlas / encoder | "
        "atlas / grid-16 atlas | bytes | unique masks |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        encoder_s, _ = timed(lambda: predictor.set_image(image))
        embedding = predictor.get_image_embedding()
        rows = []
        for grid in args.grids:
            seconds, out = timed(
                lambda g=grid, e=embedding: compute_atlases(model, e, [size], grid=g)
            )
            atlas = out[0]  # type: ignore[index]
            h, w = grid_shape(size, grid)
            data = encode_atlas(atlas, model_key=b"\0" * 16)
            rows.append((grid, h * w, seconds, len(data), len(atlas.masks)))
        base = {g: s for g, _, s, _, _ in rows}.get(16)
        for grid, cells, seconds, nbytes, unique in rows:
            rel = f"{seconds / base:.2f}x" if base else "-"
            print(
                f"| {threads} | {grid} | {cells} | {seconds:.1f} | {seconds / cells * 1000:.0f} ms | "
                f"{seconds / encoder_s:.1f}x | {rel} | {nbytes:,} | {unique} |",
                flush=True,
            )
        print(f"(encoder {encoder_s:.2f} s at {threads} thread(s))")
    # Several images' points in one series of decoder calls vs one image at a time.
    k, grid = args.batch_images, min(args.grids)
    stacked = embedding.expand(k, -1, -1, -1).contiguous()
    one_s, _ = timed(lambda: compute_atlases(model, embedding, [size], grid=grid))
    many_s, _ = timed(lambda: compute_atlases(model, stacked, [size] * k, grid=grid))
    print(
        f"batched: grid {grid}, {k} images together {k / many_s:.2f} images/s vs one at a time "
        f"{1 / one_s:.2f} images/s ({one_s * k / many_s:.2f}x), threads {args.threads[-1]}"
    )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
