"""Auto-annotation throughput on CPU: all boxes of an image in one SAM call vs one box at a time.

    .venv/bin/python bench/auto_annotate.py [--checkpoint PATH] [--boxes 16] [--repeats 3]

Both sides run in the same process on the same images, embeddings and boxes (MobileSAM-sized
random weights from the reference pack), and their masks are checked to be identical. Reported:
decoder time per image, end-to-end images/s (encoder + decoder + polygons, i.e. what
``auto_annotate`` does per image), and the batched/per-box ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: find bench.common

from annotator.autoannotate.run import read_rgb, yolo_seg_line  # noqa: E402
from annotator.sam import SamPredictor, build_sam  # noqa: E402
from annotator.sam.predictor import segment_boxes  # noqa: E402
from bench.common import REFERENCE  # noqa: E402


def random_boxes(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """(n, 4) XYXY boxes of 10-60% of the image side, as a detector would give."""
    size = rng.uniform(0.1, 0.6, (n, 2)) * [w, h]
    x0 = rng.uniform(0, 1, n) * (w - size[:, 0])
    y0 = rng.uniform(0, 1, n) * (h - size[:, 1])
    return np.stack([x0, y0, x0 + size[:, 0], y0 + size[:, 1]], axis=1).astype(np.float32)


def per_box(predictor: SamPredictor, boxes: np.ndarray) -> np.ndarray:
    return np.stack([predictor.predict(box=b, multimask_output=False)[0][0] for b in boxes])


def timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REFERENCE / "mobile_sam.pth"))
    parser.add_argument("--boxes", type=int, default=16, help="boxes per image")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = build_sam(args.checkpoint, device="cpu")
    predictor = SamPredictor(model)
    rng = np.random.default_rng(0)
    rows = []
    predictor.set_image(read_rgb(REFERENCE / "chelsea.png"))  # warm-up
    for name in ("chelsea.png", "rocket.png"):
        image = read_rgb(REFERENCE / name)
        assert image is not None
        h, w = image.shape[:2]
        boxes = random_boxes(rng, args.boxes, h, w)
        start = time.perf_counter()
        predictor.set_image(image)
        encode = time.perf_counter() - start
        batched_s, batched = timed(lambda b=boxes: segment_boxes(predictor, b), args.repeats)
        single_s, single = timed(lambda b=boxes: per_box(predictor, b), args.repeats)
        # Batched matmuls round differently from single ones, so a few pixels whose logit sits
        # at the threshold can flip; anything more would be a bug.
        differ = float(np.mean(batched != single))
        assert differ < 1e-3, f"batched and per-box masks differ on {differ:.2%} of pixels"
        start = time.perf_counter()
        for mask in batched:
            yolo_seg_line(0, mask)
        polygons = time.perf_counter() - start
        rows.append((name, encode, batched_s, single_s, polygons, differ))

    n = len(rows)
    encode = sum(r[1] for r in rows)
    batched = sum(r[2] for r in rows)
    single = sum(r[3] for r in rows)
    polygons = sum(r[4] for r in rows)
    print(
        f"checkpoint {Path(args.checkpoint).name}, {args.boxes} boxes/image, torch threads {torch.get_num_threads()}"
    )
    for name, enc, b, s, p, d in rows:
        print(
            f"  {name:12s} encode {enc:6.2f} s  decode batched {b:6.3f} s  per-box {s:6.3f} s"
            f"  polygons {p:5.3f} s  mask pixels differing {d:.4%}"
        )
    print(
        f"decoder per image:  batched {batched / n:.3f} s, per-box {single / n:.3f} s, ratio {single / batched:.2f}x"
    )
    e2e_b = n / (encode + batched + polygons)
    e2e_s = n / (encode + single + polygons)
    print(
        f"end to end images/s: batched {e2e_b:.3f}, per-box {e2e_s:.3f}, ratio {e2e_b / e2e_s:.2f}x"
    )


if __name__ == "__main__":
    main()
