"""Text prompts on CPU, float32: seconds per image for each path, tiny and full-size configs.

    .venv-text/bin/python bench/text_prompts.py [--sizes tiny full] [--repeats 2] [--write]

(`.venv-text`, built by `make test-text`: the main venv has no transformers.)

Paths: SAM 3 (``Sam3Segmenter``: masks straight from the model), OWLv2 + SAM and Grounding DINO
+ SAM (``DetectorThenSam``: boxes, then one batched SAM decoder call). Weights are random (no
model can be downloaded here); "tiny" is the test suite's configuration, "full" every
architecture default (facebook/sam3, owlv2-base-patch16, grounding-dino-tiny sizes), with the
project's SAM ViT-B for the detector paths. The reference measured in the same run is the
project's SAM ViT-B image encoder (``SamPredictor.set_image``) on the same image: each path is
also given as a multiple of it. Two phrases per image; the detector paths keep their 8 best
boxes, so SAM's decoder does the same work in every run.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))

from annotator.autoannotate.run import read_rgb  # noqa: E402
from annotator.sam import MODEL_REGISTRY, SamPredictor, build_sam  # noqa: E402
from annotator.sam.build import construct_sam  # noqa: E402
from annotator.text.detector import DetectorThenSam  # noqa: E402
from annotator.text.sam3 import Sam3Segmenter  # noqa: E402
from tests.text.tiny_models import build_grounding_dino, build_owlv2, build_sam3  # noqa: E402

REFERENCE = Path(
    os.environ.get("SAM_REFERENCE_DIR", Path(__file__).parents[2] / "shared" / "reference")
)
PHRASES = ["cup", "red mug"]
BOXES = 8


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def params(model: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M"


def run_size(size: str, image: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    full = size == "full"
    torch.manual_seed(0)
    sam = (
        construct_sam(MODEL_REGISTRY["vit_b"], "vit_b").eval()
        if full
        else build_sam(REFERENCE / "sam_vit_small.pth", device="cpu")
    )
    predictor = SamPredictor(sam)
    ref_s, _ = timed(lambda: predictor.set_image(image), repeats)
    rows = [{"size": size, "path": "reference: project SAM image encoder", "params": params(sam),
             "seconds": ref_s, "ratio": 1.0, "found": "-"}]  # fmt: skip
    print(f"[{size}] SAM encoder {ref_s:.2f} s", flush=True)
    builders: list[tuple[str, Callable[[], Any]]] = [
        ("SAM 3", lambda: build_sam3(full=full)),
        ("OWLv2 + SAM", lambda: build_owlv2(full=full)),
        ("Grounding DINO + SAM", lambda: build_grounding_dino(full=full)),
    ]
    for name, build in builders:
        start = time.perf_counter()
        model, processor = build()
        built = time.perf_counter() - start
        seg: Any
        if name == "SAM 3":
            # Random weights score every query about 0.25: 0 keeps them all (the most masks
            # to resize), the worst case for the post-processing.
            seg = Sam3Segmenter(model, processor, score_threshold=0.0)
        else:
            kind = "owlv2" if name.startswith("OWL") else "grounding-dino"
            seg = DetectorThenSam(
                model, processor, kind=kind, sam_predictor=predictor, score_threshold=0.0,
                iou_threshold=None, max_det=BOXES,
            )  # fmt: skip
        seconds, instances = timed(lambda seg=seg: seg.segment(image, PHRASES), repeats)
        rows.append({"size": size, "path": name, "params": params(model), "seconds": seconds,
                     "ratio": seconds / ref_s, "found": len(instances)})  # fmt: skip
        print(f"[{size}] {name}: {seconds:.2f} s/image ({len(instances)} instances; "
              f"built in {built:.0f} s)", flush=True)  # fmt: skip
        del model, processor, seg
        gc.collect()
    return rows


def table(rows: list[dict[str, Any]], image: np.ndarray, repeats: int) -> str:
    h, w = image.shape[:2]
    lines = [
        f"Image {w}x{h} (the pack's chelsea.png), phrases {PHRASES}, median of {repeats}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads.",
        "",
        "| config | path | parameters | s / image | x SAM encoder | instances |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['path']} | {r['params']} | {r['seconds']:.2f} | "
            f"{r['ratio']:.2f}x | {r['found']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "full"], choices=["tiny", "full"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    image = read_rgb(REFERENCE / "chelsea.png")
    assert image is not None
    rows: list[dict[str, Any]] = []
    with torch.inference_mode():
        for size in args.sizes:
            rows += run_size(size, image, args.repeats)
    print()
    print(table(rows, image, args.repeats))


if __name__ == "__main__":
    main()
